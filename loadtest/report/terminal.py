"""The summary table printed at the end of a run: the figures a person looks at first."""

from __future__ import annotations

from typing import Any

_COMMON = ("connections", "latency_ms", "reply_ms", "requests", "sequence", "loss",
           "throughput", "server", "valkey", "generator")


def _n(x: Any, unit: str = "", digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}{unit}"
    if isinstance(x, int):
        return f"{x:,}{unit}"
    return f"{x}{unit}"


def _lat(s: dict[str, Any]) -> str:
    if not s or not s.get("count"):
        return "no samples"
    return (f"p50 {_n(s.get('p50'))}  p90 {_n(s.get('p90'))}  p99 {_n(s.get('p99'))}  "
            f"max {_n(s.get('max'))}  (n={_n(s.get('count'))})")


def _flat(d: dict[str, Any]) -> str:
    parts = []
    for k, v in d.items():
        if isinstance(v, dict):
            if v:
                parts.append(f"{k}={{{', '.join(f'{a}: {b}' for a, b in v.items())}}}")
        elif isinstance(v, list):
            parts.append(f"{k}={v[:5]}")
        else:
            parts.append(f"{k}={_n(v, digits=3) if isinstance(v, float) else _n(v)}")
    return "  ".join(parts)


def summary_table(report: dict[str, Any]) -> str:
    m = report.get("meta", {})
    f = report.get("figures", {})
    c = f.get("connections", {})
    t = f.get("throughput", {})
    s = f.get("server", {})
    v = f.get("valkey", {})
    g = f.get("generator", {})
    lo = f.get("loss", {})
    sq = f.get("sequence", {})
    rows: list[tuple[str, str]] = [
        ("run", f"{m.get('server_kind')}:{m.get('scenario')}  {m.get('viewers')} viewers  "
                f"{m.get('duration_s')} s  ramp {m.get('ramp_per_s')}/s  "
                f"{m.get('generator_procs')} generator procs  tick {m.get('tick_ms')} ms  "
                f"{m.get('date')}"),
        ("connections", f"joined {_n(c.get('joined'))}/{_n(c.get('attempts'))}  "
                        f"failed {_n(c.get('failed'))} {c.get('fail_reasons') or ''}  "
                        f"closes {c.get('closes') or {}}  slow-consumer 4008: "
                        f"{_n(c.get('slow_consumer_closes'))}"),
        ("connect ms", _lat(c.get("connect_ms", {}))),
        ("latency ms", _lat(f.get("latency_ms", {}))),
        ("throughput", f"{_n(t.get('deliveries'))} deliveries ({t.get('delivery_kind')}) in "
                       f"{_n(t.get('window_s'))} s = {_n(t.get('deliveries_per_s'))}/s  "
                       f"frames {_n(t.get('frames_per_s'))}/s  "
                       f"{_n(t.get('mbytes_per_s'), digits=2)} MB/s"),
        ("loss", f"accepted {_n(lo.get('accepted_messages'))}  lost {_n(lo.get('lost'))}  "
                 f"dup {_n(lo.get('duplicated'))}  seq gaps {_n(sq.get('gaps'))}  "
                 f"tracers {_n(lo.get('tracers_checked'))} (+{_n(lo.get('tracers_disconnected'))} "
                 f"dropped)"),
        ("server", f"CPU {_n(s.get('cpu_pct'), '%')} = "
                   f"{_n(s.get('cpu_ms_per_1k_deliveries'), digits=3)} ms per 1k deliveries  "
                   f"RSS idle {_n(s.get('rss_idle_mb'))} MB -> {_n(s.get('rss_connected_mb'))} MB"
                   f" = {_n(s.get('mem_per_viewer_bytes'))} B/viewer  [{s.get('source')}]"),
        ("valkey", f"CPU {_n(v.get('cpu_pct'), '%')} = "
                   f"{_n(v.get('cpu_ms_per_1k_deliveries'), digits=3)} ms per 1k  "
                   f"RSS {_n(v.get('rss_mb'))} MB  [{v.get('source')}]"),
        ("generator", f"CPU {_n(g.get('cpu_s'))} s = {_n(g.get('cpu_pct_of_one_core'), '%')} of "
                      f"one core over {_n(g.get('elapsed_s'))} s ({g.get('processes')} processes)"),
    ]
    for key, val in f.items():
        if key not in _COMMON and isinstance(val, dict):
            rows.append((key, _flat(val)))
    width = max(len(k) for k, _ in rows)
    lines = [f"  {k:<{width}}  {val}" for k, val in rows]
    checks = report.get("checks") or []
    if checks:
        lines.append("  checks:")
        for ch in checks:
            lines.append(f"    [{'PASS' if ch['ok'] else 'FAIL'}] {ch['name']}: {ch['detail']}")
    if report.get("error"):
        lines.append(f"  ERROR: {report['error']}")
    return "\n".join(lines)
