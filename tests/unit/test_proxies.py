"""The client behind a proxy chain (``domain.proxies``): believed only from a trusted peer, the
right-most hop that is not a trusted proxy, and never a name that is not an address."""

from __future__ import annotations

import pytest

from live_server.domain.proxies import client_address, networks

TRUSTED = networks(("127.0.0.1", "10.0.0.0/8", "fd00::/8"))


@pytest.mark.parametrize(("peer", "forwarded", "xff", "client"), [
    # a peer that is not a trusted proxy is the client, whatever it sends
    ("192.0.2.5", "for=198.51.100.1", "198.51.100.1", "192.0.2.5"),
    # X-Forwarded-For: right-most untrusted, past a chain of trusted proxies
    ("127.0.0.1", "", "198.51.100.1", "198.51.100.1"),
    ("127.0.0.1", "", "6.6.6.6, 198.51.100.1, 10.0.0.2", "198.51.100.1"),
    ("10.0.0.3", "", "10.0.0.9,10.0.0.2", "10.0.0.9"),  # all trusted: the left-most
    # Forwarded (RFC 7239) wins over X-Forwarded-For; quoted, with ports, IPv6 in brackets
    ("127.0.0.1", 'for="[2001:db8::1]:4711";proto=https, for=10.0.0.2', "203.0.113.9",
     "2001:db8::1"),
    ("127.0.0.1", "for=198.51.100.1:80", "", "198.51.100.1"),
    ("127.0.0.1", "proto=https;host=a.example", "198.51.100.2", "198.51.100.2"),  # no for=
    ("::ffff:127.0.0.1", "", "198.51.100.3", "198.51.100.3"),  # an IPv4 peer on a v6 socket
    # nothing usable named: the proxy's own address
    ("127.0.0.1", "", "", "127.0.0.1"),
    ("127.0.0.1", "for=unknown", "", "127.0.0.1"),
    ("127.0.0.1", 'for=198.51.100.1, for="_hidden"', "", "127.0.0.1"),
])
def test_client_address(peer: str, forwarded: str, xff: str, client: str) -> None:
    assert client_address(peer, TRUSTED, forwarded, xff) == client


def test_no_trusted_proxies_no_forwarding() -> None:
    assert client_address("127.0.0.1", (), "for=198.51.100.1", "198.51.100.1") == "127.0.0.1"
