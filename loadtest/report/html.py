"""The self-contained HTML report: charts of the timeline, the summary and the checks.

Why plotly: a well-kept charting library whose Python package writes the chart JavaScript inline,
so the page opens from disk in any browser with no server and no network. One page can hold
several runs (ours and the peer in `compare`), drawn as separate series on the same charts.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from loadtest.report.terminal import summary_table
from loadtest.untyped import load

go = load("plotly.graph_objects")
make_subplots = load("plotly.subplots").make_subplots

PANELS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Chat latency (ms, per second)", (("latency_p50_ms", "p50"), ("latency_p99_ms", "p99"),
                                       ("latency_max_ms", "max"))),
    ("Throughput (per second)", (("deliveries_per_s", "deliveries"), ("frames_per_s", "frames"),
                                 ("sent_per_s", "requests sent"))),
    ("Connections", (("connected", "connected"), ("failed", "failed (total)"),
                     ("slow_consumer_closes", "4008 closes (total)"))),
    ("CPU (% of one core)", (("server_cpu_pct", "server"), ("valkey_cpu_pct", "valkey"),
                             ("gen_cpu_pct", "generator"))),
    ("Memory (MB RSS)", (("server_rss_mb", "server"), ("valkey_rss_mb", "valkey"))),
)


def _name(report: dict[str, Any]) -> str:
    m = report.get("meta", {})
    label = f" {m['label']}" if m.get("label") else ""
    return f"{m.get('server_kind', '?')}:{m.get('scenario', '?')}{label}"


def build_figure(reports: list[dict[str, Any]]) -> Any:
    fig = make_subplots(rows=len(PANELS), cols=1, shared_xaxes=False,
                        subplot_titles=[p[0] for p in PANELS], vertical_spacing=0.06)
    for r in reports:
        rows = r.get("timeline") or []
        xs = [row.get("t") for row in rows]
        for i, (_title, series) in enumerate(PANELS, start=1):
            for key, label in series:
                ys = [row.get(key) for row in rows]
                if not any(y for y in ys):
                    continue
                fig.add_trace(
                    go.Scatter(x=xs, y=ys, mode="lines", name=f"{_name(r)} {label}",
                               legendgroup=_name(r), hovertemplate="%{y} at %{x}s"),
                    row=i, col=1,
                )
            fig.update_xaxes(title_text="seconds since start", row=i, col=1)
    fig.update_layout(height=320 * len(PANELS), template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 40, "b": 40})
    return fig


def _checks_html(report: dict[str, Any]) -> str:
    items = []
    for ch in report.get("checks") or []:
        colour = "#1a7f37" if ch["ok"] else "#cf222e"
        items.append(
            f'<li><b style="color:{colour}">{"PASS" if ch["ok"] else "FAIL"}</b> '
            f'{html.escape(ch["name"])}: {html.escape(str(ch["detail"]))}</li>'
        )
    return "<ul>" + "".join(items) + "</ul>" if items else ""


def render(reports: list[dict[str, Any]], title: str = "Load test report",
           extra_html: str = "") -> str:
    fig = build_figure(reports)
    chart = fig.to_html(full_html=False, include_plotlyjs=True)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:24px;max-width:1400px}"
        "pre{background:#f6f8fa;padding:12px;overflow-x:auto;font-size:12px}"
        "details{margin:8px 0}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        extra_html,
    ]
    for r in reports:
        parts.append(f"<h2>{html.escape(_name(r))}</h2>")
        parts.append(f"<pre>{html.escape(summary_table(r))}</pre>")
        parts.append(_checks_html(r))
        figs = json.dumps(r.get("figures", {}), indent=2, default=str)
        parts.append(f"<details><summary>all figures (JSON)</summary><pre>{html.escape(figs)}"
                     "</pre></details>")
    parts.append(chart)
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(reports: list[dict[str, Any]], path: Path, title: str = "Load test report",
               extra_html: str = "") -> Path:
    path.write_text(render(reports, title, extra_html), encoding="utf-8")
    return path
