"""Every error code lives in live_server/errors.py, and docs/PROTOCOL.md's table says exactly
those codes with their HTTP statuses."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from live_server import errors

ROOT = Path(__file__).resolve().parents[2]


def documented_codes() -> dict[str, int]:
    text = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    section = text.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", section, flags=re.MULTILINE)
    assert rows, "no error-code table in docs/PROTOCOL.md"
    return {code: int(status) for code, status in rows}


def test_protocol_table_equals_the_codes_in_errors_py() -> None:
    assert documented_codes() == errors.codes()


def _code_literals(path: Path) -> list[str]:
    """``code="..."`` keyword arguments and ``code = "..."`` class attributes in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.keyword) and node.arg == "code" and isinstance(
                node.value, ast.Constant) and isinstance(node.value.value, str):
            found.append(f"{path.name}:{node.value.lineno} code={node.value.value!r}")
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and any(
                isinstance(t, ast.Name) and t.id == "code" for t in node.targets) and isinstance(
                node.value.value, str):
            found.append(f"{path.name}:{node.lineno} code = {node.value.value!r}")
    return found


def test_no_error_code_is_spelled_out_outside_errors_py() -> None:
    sources = [p for d in ("live_server", "loadtest") for p in (ROOT / d).rglob("*.py")]
    found = [hit for p in sources if p != ROOT / "live_server" / "errors.py"
             for hit in _code_literals(p)]
    assert found == []


def test_every_code_has_one_status_and_families_are_not_raised() -> None:
    assert errors.codes()["not_open"] == 409 and errors.codes()["insufficient_funds"] == 402
    assert "conflict" not in errors.codes()  # Conflict and GrabRefused only group codes
    assert set(errors.GRAB_REFUSALS) == {"not_open", "expired", "none_left", "already_grabbed",
                                         "not_eligible"}
    err = errors.NotOpen("not yet", open_at=5)
    assert err.to_dict() == {"code": "not_open", "message": "not yet", "open_at": 5}
    assert (errors.WrongMethod().status, errors.WrongMethod().code) == (405, "bad_request")
    assert (errors.GuestsMustLogIn().status, errors.GuestsMustLogIn().code) == (
        401, "guests_not_allowed")
