"""ICE servers from ``media.ice_servers``: ``stun:host:port`` or
``turn:user:password@host:port[?transport=udp]`` (``turns:`` too). The same list configures the
server's own peer connections and the ``Link: <...>; rel="ice-server"`` headers of WHIP/WHEP
answers (RFC 9725 section 4.4), so clients and server use the same relays."""

from __future__ import annotations

import dataclasses

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
