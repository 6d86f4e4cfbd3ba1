"""A failed WHIP/WHEP session says so once, at WARNING, with what an operator needs to tell why
(room, role, ICE and DTLS states, the selected candidate pair) and never a credential: not the
bearer token, not the session URL's secret."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from live_server.web.media import MEDIA
from tests.conftest import token
from tests.integration.media_peers import (
    NO_ICE_SERVERS,
    MovingPicture,
    Publisher,
    app_of,
    local_offer,
    post_sdp,
)
from tests.integration.media_waits import until

LOGGER = "live_server.media.sessions"


def _failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


async def _offer() -> str:
    pc = RTCPeerConnection(configuration=NO_ICE_SERVERS)
    pc.addTransceiver(MovingPicture(), direction="sendonly")
    offer = await local_offer(pc)
    await pc.close()  # the client is gone: nothing will ever answer the server's checks
    return offer


async def test_idle_timeout_logs_one_warning(live_app_factory: Any,
                                             caplog: pytest.LogCaptureFixture) -> None:
    live = await live_app_factory(media={"session_idle_ms": 300})
    room = await live.live_room("alice")
    creator = token("alice", "creator")
    media = app_of(live)[MEDIA]
    caplog.set_level(logging.WARNING, logger=LOGGER)
    async with aiohttp.ClientSession() as http:
        # no candidates and no end-of-candidates: ICE waits for a trickle that never comes
        offer = "\r\n".join(line for line in (await _offer()).split("\r\n")
                            if not line.startswith(("a=candidate:", "a=end-of-candidates")))
        status, headers, _ = await post_sdp(http, f"{live.base}/api/rooms/{room}/whip", offer,
                                            creator)
        assert status == 201
        session_id = headers["Location"].rsplit("/", 1)[1]
        await until(lambda: not media.sessions)
        await asyncio.sleep(0.3)  # nothing more is logged afterwards
    (record,) = _failures(caplog)
    text = record.getMessage()
    assert record.levelno == logging.WARNING
    assert f"room {room}" in text and text.startswith("publisher session ")
    assert "ICE did not connect in time" in text
    assert "ice=" in text and "dtls=" in text and "pair=none" in text
    assert session_id[:6] in text and session_id not in text
    assert creator not in text


async def test_dtls_failure_logs_one_warning(live_app_factory: Any,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """ICE connects, then DTLS fails: the offer's fingerprint is not the client's certificate."""
    live = await live_app_factory(media={"session_idle_ms": 60000})
    room = await live.live_room("alice")
    media = app_of(live)[MEDIA]
    caplog.set_level(logging.WARNING, logger=LOGGER)
    publisher = Publisher("VP8")
    async with aiohttp.ClientSession() as http:
        try:
            offer = await publisher.offer()
            lines = offer.split("\r\n")
            lines = [("a=fingerprint:sha-256 " + ":".join(["AB"] * 32))
                     if line.startswith("a=fingerprint:sha-256") else line for line in lines]
            status, _, answer = await post_sdp(http, f"{live.base}/api/rooms/{room}/whip",
                                               "\r\n".join(lines), token("alice", "creator"))
            assert status == 201
            await publisher.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            await until(lambda: not media.sessions)
        finally:
            await publisher.close()
    (record,) = _failures(caplog)
    text = record.getMessage()
    assert f"room {room}" in text and "the connection failed" in text
    assert "dtls=failed" in text, text
    # ICE worked: the pair it chose is named (loopback host candidates on both sides)
    assert "pair=127.0.0.1:" in text and " host -> 127.0.0.1:" in text, text
