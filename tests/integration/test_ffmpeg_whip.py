"""FFmpeg's own WHIP muxer (``-f whip``, here from the PyAV wheel's FFmpeg) publishes to the
server: H.264 (libx264, constrained baseline, a keyframe every second) and Opus, encoded by
FFmpeg as an encoder box or OBS would, over a bearer token, with a P-256 certificate given by
``cert_file``/``key_file`` (the wheel's GnuTLS-based muxer otherwise makes a key that
OpenSSL-based DTLS refuses: without them the handshake ends in "Input/output error" and the
server logs the session's DTLS failure). The server must see the publisher and an aiortc WHEP
viewer must decode the pictures and the sound."""

from __future__ import annotations

import asyncio
import fractions
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import av
import pytest

from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.integration.media_peers import Viewer, app_of
from tests.integration.media_waits import until

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT, FPS = 320, 240, 25
SECONDS = 8  # long enough for the viewer to join after the publisher is up

pytestmark = pytest.mark.skipif(
    "whip" not in av.formats_available or "libx264" not in av.codecs_available
    or "libopus" not in av.codecs_available or shutil.which("openssl") is None,
    reason="needs PyAV's FFmpeg with the whip muxer, libx264 and libopus, and openssl")


def p256_certificate(folder: Path) -> tuple[Path, Path]:
    """The one-line certificate of the README: P-256, self-signed."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "365", "-subj", "/CN=whip"],
                   check=True, capture_output=True)
    return cert, key


def _picture(n: int) -> av.VideoFrame:
    frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
    frame.planes[0].update(bytes(((x + n * 4) * 3 + y) & 0xFF
                                 for y in range(HEIGHT) for x in range(WIDTH)))
    frame.planes[1].update(bytes([(n * 5) & 0xFF]) * (WIDTH * HEIGHT // 4))
    frame.planes[2].update(bytes([128]) * (WIDTH * HEIGHT // 4))
    return frame


def publish_with_ffmpeg(url: str, bearer_token: str, cert: str, key: str) -> None:
    """Encode and send ``SECONDS`` of a moving test pattern and silence, paced in real time.
    Runs in a process of its own (``python -m tests.integration.test_ffmpeg_whip``): PyAV
    holds the GIL while the muxer's handshake waits on the network, so in the test's process
    it would stop the very server it waits for."""
    out = av.open(url, mode="w", format="whip", options={
        # the muxer sends "Authorization: Bearer <authorization>" itself
        "authorization": bearer_token, "cert_file": cert, "key_file": key,
        "handshake_timeout": "10000", "pkt_size": "1200"})
    video = out.add_stream("libx264", rate=FPS, options={
        "profile": "baseline", "tune": "zerolatency", "preset": "ultrafast",
        "g": str(FPS), "bf": "0"})
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    audio = out.add_stream("libopus", rate=48000, options={"b": "64000"})
    audio.layout = "stereo"
    silence = bytes(960 * 2 * 2)
    start = time.monotonic()
    for n in range(SECONDS * FPS):
        frame = _picture(n)
        frame.pts, frame.time_base = n, fractions.Fraction(1, FPS)
        for packet in video.encode(frame):
            out.mux(packet)
        for i in range(2):  # 40 ms of audio per picture: two 20 ms Opus frames
            block = av.AudioFrame(format="s16", layout="stereo", samples=960)
            block.planes[0].update(silence)
            block.sample_rate = 48000
            block.pts, block.time_base = (2 * n + i) * 960, fractions.Fraction(1, 48000)
            for packet in audio.encode(block):
                out.mux(packet)
        delay = start + (n + 1) / FPS - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    for packet in video.encode(None):
        out.mux(packet)
    out.close()


async def test_ffmpeg_whip_muxer_publishes_and_a_viewer_decodes(live: LiveApp,
                                                                tmp_path: Path) -> None:
    room = await live.live_room("alice")
    media = app_of(live)[MEDIA]
    cert, key = p256_certificate(tmp_path)
    sender = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.test_ffmpeg_whip",
        f"{live.base}/api/rooms/{room}/whip", token('alice', 'creator'),
        str(cert), str(key), cwd=ROOT, stderr=asyncio.subprocess.PIPE)
    viewer = Viewer(audio=True)
    try:
        try:
            await until(lambda: sender.returncode is not None or (
                room in media.publishers and media.publishers[room].connected), timeout=20)
        except TimeoutError:
            pass
        if not (room in media.publishers and media.publishers[room].connected):
            if sender.returncode is None:
                sender.kill()
            _, err = await sender.communicate()
            pytest.fail("FFmpeg's WHIP muxer did not connect:\n" + err.decode()[-3000:])
        publisher = media.publishers[room]
        assert publisher.codecs == {"video": "H264", "audio": "opus"}
        async with aiohttp.ClientSession() as http:
            assert await viewer.watch(http, f"{live.base}/api/rooms/{room}/whep",
                                      token("bob")) == 201
            await viewer.wait_for(lambda: viewer.decoded >= 10 and viewer.audio_frames >= 10)
        assert set(viewer.sizes) == {(WIDTH, HEIGHT)}
        assert media.relays[room].keyframes_in >= 1
    finally:
        await viewer.close()
        if sender.returncode is None:
            sender.kill()
        await sender.wait()


if __name__ == "__main__":
    publish_with_ffmpeg(*sys.argv[1:5])
