"""The hls scenario at tiny scale with `--spawn-server` and nginx started by the scenario: every
viewer tunes in and follows parts through the cache, the origin's own count is far below the
viewers' requests, and nginx is gone afterwards. Plus the pieces the figures are read with."""

from __future__ import annotations

import os
from pathlib import Path

from loadtest.options import build_parser, options_from
from loadtest.runner import execute
from loadtest.scenarios.hls import origin_counts, valid_ts


async def test_hls_smoke_through_nginx(tmp_path: Path) -> None:
    ns = build_parser().parse_args([
        "hls", "--viewers", "20", "--duration", "4", "--hls-width", "320",
        "--hls-height", "240", "--spawn-server", "--quiet", "--no-html", "--out",
        str(tmp_path)])
    rep = await execute(options_from(ns))
    assert "error" not in rep, rep.get("error")
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]
    f = rep["figures"]["hls"]
    assert f["viewers_tuned_in"] == 20
    assert f["client_requests_by_kind"]["part"] > 0
    assert f["client_requests_by_kind"]["playlist_blocking"] > 0
    assert 0 < f["origin_requests"] * 5 < f["client_requests"]
    assert f["cache_statuses"]["HIT"] > f["cache_statuses"]["MISS"] > 0
    # the scenario stopped the nginx it started (its master's pid is gone)
    assert isinstance(f["nginx_pid"], int)
    assert not gone_pid_exists(f["nginx_pid"])


def gone_pid_exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def test_origin_counts_and_ts_bodies() -> None:
    text = "\n".join([
        "# TYPE live_hls_requests_total counter",
        'live_hls_requests_total{kind="part",status="200"} 12.0',
        'live_hls_requests_total{kind="playlist_blocking",status="503"} 1.0',
        'live_hls_requests_created{kind="part",status="200"} 1.7e+09',
    ])
    assert origin_counts(text) == {"part:200": 12.0, "playlist_blocking:503": 1.0}
    assert origin_counts(None) == {}
    packet = b"\x47" + bytes(187)
    assert valid_ts(packet * 3)
    assert not valid_ts(b"") and not valid_ts(packet[:100]) and not valid_ts(b"\x00" * 188)
