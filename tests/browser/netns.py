"""Where the browser tests' Chromium runs: a network namespace this test process creates, whose
only interfaces are its own loopback and one end of a veth pair; the other end, in the host's
namespace, carries the addresses the test servers listen and gather WebRTC candidates on.

Why a namespace: the project's WebRTC test peers gather candidates on loopback or on addresses of
a namespace the test creates, never on the machine's other interfaces. aiortc is told which
addresses to use (``media.ice_addresses``); Chromium cannot be: no switch or policy limits its
candidates to loopback (the WebRtcIPHandling policies choose among public, private and
default-route interfaces). Inside the namespace the only address it can find is the veth end's.

Per pytest process (``P`` its pid, so every xdist worker has its own):

- namespace ``live-browser-P``: ``lo`` up, ``lbpP`` with ``10.251.a.b+2/30``, and a default route
  out of ``lbpP`` (Chromium counts a machine without a default route as offline and gathers no
  candidates at all);
- host side ``lbhP`` with ``10.251.a.b+1/30``, answering ARP for that address only
  (``arp_ignore=1``), so nothing of the host but that address is reachable from inside;
- the /30 chosen from 10.251.0.0/16 by the pid, skipping any that overlaps an address or route
  the machine already has.

Playwright talks to Chromium over pipes, so a two-line wrapper (``exec ip netns exec ...``) given
as ``executable_path`` runs it inside. A page on ``http://10.251.a.b+1:PORT`` is not a secure
context (getUserMedia needs one, as on 127.0.0.1), and Chromium's
``--unsafely-treat-insecure-origin-as-secure`` takes whole origins, port included: so the
servers take their ports from a pool chosen when the namespace is made, whose origins Chromium
is given at launch.

A run that was killed leaves its namespace and veth behind; the next run removes those whose
creating process is gone (the pid in the name).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shlex
import shutil
import socket
import tempfile
from pathlib import Path

from tests import netns_support
from tests.netns_support import NamespaceError, ip

__all__ = ["NEEDS", "BrowserNetwork", "NamespaceError", "ip"]

PREFIX = "live-browser-"
HOST_END, INSIDE_END = "lbh", "lbp"  # + pid: at most 10 characters (interface names: 15)
RANGE = ipaddress.IPv4Network("10.251.0.0/16")
POOL = 12  # server ports per run; a test module holds one to three servers at a time

NEEDS = ("the browser tests run Chromium in a network namespace of their own (ip netns and a "
         "veth pair): that needs root and the `ip` command (Debian's iproute2, which "
         "scripts/test.sh installs when missing)")


def _inside(namespace: str, *settings: str) -> None:
    """Set each /proc/sys ``settings`` path to 1 inside ``namespace`` (a shell rather than
    ``sysctl``, which a minimal machine may lack)."""
    script = "[ -d /proc/sys/net/ipv6 ] || exit 0; " + "; ".join(  # a kernel without IPv6
        f"echo 1 > /proc/sys/{path}" for path in settings)
    ip("netns", "exec", namespace, "sh", "-c", script)


def remove_leftovers() -> list[str]:
    """This file's namespaces and host-side veth ends left by runs whose process is gone."""
    return netns_support.remove_leftovers(rf"{PREFIX}(?P<pid>\d+)", rf"{HOST_END}(?P<pid>\d+)")


def free_subnet(pid: int) -> ipaddress.IPv4Network:
    """A /30 of 10.251.0.0/16 that overlaps nothing the machine uses."""
    return netns_support.free_subnet(RANGE, 30, pid)


