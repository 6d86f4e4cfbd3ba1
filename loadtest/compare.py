"""`compare SCENARIO`: our server and the Socket.IO peer, alternately, under the same generator.

Why alternately in one run: the machine's state (other load, CPU frequency, caches) drifts; by
running ours, then the peer, with the same generator, options and viewers — and averaging over
`--rounds` — the ratios compare like with like. Both servers are started by the generator
(each with its own Valkey), so CPU and memory are read from their pids.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import math
from typing import Any

from loadtest.options import options_from
from loadtest.report import out_dir, summary_table, write_json
from loadtest.report.html import write_html
from loadtest.runner import execute, run_and_report
from loadtest.scenarios import load_all

#: (label, path into the figures) of every figure compared
METRICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("server CPU ms per 1k deliveries", ("server", "cpu_ms_per_1k_deliveries")),
    ("latency p99 ms", ("latency_ms", "p99")),
    ("latency p50 ms", ("latency_ms", "p50")),
    ("server memory per viewer (B)", ("server", "mem_per_viewer_bytes")),
    ("lost messages", ("loss", "lost")),
    ("deliveries per s", ("throughput", "deliveries_per_s")),
    ("connect p99 ms", ("connections", "connect_ms", "p99")),
    ("valkey CPU ms per 1k deliveries", ("valkey", "cpu_ms_per_1k_deliveries")),
)


def dig(report: dict[str, Any], path: tuple[str, ...]) -> float | None:
    cur: Any = report.get("figures", {})
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return float(cur) if isinstance(cur, int | float) and not isinstance(cur, bool) else None


def mean(values: list[float | None]) -> float | None:
    xs = [v for v in values if v is not None and not math.isnan(v)]
    return sum(xs) / len(xs) if xs else None


def ratios(ours: list[dict[str, Any]], peer: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per metric: our mean, the peer's mean, ours/peer."""
    rows = []
    for label, path in METRICS:
        a = mean([dig(r, path) for r in ours])
        b = mean([dig(r, path) for r in peer])
        ratio = (a / b) if a is not None and b not in (None, 0.0) else None
        rows.append({"metric": label, "ours": a, "peer": b, "ratio": ratio})
    return rows


def format_ratios(rows: list[dict[str, Any]]) -> str:
    def f(x: float | None, d: int = 2) -> str:
        return "-" if x is None else f"{x:,.{d}f}"

    out = [f"  {'metric':<34} {'ours':>14} {'peer':>14} {'ours/peer':>10}"]
    for r in rows:
        extra = ""
        if r["ratio"] not in (None, 0.0) and r["metric"].startswith("server CPU"):
            extra = f"   (peer costs {1 / r['ratio']:.1f}x)"
        out.append(
            f"  {r['metric']:<34} {f(r['ours']):>14} {f(r['peer']):>14} "
            f"{f(r['ratio'], 4):>10}{extra}"
        )
    return "\n".join(out)


async def compare(ns: argparse.Namespace) -> dict[str, Any]:
    """Run the rounds; returns {"ours": [...], "peer": [...], "ratios": [...]}."""
    ours: list[dict[str, Any]] = []
    peer: list[dict[str, Any]] = []
    for r in range(max(1, int(getattr(ns, "rounds", 1)))):
        for kind, bucket in (("live", ours), ("sio", peer)):
            sub = copy.copy(ns)
            sub.kind = kind
            sub.spawn_server = True
            sub.label = f"{ns.label or 'compare'}-r{r + 1}"
            bucket.append(await execute(options_from(sub)))
    return {"ours": ours, "peer": peer, "ratios": ratios(ours, peer)}


def run_compare(ns: argparse.Namespace) -> int:
    if getattr(load_all()[ns.scenario], "own_peer", False):
        # The scenario starts its own peer (webrtc: aiortc MediaRelay) within one run.
        ns.peer, ns.spawn_server = True, True
        return run_and_report(options_from(ns))
    result = asyncio.run(compare(ns))
    for rep in result["ours"] + result["peer"]:
        print(summary_table(rep))
        print()
    print(format_ratios(result["ratios"]))
    base = {"meta": {"server_kind": "compare", "scenario": ns.scenario, "label": ns.label}}
    d = out_dir(ns.out, base)
    write_json(result, d / "compare.json")
    table = "<pre>" + format_ratios(result["ratios"]).replace("<", "&lt;") + "</pre>"
    if not ns.no_html:
        write_html(result["ours"] + result["peer"], d / "compare.html",
                   title=f"compare {ns.scenario}: ours vs Socket.IO peer", extra_html=table)
    print(f"  json: {d / 'compare.json'}")
    errors = [r.get("error") for r in result["ours"] + result["peer"] if r.get("error")]
    return 2 if errors else 0


__all__ = ["compare", "format_ratios", "ratios", "run_compare"]
