"""ICE servers from ``media.ice_servers``: ``stun:host:port`` or
``turn:user:password@host:port[?transport=udp]`` (``turns:`` too). The same list configures the
server's own peer connections and the ``Link: <...>; rel="ice-server"`` headers of WHIP/WHEP
answers (RFC 9725 section 4.4), so clients and server use the same relays.

And the addresses of the server's host candidates, from ``media.ice_addresses``: on a
multi-homed host only some interfaces should carry media (not a management or storage
network), and a test server should stay on loopback."""

from __future__ import annotations

import dataclasses
import ipaddress

import ifaddr
from aiortc import RTCConfiguration, RTCIceServer

from live_server.config import ConfigError


@dataclasses.dataclass(frozen=True, slots=True)
class IceServer:
    url: str                  # without credentials, e.g. "turn:turn.example.com:3478"
    username: str | None = None
    credential: str | None = None

    def link(self) -> str:
        """One ``Link`` header value (RFC 9725 4.4; RFC 8288 quoted-string parameters)."""
        value = f'<{self.url}>; rel="ice-server"'
        if self.username is not None:
            value += (f'; username="{_quoted(self.username)}"'
                      f'; credential="{_quoted(self.credential or "")}"'
                      '; credential-type="password"')
        return value


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def parse(entries: tuple[str, ...]) -> list[IceServer]:
    out: list[IceServer] = []
    for entry in entries:
        scheme, sep, rest = entry.partition(":")
        if not sep or scheme not in ("stun", "stuns", "turn", "turns") or not rest:
            raise ConfigError(f"media.ice_servers: {entry!r} is not a stun:/turn: URL")
        if scheme.startswith("turn"):
            creds, at, hostpart = rest.rpartition("@")
            user, colon, password = creds.partition(":")
            if not at or not colon or not user:
                raise ConfigError(f"media.ice_servers: {entry!r} needs user:password@ for TURN")
            out.append(IceServer(f"{scheme}:{hostpart}", user, password))
        else:
            out.append(IceServer(entry))
    return out


def rtc_configuration(servers: list[IceServer]) -> RTCConfiguration:
    return RTCConfiguration(iceServers=[
        RTCIceServer(urls=s.url, username=s.username, credential=s.credential)
        for s in servers
    ])


class HostAddresses:
    """``media.ice_addresses`` as the addresses to gather host candidates on: IP addresses as
    they are (127.0.0.1 included, which aioice itself never uses), interface names as their
    addresses at the time of each gathering (an interface's address may change while the server
    runs). An aioice address chooser (``aiortc_hooks.host_candidates``)."""

    def __init__(self, entries: tuple[str, ...]) -> None:
        self.entries = entries
        adapters = list(ifaddr.get_adapters())
        for entry in entries:
            if not self._resolve(entry, adapters, True, True):
                raise ConfigError(f"media.ice_addresses: {entry!r} is neither an interface "
                                  "nor an address of this host")

    def __call__(self, use_ipv4: bool, use_ipv6: bool) -> list[str]:
        adapters = list(ifaddr.get_adapters())
        out: list[str] = []
        for entry in self.entries:
            out += [a for a in self._resolve(entry, adapters, use_ipv4, use_ipv6) if a not in out]
        return out

    @staticmethod
    def _resolve(entry: str, adapters: list[ifaddr.Adapter], use_ipv4: bool,
                 use_ipv6: bool) -> list[str]:
        try:
            wanted: ipaddress.IPv4Address | ipaddress.IPv6Address | None = (
                ipaddress.ip_address(entry))
        except ValueError:
            wanted = None
        out: list[str] = []
        for adapter in adapters:
            if wanted is None and entry not in (adapter.name, adapter.nice_name):
                continue
            for ip in adapter.ips:
                if isinstance(ip.ip, str):
                    address, usable = ip.ip, use_ipv4
                else:  # (address, flowinfo, scope id): link-local needs a scope, as in aioice
                    address, usable = ip.ip[0], use_ipv6 and ip.ip[2] == 0
                if usable and (wanted is None or ipaddress.ip_address(address) == wanted):
                    out.append(address)
        return out


def host_addresses(entries: tuple[str, ...]) -> HostAddresses | None:
    """The chooser for ``media.ice_addresses`` (``None`` when empty: every address, as aioice
    chooses)."""
    return HostAddresses(entries) if entries else None
