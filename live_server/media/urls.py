"""The base URL that WHIP/WHEP clients are given for this process's media: the session
``Location`` and the room's media home (the 307 target of WHEP requests that reach another
process). Without I/O.

In order:

1. ``media.public_url`` when set (``https://media.example.com``, a path prefix allowed;
   ``{port}`` is replaced by this process's private media port, so a proxy in front of several
   processes can route ``/m/{port}/...`` or ``:{port}`` to each of them);
2. the scheme and host a *trusted* proxy forwarded (``Forwarded`` (RFC 7239), else
   ``X-Forwarded-Proto`` / ``X-Forwarded-Host``), honoured only when the connection comes from
   an address in ``http.trusted_proxies`` (anyone can send these headers: trusted blindly,
   they would let a client choose the URL the server hands to others);
3. ``http://<media.advertise_host or the request's host>:<private media port>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from live_server.config import MediaSettings
from live_server.domain.proxies import Network, trusted

_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def forwarded(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """(scheme, host) the nearest-to-the-client proxy saw, from ``Forwarded`` or the
    ``X-Forwarded-*`` pair; None when absent or not a plain scheme and host (a header is never
    copied into a URL unchecked)."""
    proto = host = ""
    raw = headers.get("Forwarded", "")
    if raw:
        first = raw.split(",")[0]
        for pair in first.split(";"):
            name, _, value = pair.partition("=")
            name = name.strip().lower()
            if name == "proto":
                proto = _unquote(value)
            elif name == "host":
                host = _unquote(value)
    else:
        proto = headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
        host = headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    proto = proto.lower()
    if proto not in ("http", "https") or not _HOST.match(host):
        return None
    return proto, host


def base_url(cfg: MediaSettings, proxies: tuple[Network, ...], port: int | None,
             request_host: str, peer: str | None, headers: Mapping[str, str]) -> str:
    """The scheme, host, port and path prefix, without a trailing slash, in front of
    ``/api/rooms/...`` in the URLs this process gives out for its media sessions."""
    if cfg.public_url:
        return cfg.public_url.replace("{port}", str(port)).rstrip("/")
    if trusted(peer, proxies):
        seen = forwarded(headers)
        if seen is not None:
            return f"{seen[0]}://{seen[1]}"
    host = cfg.advertise_host or request_host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
