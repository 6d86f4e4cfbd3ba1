"""Reports of a run: a summary table for the terminal, a JSON file, a self-contained HTML page.

Why three: the table is for the person at the terminal, the JSON for machines (`check`,
`compare`, later runs), and the HTML — charts with the plotting library inlined, no server
needed — for looking at the timeline of a run afterwards.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from loadtest.report.terminal import summary_table


def out_dir(base: Path, report: dict[str, Any]) -> Path:
    """`base/<kind>-<scenario>-<timestamp>[-label]`, created."""
    meta = report.get("meta", {})
    stamp = time.strftime("%Y%m%d-%H%M%S")
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(meta.get("label") or "")).strip("-")
    name = f"{meta.get('server_kind', 'live')}-{meta.get('scenario', 'run')}-{stamp}"
    if label:
        name = f"{name}-{label}"
    path = base / name
    n = 1
    while path.exists():
        n += 1
        path = base / f"{name}-{n}"
    path.mkdir(parents=True)
    return path


def write_json(report: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(report, indent=2, sort_keys=False, default=str))
    return path


def write_all(report: dict[str, Any], base: Path, *, html: bool = True) -> dict[str, Path]:
    """Write report.json (and report.html) into a new directory under `base`."""
    d = out_dir(base, report)
    paths = {"json": write_json(report, d / "report.json")}
    if html:
        from loadtest.report.html import write_html

        paths["html"] = write_html([report], d / "report.html")
    return paths


__all__ = ["out_dir", "summary_table", "write_all", "write_json"]
