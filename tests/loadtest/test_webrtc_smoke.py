"""The webrtc benchmark at tiny scale: ours with `--spawn-server`, and the MediaRelay peer.

Sanity only, never speed: every viewer connected and received frames, the late joiners got a
keyframe, the CPU, bytes and frames figures are there, every server the run started is gone.
Plus the guard on the aiortc internals the generator hooks, and the keyframe detector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtest.media_clip import encode_clip
from loadtest.media_hooks import AIORTC_VERSION, check_internals, is_keyframe
from loadtest.options import build_parser, options_from
from loadtest.runner import execute
from loadtest.untyped import load

psutil = load("psutil")
aiortc = load("aiortc")

TINY = ("--width", "320", "--height", "240", "--clip-seconds", "2", "--publisher-only-s", "1",
        "--late-joiners", "1")


def opts(tmp_path: Path, *argv: str) -> Any:
    ns = build_parser().parse_args(["webrtc", *argv, "--spawn-server", "--quiet", "--no-html",
                                    "--out", str(tmp_path), "--procs", "2"])
    return options_from(ns)


def group_sane(f: dict[str, Any], viewers: int) -> None:
    assert f["viewers"] == viewers
    assert f["viewers_connected"] == viewers
    assert f["viewers_with_frames"] == viewers
    assert f["viewer_frames_min"] > 0
    assert f["frames_received"] > 0
    assert f["bytes_out"] > 0 and f["video_bytes_received"] > 0
    # the wire carries headers too: every video byte a viewer counted crossed its transport
    # first (totals at the window's end; the window's deltas may differ by a frame in flight)
    assert f["bytes_out_total"] >= f["video_bytes_received_total"] > 0
    assert f["server_cpu_pct_per_viewer"] is not None
    assert f["server_cpu_pct_per_viewer"] >= 0
    assert f["publisher_only_cpu_pct"] is not None
    assert f["publisher_fps"] > 0
    assert f["machine_busy_pct"] is not None
    late = f["late_joiners_first_keyframe_ms"]
    assert late and all(isinstance(x, int | float) and x > 0 for x in late)


def no_leftovers() -> None:
    names = " ".join(" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])
                     if p.info["cmdline"] and p.pid != psutil.Process().pid)
    assert "loadtest.peers.mediarelay_room" not in names


async def test_webrtc_smoke_with_peer(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "--viewers", "3", "--duration", "3", *TINY, "--peer",
                             "--peer-viewers", "2", "--peer-duration", "2"))
    assert "error" not in rep, rep.get("error")
    f = rep["figures"]
    ours = f["webrtc"]
    group_sane(ours, 3)
    assert ours["frames_forwarded"] is not None and ours["frames_forwarded"] > 0
    assert ours["frames_forwarded_source"].startswith("server /metrics")
    assert f["connections"]["joined"] == 3
    assert f["server"]["cpu_s"] >= 0
    assert f["generator"]["cpu_s"] > 0
    assert rep["timeline"]
    group_sane(f["webrtc_peer"], 2)
    vs = f["webrtc_vs_peer"]
    assert vs["viewers_ours"] == 3 and vs["viewers_peer"] == 2
    assert vs["cpu_pct_per_viewer_ours"] is not None
    assert vs["cpu_pct_per_viewer_peer"] is not None
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]
    no_leftovers()


def test_hooked_aiortc_internals_are_there() -> None:
    assert aiortc.__version__ == AIORTC_VERSION
    assert check_internals() == []


def test_clip_keyframes_are_detected_as_the_viewers_would() -> None:
    for codec in ("h264", "vp8"):
        clip = encode_clip(codec=codec, width=160, height=96, fps=10, seconds=2)
        assert clip.keyframes == [0, 10]
        assert [is_keyframe(codec, f.data) for f in clip.frames] == [
            f.keyframe for f in clip.frames]


def test_compare_webrtc_is_offered() -> None:
    ns = build_parser().parse_args(["compare", "webrtc", "--viewers", "4", "--peer-viewers",
                                    "1"])
    assert ns.scenario == "webrtc" and ns.peer_viewers == 1
    assert options_from(ns).params["peer_viewers"] == 1
