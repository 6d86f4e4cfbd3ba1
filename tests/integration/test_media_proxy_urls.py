"""Behind a proxy: the URLs a WHIP/WHEP client is given (the session ``Location``, the room's
media home that 307s point at) use ``media.public_url`` when set, else the scheme and host a
*trusted* proxy (``http.trusted_proxies``) forwarded, else the process's own address; forwarded
headers from anyone else are ignored."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from live_server import config
from live_server.media import urls
from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.integration.media_peers import Publisher, app_of, on_air


async def _publish(live: LiveApp, headers: dict[str, str] | None = None) -> tuple[str, str]:
    """(room, the WHIP Location) for a publish with extra request ``headers``; the session is
    deleted again through the address the test reaches."""
    room = await live.live_room("alice")
    publisher = Publisher("VP8")
    async with aiohttp.ClientSession() as http:
        try:
            hdrs = {"Content-Type": "application/sdp",
                    "Authorization": f"Bearer {token('alice', 'creator')}", **(headers or {})}
            async with http.post(f"{live.base}/api/rooms/{room}/whip",
                                 data=await publisher.offer(), headers=hdrs) as resp:
                assert resp.status == 201, await resp.text()
                location = resp.headers["Location"]
            session = location.rsplit("/", 1)[1]
            async with http.delete(f"{live.base}/api/rooms/{room}/whip/{session}") as resp:
                assert resp.status == 204
        finally:
            await publisher.close()
    return room, location


async def test_public_url_is_used_for_location_and_the_home(live_app_factory: Any) -> None:
    live = await live_app_factory(media={"public_url": "https://live.example.com/m/{port}/"})
    media = app_of(live)[MEDIA]
    base = f"https://live.example.com/m/{media.port}"
    async with on_air(live) as air:
        room = air.room
        assert air.publisher.location is not None
        assert air.publisher.location.startswith(f"{base}/api/rooms/{room}/whip/")
        home = await media.store.home(room)
        assert home is not None and home.url == base  # what other processes 307 to
        # a WHEP request on a process that does not hold the room: 307 to the public URL
        await media.store.claim(room, "m-another-process", "https://live.example.com/m/9",
                                {"video": "VP8"})
        async with air.http.post(f"{live.base}/api/rooms/{room}/whep?x=1", data="v=0",
                                 headers={"Content-Type": "application/sdp"},
                                 allow_redirects=False) as resp:
            assert resp.status == 307
            assert resp.headers["Location"] == (
                f"https://live.example.com/m/9/api/rooms/{room}/whep?x=1")


@pytest.mark.parametrize(("headers", "expected"), [
    ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "live.example.com"},
     "https://live.example.com/api/rooms/"),
    ({"Forwarded": 'for=198.51.100.7;proto=https;host="shop.example.com:8443", for=10.0.0.2',
      "X-Forwarded-Host": "ignored.example.com"},
     "https://shop.example.com:8443/api/rooms/"),
])
async def test_trusted_proxy_headers_are_honoured(live_app_factory: Any,
                                                  headers: dict[str, str],
                                                  expected: str) -> None:
    live = await live_app_factory(http={"trusted_proxies": ["127.0.0.0/8"]})
    room, location = await _publish(live, headers)
    assert location.startswith(f"{expected}{room}/whip/")


@pytest.mark.parametrize("trusted", [[], ["10.0.0.0/8", "::1/128"]])
async def test_forwarded_headers_from_anyone_else_are_ignored(live_app_factory: Any,
                                                              trusted: list[str]) -> None:
    live = await live_app_factory(http={"trusted_proxies": trusted})
    port = app_of(live)[MEDIA].port
    for headers in ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example.com"},
                    {"Forwarded": "proto=https;host=evil.example.com"}):
        room, location = await _publish(live, headers)
        assert location.startswith(f"http://127.0.0.1:{port}/api/rooms/{room}/whip/")


async def test_a_trusted_proxy_cannot_inject_a_url(live_app_factory: Any) -> None:
    live = await live_app_factory(http={"trusted_proxies": ["127.0.0.1"]})
    port = app_of(live)[MEDIA].port
    for headers in ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "a.example/x?y"},
                    {"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "a.example"},
                    {"Forwarded": 'proto=https;host="a.example@b.example"'}):
        _, location = await _publish(live, headers)
        assert location.startswith(f"http://127.0.0.1:{port}/"), headers


def test_forwarded_parsing() -> None:
    assert urls.forwarded({"Forwarded": 'proto=HTTPS;host="[2001:db8::1]:443"'}) == (
        "https", "[2001:db8::1]:443")
    assert urls.forwarded({"X-Forwarded-Proto": "https, http",
                           "X-Forwarded-Host": "a.example, b.example"}) == ("https", "a.example")
    assert urls.forwarded({"X-Forwarded-Host": "a.example"}) is None  # no scheme: not used
    assert urls.forwarded({}) is None


@pytest.mark.parametrize(("section", "values"), [
    ("media", {"public_url": "live.example.com"}),
    ("media", {"public_url": "ftp://live.example.com"}),
    ("media", {"public_url": "https://live.example.com/?a=1"}),
    ("http", {"trusted_proxies": ["not-a-network"]}),
])
def test_bad_settings_are_refused(section: str, values: dict[str, Any]) -> None:
    with pytest.raises(config.ConfigError, match=section):
        config.load(env={}, overrides={section: values})


async def test_turn_from_the_environment_reaches_clients_and_the_server(
        live_app_factory: Any) -> None:
    """``LIVE_MEDIA_ICE_SERVERS`` (comma-separated) with TURN credentials: the server's own peer
    connections use it, and WHIP/WHEP answers hand it to clients in ``Link`` headers."""
    env = {"LIVE_MEDIA_ICE_SERVERS":
           "stun:stun.example.com:3478,turn:live:s3cr@t@turn.example.com:3478?transport=udp"}
    servers = config.load(env=env).media.ice_servers
    live = await live_app_factory(media={"ice_servers": list(servers)})
    media = app_of(live)[MEDIA]
    (stun, turn) = media.rtc_config.iceServers
    assert stun.urls == "stun:stun.example.com:3478" and stun.username is None
    assert (turn.urls, turn.username, turn.credential) == (
        "turn:turn.example.com:3478?transport=udp", "live", "s3cr@t")
    room = await live.live_room("alice")
    async with aiohttp.ClientSession() as http:
        async with http.options(f"{live.base}/api/rooms/{room}/whep") as resp:
            assert ('<turn:turn.example.com:3478?transport=udp>; rel="ice-server"; '
                    'username="live"; credential="s3cr@t"; credential-type="password"'
                    ) in resp.headers.getall("Link")
