"""What the tests that build network namespaces share (the browser tests' Chromium namespace,
the multi-host test's "hosts"): the ``ip`` command, the removal of what a killed run left
behind, and the choice of a private subnet that overlaps nothing the machine uses.

Every name a test gives a namespace or link carries the pid of the process that made it, so a
later run can tell its own (and a parallel run's, whose process is alive) from a dead run's
leftovers and remove only those."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import subprocess

ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "anycast", "blackhole",
               "unreachable", "prohibit", "throw", "nat"}


class NamespaceError(Exception):
    """The namespace could not be made (not root, no ``ip``, no free subnet)."""


def ip(*args: str, check: bool = True) -> str:
    try:
        done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        raise NamespaceError("no `ip` command") from exc
    if check and done.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(namespaces: str, links: str) -> list[str]:
    """Namespaces and host-side links whose names match the patterns (each with a group
    ``pid``) left by runs whose process is gone; the names removed. A live process's are never
    touched (another worker's, or a run going on in parallel). Removing a namespace removes the
    veth ends inside it and so their peers."""
    removed = []
    for line in ip("netns", "list").splitlines():
        name = line.split(" ", 1)[0]
        found = re.fullmatch(namespaces, name)
        if found and not alive(int(found["pid"])):
            ip("netns", "del", name, check=False)
            removed.append(name)
    for line in ip("-o", "link", "show").splitlines():
        found = re.match(rf"\d+: ({links})[@:]", line)
        if found and not alive(int(found["pid"])):
            ip("link", "del", found[1], check=False)
            removed.append(found[1])
    return removed


def networks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the machine has an address in or a route to (the default route
    aside: it overlaps everything)."""
    found = []
    for line in ip("-o", "-4", "addr", "show").splitlines():
        words = line.split()
        if "inet" in words:
            found.append(ipaddress.IPv4Interface(words[words.index("inet") + 1]).network)
    for line in ip("-4", "route", "show", "table", "all").splitlines():
        words = line.split()
        if words and words[0] in ROUTE_TYPES:
            words = words[1:]
        if words and words[0] != "default":
            with contextlib.suppress(ValueError):
                found.append(ipaddress.IPv4Network(words[0], strict=False))
    return found


def free_subnet(within: ipaddress.IPv4Network, prefix: int, pid: int) -> ipaddress.IPv4Network:
    """A /``prefix`` of ``within`` that overlaps nothing the machine uses, the first from the
    pid's own on (so concurrent processes start apart)."""
    used = networks_in_use()
    size = 2 ** (32 - prefix)
    count = within.num_addresses // size
    for k in range(count):
        index = (pid + k) % count
        subnet = ipaddress.IPv4Network((int(within.network_address) + size * index, prefix))
        if not any(subnet.overlaps(other) for other in used):
            return subnet
    raise NamespaceError(f"every /{prefix} of {within} overlaps an address or route in use")
