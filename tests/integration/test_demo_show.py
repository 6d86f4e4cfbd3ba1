"""`serve --demo` puts a show in the demo room: a newcomer who opens it gets moving video and
sound over the normal WHEP path, and the show stops with the server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from live_server.demo_show.clip import FPS, HEIGHT, SECONDS, WIDTH, ensure_clip, load_clip
from tests.conftest import ServerProcess, token
from tests.integration.media_peers import Publisher, Viewer

ON_AIR_S = 10  # the clip is made at first run (about a second), then the publish


async def _demo_room(server: ServerProcess) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while loop.time() < deadline:
        found = re.search(r"/watch/(\S+)", server.log())
        if found:
            return found.group(1)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no demo room printed:\n{server.log()}")


async def _video(http: aiohttp.ClientSession, server: ServerProcess,
                 room: str) -> dict[str, object]:
    async with http.get(f"{server.url}/api/rooms/{room}/video") as resp:
        assert resp.status == 200
        body: dict[str, object] = await resp.json()
        return body


async def test_demo_room_plays_the_clip(
        server_factory: Callable[..., Awaitable[ServerProcess]], tmp_path: Path) -> None:
    server = await server_factory(args=["--demo"],
                                  env={"LIVE_STORE_DATA_DIR": str(tmp_path / "var")})
    room = await _demo_room(server)
    viewer = Viewer(audio=True)
    async with aiohttp.ClientSession() as http:
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + ON_AIR_S
            video = await _video(http, server, room)
            while not video["publishing"] and loop.time() < deadline:
                await asyncio.sleep(0.1)
                video = await _video(http, server, room)
            assert video["publishing"] is True, server.log()
            assert "H264" in str(video["codecs"]) and "opus" in str(video["codecs"]).lower()
            assert await viewer.watch(http, f"{server.url}/api/rooms/{room}/whep",
                                      token("newcomer", "viewer")) == 201
            # a second of moving picture and some sound, in the clip's size
            await viewer.wait_for(lambda: viewer.decoded >= FPS and viewer.audio_frames >= 10,
                                  timeout=ON_AIR_S)
            assert set(viewer.sizes) == {(WIDTH, HEIGHT)}
        finally:
            await viewer.close()
    assert server.stop() == 0
    assert (tmp_path / "var").is_dir() and list((tmp_path / "var").glob("demo-clip-*.ts"))
    assert "Task was destroyed" not in server.log() and "Traceback" not in server.log()


async def _wait_video(http: aiohttp.ClientSession, server: ServerProcess, room: str,
                      codec: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ON_AIR_S
    while loop.time() < deadline:
        video = await _video(http, server, room)
        if video["publishing"] and codec in str(video.get("codecs")):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {codec} video in the demo room:\n{server.log()}")


async def test_a_real_broadcast_takes_over_and_the_show_comes_back_after(
        server_factory: Callable[..., Awaitable[ServerProcess]], tmp_path: Path) -> None:
    server = await server_factory(args=["--demo"],
                                  env={"LIVE_STORE_DATA_DIR": str(tmp_path / "var")})
    room = await _demo_room(server)
    creator = Publisher("VP8")
    async with aiohttp.ClientSession() as http:
        try:
            await _wait_video(http, server, room, "H264")  # the show (H.264)
            # someone tries the studio as the demo creator: their broadcast replaces the show
            assert await creator.publish(http, f"{server.url}/api/rooms/{room}/whip",
                                         token("demo_creator", "creator")) == 201
            await _wait_video(http, server, room, "VP8")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + ON_AIR_S
            while "another broadcast is on air" not in server.log():
                assert loop.time() < deadline, server.log()
                await asyncio.sleep(0.1)
            # the show waits rather than taking the room back
            assert not creator.ended
            assert "VP8" in str((await _video(http, server, room))["codecs"])
        finally:
            await creator.close()
        # their broadcast ended: the show is back
        await _wait_video(http, server, room, "H264")
    assert server.stop() == 0


async def test_demo_video_off_publishes_nothing(
        server_factory: Callable[..., Awaitable[ServerProcess]], tmp_path: Path) -> None:
    server = await server_factory(args=["--demo", "--demo-video", "off"],
                                  env={"LIVE_STORE_DATA_DIR": str(tmp_path / "var")})
    room = await _demo_room(server)
    async with aiohttp.ClientSession() as http:
        assert (await _video(http, server, room))["publishing"] is False
    assert server.stop() == 0
    assert "demo show" not in server.log()
    assert not list((tmp_path / "var").glob("demo-clip-*.ts")), "no clip is made either"


def test_clip_is_ten_seconds_of_whole_gops_with_sound(tmp_path: Path) -> None:
    path = ensure_clip(tmp_path)
    assert ensure_clip(tmp_path) == path  # cached: made once
    clip = load_clip(path)
    assert len(clip.video) == FPS * SECONDS
    # a keyframe every second, so a new viewer waits at most a second and the loop is seamless
    assert [i for i, p in enumerate(clip.video) if p.keyframe] == list(range(0, FPS * SECONDS,
                                                                             FPS))
    assert len(clip.audio) >= SECONDS * 50  # 20 ms Opus packets
    assert path.stat().st_size < 1_000_000
