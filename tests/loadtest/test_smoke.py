"""Every scenario at tiny scale against a server the run starts itself (`--spawn-server`).

The assertions are about sanity, not speed: figures present, deliveries equal to what was
accepted times the viewers, no sequence gaps, exact heart totals, every server stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadtest.cli import main
from loadtest.options import build_parser, options_from
from loadtest.runner import execute
from loadtest.untyped import load

psutil = load("psutil")


def opts(tmp_path: Path, *argv: str) -> Any:
    ns = build_parser().parse_args([*argv, "--spawn-server", "--quiet", "--out", str(tmp_path),
                                    "--procs", "2", "--tracers", "5"])
    return options_from(ns)


def common_sane(report: dict[str, Any], viewers: int) -> None:
    f = report["figures"]
    assert "error" not in report, report.get("error")
    assert f["connections"]["joined"] >= viewers
    assert f["connections"]["failed"] == 0
    assert f["connections"]["slow_consumer_closes"] == 0
    assert f["connections"]["connect_ms"]["count"] >= viewers
    assert f["server"]["source"].startswith("psutil")
    assert f["server"]["cpu_s"] >= 0
    assert f["server"]["rss_connected_mb"] > 0
    assert f["valkey"]["cpu_s"] >= 0
    assert f["generator"]["cpu_s"] > 0
    assert report["timeline"], "no timeline rows"


async def test_chat_smoke(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "chat", "--viewers", "20", "--duration", "3",
                             "--chatters", "4", "--rate", "10"))
    common_sane(rep, 20)
    f = rep["figures"]
    assert f["chat"]["accepted"] == f["chat"]["sent"] >= 25
    assert f["chat"]["delivered"] == f["chat"]["expected_deliveries"] == f["chat"]["accepted"] * 20
    assert f["loss"]["lost"] == 0
    assert f["loss"]["duplicated"] == 0
    assert f["sequence"]["gaps"] == 0
    assert f["latency_ms"]["count"] == f["chat"]["accepted"] * 5
    assert f["latency_ms"]["p99"] is not None
    assert f["server"]["cpu_ms_per_1k_deliveries"] is not None
    assert f["server"]["mem_per_viewer_bytes"] is not None
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]


async def test_join_storm_smoke(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "join-storm", "--viewers", "30", "--duration", "1.5",
                             "--ramp", "200"))
    common_sane(rep, 30)
    j = rep["figures"]["join"]
    assert j["joined"] == 30
    assert j["time_until_all_in_s"] is not None and j["time_until_all_in_s"] > 0
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]


async def test_hearts_smoke(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "hearts", "--viewers", "20", "--duration", "2",
                             "--senders", "5", "--hearts-rate", "500", "--per-frame", "10"))
    common_sane(rep, 20)
    h = rep["figures"]["hearts"]
    assert h["hearts_accepted"] == h["hearts_sent"] == h["room_total_delta"] > 0
    assert h["tracer_last_total"] == h["room_total_after"]
    assert h["counters_events_max_per_frame"] <= 1
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]


async def test_show_smoke(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "show", "--viewers", "24", "--duration", "4",
                             "--chatters", "4", "--chat-rate", "5", "--hearts-rate", "100",
                             "--segments",
                             "chat,hearts,pinned-product,flash-sale,red-packet-storm"))
    common_sane(rep, 24)
    s = rep["figures"]["show"]
    assert s["chat_accepted"] > 0
    assert s["hearts_accepted"] > 0
    assert s["flash_sale"] == {"units": 2, "reserved": 2, "stock_left": 0}
    checks = {c["name"]: c["ok"] for c in rep["checks"]}
    assert checks["product pinned"] is True
    assert s["red_packets"]["shares"] == s["red_packets"]["grabs"] == 2  # 4 talkers, 2 shares
    assert s["red_packets"]["grabbed_cents"] == 2 * 888
    assert checks["money conserved"] and checks["distinct grabbers per packet"]
    phases = {row["phase"] for row in rep["timeline"]}
    assert len(phases) >= 2, phases
    assert rep["figures"]["loss"]["lost"] == 0


async def test_spawned_servers_are_stopped_by_pid() -> None:
    from loadtest.spawn import spawn

    for kind in ("live", "sio"):
        sp = await spawn(kind)
        pids = [sp.pid, sp.valkey_pid]
        assert all(psutil.pid_exists(p) for p in pids)
        sp.stop()
        for p in pids:
            assert not psutil.pid_exists(p) or psutil.Process(p).status() == "zombie"


def test_show_unknown_segment_is_refused() -> None:
    from loadtest.scenarios.show import Show

    with pytest.raises(ValueError, match="unknown show segment"):
        Show({"segments": "chat,fireworks"}).segment_names()


def test_compare_chat_cli_writes_ratios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["compare", "chat", "--viewers", "16", "--duration", "2", "--chatters", "4",
               "--rate", "8", "--tracers", "4", "--procs", "1", "--quiet", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "ours/peer" in out
    [cmp] = list(tmp_path.glob("compare-chat-*/compare.json"))
    data = json.loads(cmp.read_text())
    assert data["peer"][0]["meta"]["server_kind"] == "sio"
    peer = data["peer"][0]["figures"]
    assert peer["chat"]["delivered"] == peer["chat"]["expected_deliveries"] > 0
    assert peer["loss"]["lost"] == 0
    cpu = next(r for r in data["ratios"] if r["metric"].startswith("server CPU"))
    assert cpu["ours"] is not None and cpu["peer"] is not None
    assert (cmp.parent / "compare.html").stat().st_size > 100_000


def test_cli_run_prints_table_and_writes_reports(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["join-storm", "--spawn-server", "--server-kind", "sio", "--viewers", "10",
               "--duration", "1", "--procs", "1", "--quiet", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "connections" in out and "generator" in out
    [js] = list(tmp_path.glob("sio-join-storm-*/report.json"))
    html = (js.parent / "report.html").read_text()
    assert "plotly" in html.lower() and "<script src=\"http" not in html
    assert json.loads(js.read_text())["figures"]["join"]["joined"] == 10


async def test_flash_sale_smoke(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "flash-sale", "--viewers", "65", "--units", "20",
                             "--duration", "1"))
    assert "error" not in rep, rep.get("error")
    f = rep["figures"]["flash_sale"]
    assert f["buyers"] == 60 and f["reservations"] == 20 == f["orders_read_back"]
    assert f["refusals"] == {"sold_out": 40}
    assert f["stock_left"] == 0 and f["distinct_buyers"] == 20
    assert f["reply_ms_p99"] is not None and f["reservations_per_s"] > 0
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]


async def test_red_packet_storm_smoke(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "red-packet-storm", "--viewers", "65", "--packets", "2",
                             "--shares", "20", "--duration", "1"))
    assert "error" not in rep, rep.get("error")
    f = rep["figures"]["red_packet_storm"]
    assert f["grabbers"] == 60 and f["grabs"] == 40 == f["claims_read_back"]
    assert f["refusals"] == {"none_left": 80}
    assert f["creator_after"] + f["grabbed_cents"] == f["creator_before"]
    assert f["reply_ms_p99"] is not None
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]


def test_write_floor_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    """The write-floor measurement at tiny scale: every byte written arrives, figures printed."""
    assert main(["write-floor", "--sockets", "20", "--rounds", "3", "--interval-ms", "10",
                 "--bytes", "200"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["writes"] == 60
    assert result["bytes_received"] == result["bytes_expected"] == 60 * 204
    assert result["cpu_us_per_write"] > 0
    assert set(result["floor_ms_per_1k_deliveries"]) == {"2.0", "10.0"}
