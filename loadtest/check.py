"""`check`: run the standard set from budgets.toml, say which targets hold, record the figures.

Why a file of budgets: the targets are part of the project, reviewed like code; this command
turns them into a yes/no per target with the measured figure next to it, and appends every run
to RESULTS.md (date, machine, exact command, figures) so the history of the numbers is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadtest import floor
from loadtest.compare import compare, dig, format_ratios, ratios
from loadtest.figures import machine
from loadtest.options import build_parser, options_from
from loadtest.report import out_dir, summary_table, write_all, write_json
from loadtest.runner import execute

Verdict = tuple[str, float | bool | None, Any, bool]


def _check_named(report: dict[str, Any], name: str) -> bool:
    return any(c["name"] == name and c["ok"] for c in report.get("checks", []))


def _lost(report: dict[str, Any]) -> float | None:
    f = report.get("figures", {})
    loss, seq = f.get("loss", {}), f.get("sequence", {})
    if not loss:
        return None
    return float(loss.get("lost", 0) + loss.get("duplicated", 0) + seq.get("gaps", 0))


def _mem(report: dict[str, Any]) -> float | None:
    server = report.get("figures", {}).get("server", {})
    per = [p.get("bytes_per_viewer") for p in (server.get("by_process") or {}).values()]
    per = [p for p in per if isinstance(p, int | float)]
    if per:
        return float(max(per))
    v = server.get("mem_per_viewer_bytes")
    return float(v) if isinstance(v, int | float) else None


def _reply_p99(report: dict[str, Any]) -> float | None:
    """The p99 of every answer to the rush's requests (winners and losers): flash-sale buys or
    red-packet grabs."""
    figures = report.get("figures", {})
    for name in ("flash_sale", "red_packet_storm"):
        got = (figures.get(name) or {}).get("reply_ms_p99")
        if isinstance(got, int | float):
            return float(got)
    return None


def evaluate(targets: dict[str, Any], ours: dict[str, Any],
             peer: dict[str, Any] | None) -> list[Verdict]:
    """(target, limit, measured, holds) per target."""
    out: list[Verdict] = []

    def le(name: str, limit: float, got: float | None) -> None:
        out.append((name, limit, got, got is not None and got <= limit))

    def ge(name: str, limit: float, got: float | None) -> None:
        out.append((name, limit, got, got is not None and got >= limit))

    rules: dict[str, Callable[[Any], None]] = {
        "cpu_ratio_max": lambda v: le(
            "server CPU per 1k deliveries / peer's", float(v),
            (ratios([ours], [peer])[0]["ratio"] if peer else None)),
        "p99_ms_max": lambda v: le("latency p99 ms", float(v), dig(ours, ("latency_ms", "p99"))),
        "lost_max": lambda v: le("lost + duplicated + seq gaps", float(v), _lost(ours)),
        "mem_per_viewer_max": lambda v: le("server bytes per idle viewer", float(v), _mem(ours)),
        "all_in_s_max": lambda v: le("seconds until all in", float(v),
                                     dig(ours, ("join", "time_until_all_in_s"))),
        "failures_max": lambda v: le("failed connections", float(v),
                                     dig(ours, ("connections", "failed"))),
        "hearts_per_s_min": lambda v: ge("hearts accepted per s", float(v),
                                         dig(ours, ("hearts", "accepted_per_s"))),
        "viewers_per_core_min": lambda v: ge(
            "WebRTC viewers per server core", float(v),
            dig(ours, ("webrtc", "viewers_per_core"))),
        "late_join_ms_max": lambda v: le(
            "late joiner's first keyframe, worst ms", float(v),
            dig(ours, ("webrtc", "late_joiner_worst_ms"))),
        "reply_p99_ms_max": lambda v: le("answer p99 ms (every buy or grab)", float(v),
                                         _reply_p99(ours)),
        "checks_pass": lambda v: out.append(
            ("the run's own checks", bool(v), all(c["ok"] for c in ours.get("checks", [])),
             all(c["ok"] for c in ours.get("checks", [])) == bool(v))),
        "exact_totals": lambda v: out.append(
            ("room heart total exact", bool(v), _check_named(ours, "room total exact"),
             _check_named(ours, "room total exact") == bool(v))),
    }
    for key, value in targets.items():
        rule = rules.get(key)
        if rule is None:
            out.append((f"unknown target {key}", value, None, False))
        else:
            rule(value)
    if ours.get("error"):
        out.append(("run completed", True, ours["error"], False))
    return out


def command_for(entry: dict[str, Any]) -> list[str]:
    base = ["compare"] if entry.get("mode") == "compare" else []
    return [*base, entry["scenario"], "--spawn-server", *entry.get("args", [])]


async def run_entry(entry: dict[str, Any], out: Path, quiet: bool) -> dict[str, Any]:
    argv = [*command_for(entry), "--out", str(out), "--label", entry["name"]]
    if quiet:
        argv.append("--quiet")
    ns = build_parser().parse_args(argv)
    if entry.get("mode") == "compare":
        res = await compare(ns)
        ours, peer = res["ours"][0], res["peer"][0]
    else:
        ours, peer = await execute(options_from(ns)), None
    for rep in (ours, peer):
        if rep is not None:
            paths = write_all(rep, out)
            rep.setdefault("meta", {})["report_files"] = {k: str(v) for k, v in paths.items()}
    return {"entry": entry, "argv": argv, "command": command_for(entry), "ours": ours, "peer": peer,
            "verdicts": evaluate(entry.get("targets", {}), ours, peer)}


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:,.4g}" if abs(x) < 1 else f"{x:,.1f}"
    return str(x)


def format_result(res: dict[str, Any]) -> str:
    lines = [f"== {res['entry']['name']}: python -m loadtest {shlex.join(res['command'])}"]
    for name, limit, got, ok in res["verdicts"]:
        lines.append(f"  [{'HOLDS' if ok else 'FAILS'}] {name}: {_fmt(got)} (target {_fmt(limit)})")
    if res.get("floor"):
        lines.append(f"  [note] {res['floor']}")
    return "\n".join(lines)


def results_markdown(results: list[dict[str, Any]], started: float) -> str:
    m = machine()
    lines = [
        f"\n## {time.strftime('%Y-%m-%d %H:%M %z', time.localtime(started))} — `check`",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, "
        f"{m['platform']}. Generator on the same machine.",
        "",
    ]
    for res in results:
        ours, peer = res["ours"], res["peer"]
        lines.append(f"### {res['entry']['name']}")
        lines.append("")
        lines.append(f"`python -m loadtest {shlex.join(res['command'])}`")
        lines.append("")
        lines.append("| target | measured | limit | holds |")
        lines.append("| --- | --- | --- | --- |")
        for name, limit, got, ok in res["verdicts"]:
            lines.append(f"| {name} | {_fmt(got)} | {_fmt(limit)} | {'yes' if ok else '**no**'} |")
        lines.append("")
        if res.get("floor"):
            lines.append(f"Note: {res['floor']} (`python -m loadtest write-floor`).")
            lines.append("")
        lines.append("```")
        lines.append(summary_table(ours))
        if peer is not None:
            lines.append("")
            lines.append(summary_table(peer))
            lines.append("")
            lines.append(format_ratios(ratios([ours], [peer])))
        lines.append("```")
        lines.append("")
    return "\n".join(lines)


def run_check(ns: argparse.Namespace) -> int:
    budgets = tomllib.loads(Path(ns.budgets).read_text())
    entries = [e for e in budgets.get("run", []) if not ns.only or e["name"] in ns.only]
    started = time.time()
    per_write_us = None
    if any("cpu_ratio_max" in e.get("targets", {}) for e in entries):
        # what one fan-out write costs here, so a CPU ratio can be read against its floor
        per_write_us = float(floor.measure()["cpu_us_per_write"])
        print(f"write floor: {per_write_us:.2f} us of CPU per loopback write", flush=True)
    results = []
    for entry in entries:
        res = asyncio.run(run_entry(entry, ns.out, ns.quiet))
        if per_write_us is not None and res["peer"] is not None:
            res["floor"] = floor.floor_note(per_write_us, res["ours"], res["peer"])
        print(format_result(res), flush=True)
        results.append(res)
    d = out_dir(ns.out, {"meta": {"server_kind": "check", "scenario": "standard-set"}})
    rows = [{k: v for k, v in r.items() if k != "entry"} | {"name": r["entry"]["name"]}
            for r in results]
    write_json({"results": rows}, d / "check.json")
    print("\nsummary:")
    for res in results:
        ok = all(v[3] for v in res["verdicts"])
        print(f"  {'HOLDS' if ok else 'FAILS'}  {res['entry']['name']}")
    if not ns.no_record:
        path = Path(ns.results)
        if not path.exists():
            path.write_text("# Load-test results\n")
        with path.open("a") as fh:
            fh.write(results_markdown(results, started))
        print(f"  recorded in {path}")
    return 0 if all(v[3] for r in results for v in r["verdicts"]) else 1
