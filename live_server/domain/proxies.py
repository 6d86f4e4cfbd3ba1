"""Who a request came from when a proxy stands between: ``http.trusted_proxies`` and the
headers such a proxy adds. No I/O.

Anyone can send ``Forwarded`` or ``X-Forwarded-For``, so they are read only when the TCP peer is
an address in ``http.trusted_proxies``; from anyone else the peer is the client. A proxy
appends the address it received the request from to the right of whatever the client sent, so
the client is the right-most address that is not itself a trusted proxy: what a client writes
further left is never taken, and cannot move it out of its own count.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """``http.trusted_proxies`` as networks (``ValueError`` on an entry that is not a CIDR or
    an address)."""
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 client
    return address


def trusted(peer: str | None, trusted_networks: tuple[Network, ...]) -> bool:
    """Whether the TCP peer is a proxy whose forwarded headers are believed."""
    if not peer or not trusted_networks:
        return False
    address = _address(peer)
    return address is not None and any(address in net for net in trusted_networks)


def _node(value: str) -> Address | None:
    """The address in one hop: ``Forwarded``'s ``for=`` node (``"[2001:db8::1]:4711"``,
    ``192.0.2.1:80``) or an ``X-Forwarded-For`` item; None for ``unknown``, an obfuscated
    name or anything else that is not an address."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if value.startswith("["):
        end = value.find("]")
        return _address(value[1:end]) if end > 0 else None
    if value.count(":") == 1:  # IPv4 with a port
        value = value.partition(":")[0]
    return _address(value)


def forwarded_hops(forwarded: str, x_forwarded_for: str) -> list[str]:
    """The hops a proxy chain reported, nearest to the client first: every ``for=`` of
    ``Forwarded`` (RFC 7239) when it has one, else ``X-Forwarded-For``'s items. Each header's
    lines joined with commas, as HTTP allows."""
    hops = []
    for element in forwarded.split(","):
        for pair in element.split(";"):
            name, sep, value = pair.partition("=")
            if sep and name.strip().lower() == "for":
                hops.append(value)
    if hops:
        return hops
    return [item for item in x_forwarded_for.split(",") if item.strip()]


def client_address(peer: str, trusted_networks: tuple[Network, ...], forwarded: str,
                   x_forwarded_for: str) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy; then the right-most hop
    the chain names that is not a trusted proxy (all of them trusted: the left-most), and
    ``peer`` again when the chain names no hop, or the one it would take is not an address
    (``unknown``, an obfuscated name: nothing to count a client by)."""
    if not trusted(peer, trusted_networks):
        return peer
    hops = forwarded_hops(forwarded, x_forwarded_for)
    found: Address | None = None
    for hop in reversed(hops):
        found = _node(hop)
        if found is None:
            return peer
        if not any(found in net for net in trusted_networks):
            break
    return str(found) if found is not None else peer
