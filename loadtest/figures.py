"""The figures every run reports, computed the same way for every scenario.

Definitions (README.md repeats them for readers of the report):
- *delivery*: one event of the scenario's kind (chat message, room event, or frame) arriving at
  one simulated viewer, counted by the viewer itself.
- *server CPU per 1,000 deliveries*: user+system CPU seconds of every server process between
  the marks `measure_start` and `measure_end`, divided by the deliveries between the same marks,
  times 1,000 (reported in CPU milliseconds).
- *server memory per viewer*: RSS of the server processes at mark `connected` minus RSS at mark
  `idle` (before any viewer connected), over the viewers connected at `connected`.
- *lost*: chat messages the server accepted (a reply with a `seq`) that a tracer connected the
  whole time did not receive; *duplicated*: messages a tracer received more than once.
"""

from __future__ import annotations

import platform
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

from loadtest.aggregate import merge_tallies, sub
from loadtest.probes import Sample, cpu_delta
from loadtest.stats import Histogram
from loadtest.untyped import load

psutil = load("psutil")

if TYPE_CHECKING:
    from loadtest.run import Run


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "host": socket.gethostname(),
        "cpu": cpu,
        "cores": psutil.cpu_count(logical=True),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def loss_figures(finals: list[dict[str, Any]]) -> dict[str, Any]:
    """Lost and duplicated chat messages, as seen by tracers connected until the end."""
    accepted: set[int] = set()
    for f in finals:
        accepted.update(f.get("accepted_chat_seqs") or [])
    lost = dups = received = 0
    checked = dropped = 0
    worst: list[int] = []
    for f in finals:
        for tr in f.get("tracers") or []:
            seqs = tr.get("seqs") or []
            if not tr.get("open"):
                dropped += 1
                continue
            checked += 1
            got = set(seqs)
            received += len(seqs)
            dups += len(seqs) - len(got)
            # Messages accepted before this tracer joined (welcome seq) are not owed to it.
            since = tr.get("welcome_seq")
            owed = {s for s in accepted if not isinstance(since, int) or s > since}
            missing = owed - got
            lost += len(missing)
            if missing and len(worst) < 10:
                worst.extend(sorted(missing)[: 10 - len(worst)])
    return {
        "accepted_messages": len(accepted),
        "tracers_checked": checked,
        "tracers_disconnected": dropped,
        "tracer_receipts": received,
        "lost": lost,
        "duplicated": dups,
        "lost_examples": worst,
    }


def _window(run: Run) -> tuple[str, str] | None:
    if "measure_start" in run.marks and "measure_end" in run.marks:
        return "measure_start", "measure_end"
    return None


def _proc_cpu(a: Sample, b: Sample) -> dict[str, float]:
    return {k: round(b.cpu[k] - a.cpu[k], 3) for k in b.cpu if k in a.cpu}


