"""media.ice_addresses: which addresses the server's ICE host candidates use, read where a
WebRTC client reads them (the ``a=candidate`` lines of WHIP/WHEP answers), and the test suite's
own WebRTC kept on loopback (the test peers' offers)."""

from __future__ import annotations

import ipaddress
from typing import Any

import aiohttp
import aioice.ice
import ifaddr
import pytest

from live_server.config import ConfigError
from live_server.media import aiortc_hooks, ice
from loadtest import media_peers as lt_peers
from loadtest import spawn
from loadtest.media_clip import encode_clip
from loadtest.peers import mediarelay_room
from tests.conftest import LiveApp, token
from tests.integration.media_peers import candidate_addresses, on_air


def outside_addresses() -> dict[str, set[str]]:
    """This machine's addresses that are not loopback (nor link-local), by interface name."""
    out: dict[str, set[str]] = {}
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            parsed = ipaddress.ip_address(address)
            if not parsed.is_loopback and not parsed.is_link_local:
                out.setdefault(adapter.name, set()).add(address)
    return out


async def exchange(live: LiveApp) -> dict[str, str]:
    """A WHIP publisher and a WHEP viewer that decodes its video: the four SDPs."""
    async with on_air(live) as air:
        await air.watch()
        await air.viewer.wait_for(lambda: air.viewer.decoded >= 1)  # ICE connected on them
        return {"whip offer": air.publisher.pc.localDescription.sdp,
                "whip answer": air.publisher.pc.remoteDescription.sdp,
                "whep offer": air.viewer.pc.localDescription.sdp,
                "whep answer": air.viewer.pc.remoteDescription.sdp}


async def test_test_servers_and_peers_gather_on_loopback_only(live: LiveApp) -> None:
    assert live.settings.media.ice_addresses == ("127.0.0.1",)  # every test server's setting
    for name, sdp in (await exchange(live)).items():
        addresses = candidate_addresses(sdp)
        assert addresses, f"the {name} has no candidate"
        assert addresses == ["127.0.0.1"] * len(addresses), (name, addresses)


async def test_an_interface_name_gathers_on_that_interfaces_addresses(
        live_app_factory: Any) -> None:
    live = await live_app_factory(media={"ice_addresses": ["lo"]})
    sdps = await exchange(live)
    for name in ("whip answer", "whep answer"):
        assert set(candidate_addresses(sdps[name])) <= {"127.0.0.1", "::1"}, name
        assert "127.0.0.1" in candidate_addresses(sdps[name]), name


def test_without_the_setting_the_server_gathers_where_aioice_would() -> None:
    """The empty setting leaves aioice's own choice: every address of the host but loopback.
    Checked where aioice asks for the addresses, without gathering anything (the test suite's
    WebRTC stays on loopback): inside the hook, aioice gets what its own function gives,
    which holds every address this machine has outside loopback (none on a machine with only
    loopback: then both are empty), and the loopback setting gives loopback alone."""
    outside = set().union(set(), *outside_addresses().values())
    with aiortc_hooks.host_candidates(ice.host_addresses(())):
        chosen = aioice.ice.get_host_addresses(True, True)
    assert chosen == aiortc_hooks._AIOICE_HOST_ADDRESSES(True, True)
    assert outside <= set(chosen) and "127.0.0.1" not in chosen and "::1" not in chosen
    with aiortc_hooks.host_candidates(ice.host_addresses(("127.0.0.1",))):
        assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1"]


def test_an_interface_is_chosen_by_name() -> None:
    for name, addresses in outside_addresses().items():
        assert set(ice.HostAddresses((name,))(True, True)) == addresses
        v4 = {a for a in addresses if ":" not in a}
        assert set(ice.HostAddresses((name,))(True, False)) == v4
    assert ice.HostAddresses(("127.0.0.1", "lo"))(True, False) == ["127.0.0.1"]


async def test_an_entry_that_is_not_on_this_host_is_refused_at_start(
        live_app_factory: Any, settings_factory: Any) -> None:
    for entry in ("no-such-if0", "203.0.113.7"):  # 203.0.113.0/24: documentation, never ours
        with pytest.raises(ConfigError, match=r"media\.ice_addresses"):
            await live_app_factory(media={"ice_addresses": ["127.0.0.1", entry]})
    for entry in ("0.0.0.0", "::", "eth 0", ""):
        with pytest.raises(ConfigError, match=r"media\.ice_addresses"):
            settings_factory(media={"ice_addresses": [entry]})
    assert ice.host_addresses(()) is None  # empty: aioice's own choice


async def _live_room(http: aiohttp.ClientSession, base: str, creator: str) -> str:
    auth = {"Authorization": f"Bearer {creator}"}
    async with http.post(f"{base}/api/rooms", json={"title": "Show"}, headers=auth) as resp:
        room = str((await resp.json())["id"])
    async with http.post(f"{base}/api/rooms/{room}/start", headers=auth) as resp:
        assert resp.status == 200
    return room


async def test_the_load_generators_peers_and_the_servers_it_spawns_stay_on_loopback(
        aiohttp_server: Any) -> None:
    clip = encode_clip(codec="h264", width=160, height=96, fps=10, seconds=1)
    relay_peer = await aiohttp_server(mediarelay_room.build_app(None, "127.0.0.1"),
                                      host="127.0.0.1")
    ours = await spawn.spawn("live")  # as `--spawn-server` starts it: its own Valkey
    try:
        creator = token("alice", "creator", secret=ours.secret)
        async with aiohttp.ClientSession() as http:
            room = await _live_room(http, ours.url, creator)
            for name, base in {"ours": f"{ours.url}/api/rooms/{room}",
                               "MediaRelay peer": str(relay_peer.make_url(f"/api/rooms/{room}"))
                               }.items():
                publisher, viewer = lt_peers.Publisher(clip), lt_peers.Viewer(0, "h264")
                try:
                    await publisher.publish(http, f"{base}/whip", creator)
                    assert await viewer.watch(http, f"{base}/whep", None, 10), viewer.stats.wire()
                    for pc in (publisher.pc, viewer.pc):
                        for sdp in (pc.localDescription.sdp, pc.remoteDescription.sdp):
                            addresses = candidate_addresses(sdp)
                            assert addresses, name
                            assert addresses == ["127.0.0.1"] * len(addresses), (name, addresses)
                finally:
                    await viewer.close(http)
                    await publisher.close(http)
    finally:
        ours.stop()