def bindable(host: str, port: int) -> bool:
    """The port is free on this address for a server (which sets SO_REUSEADDR, as here)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class BrowserNetwork:
    """Where Chromium runs and the servers it opens listen: ``host`` is the servers' address
    (where they listen and gather WebRTC candidates; the test's own Python reaches them there
    too), ``browser_address`` Chromium's only address (``None``: Chromium runs in the host's
    namespace, for a server given by ``LIVE_BROWSER_URL``)."""

    def __init__(self, chromium: str, host: str, browser_address: str | None = None,
                 name: str | None = None, folder: Path | None = None) -> None:
        self.chromium = chromium
        self.host = host
        self.browser_address = browser_address
        self.name = name  # the namespace's
        self.folder = folder  # the wrapper's
        self.ports: list[int] = []  # the pool (a namespace's servers only)
        self.held: set[int] = set()

    @classmethod
    def loopback(cls, chromium: str) -> BrowserNetwork:
        """Chromium in the host's namespace, servers on 127.0.0.1 (a server that already runs,
        given by LIVE_BROWSER_URL, is reached where it is)."""
        return cls(chromium, "127.0.0.1")

    @classmethod
    def create(cls, chromium: str) -> BrowserNetwork:
        """This process's namespace, veth pair, port pool and Chromium wrapper; on any failure
        whatever was made is removed again."""
        pid = os.getpid()
        remove_leftovers()
        subnet = free_subnet(pid)
        host, inside = subnet[1], subnet[2]
        net = cls(chromium, str(host), str(inside), f"{PREFIX}{pid}")
        outer, inner = f"{HOST_END}{pid}", f"{INSIDE_END}{pid}"
        try:
            ip("netns", "add", f"{PREFIX}{pid}")
            # No IPv6 inside: a link-local address settling a second or two after the link
            # comes up is a network change to Chromium, which then fails the requests in
            # flight with ERR_NETWORK_CHANGED (seen on a module's first page). Set before the
            # veth end moves in, so it is made without IPv6 too.
            _inside(f"{PREFIX}{pid}", "net/ipv6/conf/all/disable_ipv6",
                    "net/ipv6/conf/default/disable_ipv6")
            ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            ip("link", "set", inner, "netns", f"{PREFIX}{pid}")
            _inside(f"{PREFIX}{pid}", f"net/ipv6/conf/{inner}/disable_ipv6")
            ip("addr", "add", f"{host}/30", "dev", outer)
            try:
                Path(f"/proc/sys/net/ipv4/conf/{outer}/arp_ignore").write_text("1\n")
            except OSError as exc:
                raise NamespaceError(f"arp_ignore on {outer}: {exc}") from exc
            ip("link", "set", outer, "up")
            ns = ("-n", f"{PREFIX}{pid}")
            ip(*ns, "addr", "add", f"{inside}/30", "dev", inner)
            ip(*ns, "link", "set", "lo", "up")
            ip(*ns, "link", "set", inner, "up")
            ip(*ns, "route", "add", "default", "dev", inner)
            net.ports = net._pool()
            net.folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{pid}-"))
            wrapper = net.folder / "chromium"
            wrapper.write_text(f"#!/bin/sh\nexec ip netns exec {shlex.quote(net.name or '')} "
                               f"{shlex.quote(chromium)} \"$@\"\n")
            wrapper.chmod(0o755)
        except BaseException:
            net.remove()
            raise
        return net

    def _pool(self) -> list[int]:
        """POOL distinct ports free on the host address now (held open together, so the
        kernel hands out different ones)."""
        with contextlib.ExitStack() as stack:
            ports = []
            for _ in range(POOL):
                s = stack.enter_context(socket.socket())
                s.bind((self.host, 0))
                ports.append(int(s.getsockname()[1]))
        return ports

    @property
    def executable(self) -> str:
        """What Playwright starts: the wrapper that enters the namespace, or Chromium itself."""
        return str(self.folder / "chromium") if self.folder else self.chromium

    def chromium_args(self) -> list[str]:
        if self.name is None:
            # toward a server on 127.0.0.1: Chromium leaves its loopback address out of its
            # candidates unless told
            return ["--allow-loopback-in-peer-connection"]
        origins = ",".join(f"http://{self.host}:{port}" for port in self.ports)
        return [f"--unsafely-treat-insecure-origin-as-secure={origins}"]

    def take_port(self) -> int:
        """A port for a server, held until ``give_back`` (a server restarted keeps its own)."""
        if self.name is None:
            return free_port(self.host)
        for port in self.ports:
            if port not in self.held and bindable(self.host, port):
                self.held.add(port)
                return port
        raise RuntimeError(f"no free port left of the {POOL} Chromium treats as secure "
                           f"(held: {sorted(self.held)})")

    def give_back(self, port: int) -> None:
        self.held.discard(port)

    def remove(self) -> None:
        """The veth pair (both ends go with the host's), the namespace and the wrapper."""
        if self.name is not None:
            pid = self.name.removeprefix(PREFIX)
            with contextlib.suppress(NamespaceError):  # no `ip`: nothing was made
                ip("link", "del", f"{HOST_END}{pid}", check=False)
                ip("netns", "del", self.name, check=False)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