def common_figures(run: Run, gen_start: Sample, gen_end: Sample, started: float) -> dict[str, Any]:
    final = merge_tallies([f["tally"] for f in run.finals]) if run.finals else run.tally()
    kind = run.scenario.deliveries
    figs: dict[str, Any] = {}
    closes = {str(k): v for k, v in (final.get("closes") or {}).items()}
    figs["connections"] = {
        "attempts": final.get("attempts", 0),
        "joined": final.get("joined", 0),
        "failed": final.get("failed", 0),
        "fail_reasons": final.get("fail_reasons", {}),
        "closes": closes,
        "slow_consumer_closes": int(closes.get("4008", 0)),
        "protocol_errors": final.get("protocol_errors", 0),
        "connect_ms": Histogram.from_wire(final.get("connect_ms") or {}).summary(),
    }
    figs["latency_ms"] = Histogram.from_wire(final.get("chat_ms") or {}).summary()
    figs["reply_ms"] = Histogram.from_wire(final.get("reply_ms") or {}).summary()
    figs["requests"] = {
        "sent": final.get("sent", {}),
        "accepted": final.get("accepted", {}),
        "rejected": final.get("rejected", {}),
    }
    figs["sequence"] = {
        "gaps": final.get("seq_gaps", 0),
        "duplicates": final.get("seq_dups", 0),
        "out_of_order": final.get("seq_reorders", 0),
    }
    figs["loss"] = loss_figures(run.finals)

    win = _window(run)
    server: dict[str, Any] = {"source": run.target.server_probe.source}
    valkey: dict[str, Any] = {"source": run.target.valkey_probe.source}
    through: dict[str, Any] = {"delivery_kind": kind}
    if win:
        a, b = run.marks[win[0]], run.marks[win[1]]
        secs = max(1e-6, b.t - a.t)
        deliveries = sub(b.tally, a.tally, kind)
        cpu = cpu_delta(a.server, b.server)
        through.update(
            {
                "window_s": round(secs, 2),
                "deliveries": int(deliveries),
                "deliveries_per_s": round(deliveries / secs, 1),
                "frames_per_s": round(sub(b.tally, a.tally, "frames") / secs, 1),
                "events_per_s": round(sub(b.tally, a.tally, "events") / secs, 1),
                "mbytes_per_s": round(sub(b.tally, a.tally, "bytes") / secs / 1e6, 3),
                "requests_sent": int(
                    sum((b.tally.get("sent") or {}).values())
                    - sum((a.tally.get("sent") or {}).values())
                ),
            }
        )
        server.update(
            {
                "cpu_s": round(cpu, 3),
                "cpu_pct": round(100 * cpu / secs, 1),
                "cpu_ms_per_1k_deliveries": (
                    round(1e6 * cpu / deliveries, 3) if deliveries > 0 and a.server.cpu else None
                ),
                "cpu_s_by_process": _proc_cpu(a.server, b.server),
            }
        )
        vcpu = cpu_delta(a.valkey, b.valkey)
        valkey.update(
            {
                "cpu_s": round(vcpu, 3),
                "cpu_pct": round(100 * vcpu / secs, 1),
                "cpu_ms_per_1k_deliveries": (
                    round(1e6 * vcpu / deliveries, 3) if deliveries > 0 and a.valkey.cpu else None
                ),
                "rss_mb": round(b.valkey.rss_total / 1e6, 1),
            }
        )
    if "idle" in run.marks and "connected" in run.marks:
        i, c = run.marks["idle"], run.marks["connected"]
        n = int(c.tally.get("connected", 0))
        per: dict[str, Any] = {}
        for pid, rss in c.server.rss.items():
            base = i.server.rss.get(pid)
            if base is None:
                continue
            conns = c.conns_by_pid.get(int(pid)) if pid.isdigit() else None
            per[pid] = {
                "rss_idle_mb": round(base / 1e6, 2),
                "rss_connected_mb": round(rss / 1e6, 2),
                "connections": conns,
                "bytes_per_viewer": round((rss - base) / conns) if conns else None,
            }
        grow = c.server.rss_total - i.server.rss_total
        server.update(
            {
                "rss_idle_mb": round(i.server.rss_total / 1e6, 2),
                "rss_connected_mb": round(c.server.rss_total / 1e6, 2),
                "viewers_connected": n,
                "mem_per_viewer_bytes": round(grow / n) if n and c.server.rss else None,
                "by_process": per,
            }
        )
    figs["throughput"] = through
    figs["server"] = server
    figs["valkey"] = valkey
    gen_cpu = cpu_delta(gen_start, gen_end)
    elapsed = max(1e-6, gen_end.t - gen_start.t)
    figs["generator"] = {
        "processes": len(run.plans) + 1,
        "cpu_s": round(gen_cpu, 3),
        "cpu_pct_of_one_core": round(100 * gen_cpu / elapsed, 1),
        "elapsed_s": round(elapsed, 2),
        "cpu_s_by_process": _proc_cpu(gen_start, gen_end),
    }
    figs.update(run.figures)
    opts = run.opts
    meta = {
        "scenario": run.scenario.name,
        "server_kind": run.target.kind,
        "label": opts.label,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(started)),
        "command": " ".join(sys.argv),
        "target": run.target.url,
        "room": run.room,
        "viewers": run.viewers,
        "tracers": sum(run.role_counts("tracer")),
        "talkers": sum(run.role_counts("talker")),
        "duration_s": opts.duration,
        "ramp_per_s": opts.ramp,
        "generator_procs": len(run.plans),
        "server_workers": opts.workers if run.target.spawned else None,
        "tick_ms": run.tick_ms,
        "spawned": run.target.spawned is not None,
        "params": run.scenario.params,
        "notes": run.target.notes,
        "machine": machine(),
        "wall_s": round(time.time() - started, 1),
    }
    return {"meta": meta, "figures": figs, "checks": run.checks, "timeline": run.timeline}
