"""Several "hosts" inside this machine: a network namespace per host, each with its own address
on a private bridge the test makes, a server process in each, and HAProxy in front.

Per pytest process (``P`` its pid):

- bridge ``lsbrP`` in the host's namespace with ``10.252.x.1/24`` (the /24 chosen from
  10.252.0.0/16 by the pid, skipping any that overlaps an address or route the machine has),
  answering ARP for that address only (``arp_ignore=1``);
- namespace ``live-host-P-i`` per host ``i``: ``lo`` up and ``lspPxi`` with ``10.252.x.(10+i)/24``,
  the other end ``lshPxi`` a port of the bridge;
- the Valkey Cluster's nodes listen on ``10.252.x.1`` (and announce it in the slot map), so every
  host reaches every node, and so does the test itself;
- each host's server listens on its own address (``serve --host 10.252.x.(10+i)``), started with
  ``ip netns exec``, which execs: the pid is the server's, killed by that pid;
- HAProxy, in the host's namespace, listens on 127.0.0.1 and balances over the hosts.

A run that was killed leaves its namespaces, bridge and veths behind; the next run removes those
whose creating process is gone (the pid in the name). Every process started here gets SIGTERM
from the kernel if the test process dies (PR_SET_PDEATHSIG)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from live_server.store.embedded import die_with_parent, free_port
from tests.cluster_support import ValkeyCluster
from tests.conftest import ROOT, TEST_SECRET, wait_ready
from tests.netns_support import NamespaceError, free_subnet, ip, remove_leftovers

PREFIX = "live-host-"
BRIDGE, HOST_END, INSIDE_END = "lsbr", "lsh", "lsp"  # + pid (+ "x" + host): under 15 chars
RANGE = ipaddress.IPv4Network("10.252.0.0/16")
SERVER_PORT = 8080  # the same in every namespace: each has its own ports

NEEDS = ("the multi-host test puts server processes in network namespaces of their own on a "
         "bridge (root, `ip` from Debian's iproute2) behind HAProxy (Debian's haproxy, which "
         "scripts/test.sh installs when missing)")


def remove_dead_runs() -> list[str]:
    """What killed runs of this file left: namespaces, then bridges and host-side veth ends."""
    return remove_leftovers(rf"{PREFIX}(?P<pid>\d+)-\d+",
                            rf"(?:{BRIDGE}|{HOST_END})(?P<pid>\d+)(?:x\d+)?")


@dataclass
class Hosts:
    """The bridge and the namespaces: ``gateway`` is the bridge's address (the cluster's and
    the balancer's side), ``addresses[i]`` host ``i``'s."""

    count: int
    pid: int = field(default_factory=os.getpid)
    gateway: str = ""
    addresses: list[str] = field(default_factory=list)
    made: bool = False

    @property
    def bridge(self) -> str:
        return f"{BRIDGE}{self.pid}"

    def namespace(self, i: int) -> str:
        return f"{PREFIX}{self.pid}-{i}"

    def create(self) -> None:
        """The bridge and one namespace per host; on any failure whatever was made is removed
        again."""
        remove_dead_runs()
        subnet = free_subnet(RANGE, 24, self.pid)
        self.gateway = str(subnet[1])
        self.addresses = [str(subnet[10 + i]) for i in range(self.count)]
        self.made = True
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            try:
                Path(f"/proc/sys/net/ipv4/conf/{self.bridge}/arp_ignore").write_text("1\n")
            except OSError as exc:
                raise NamespaceError(f"arp_ignore on {self.bridge}: {exc}") from exc
            ip("link", "set", self.bridge, "up")
            for i, address in enumerate(self.addresses):
                ns, outer, inner = (self.namespace(i), f"{HOST_END}{self.pid}x{i}",
                                    f"{INSIDE_END}{self.pid}x{i}")
                ip("netns", "add", ns)
                ip("link", "add", outer, "type", "veth", "peer", "name", inner)
                ip("link", "set", inner, "netns", ns)
                ip("link", "set", outer, "master", self.bridge)
                ip("link", "set", outer, "up")
                ip("-n", ns, "addr", "add", f"{address}/24", "dev", inner)
                ip("-n", ns, "link", "set", "lo", "up")
                ip("-n", ns, "link", "set", inner, "up")
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        """The namespaces (their veth ends and so the bridge's go with them), then the bridge."""
        if not self.made:
            return
        with contextlib.suppress(NamespaceError):
            for i in range(self.count):
                ip("link", "del", f"{HOST_END}{self.pid}x{i}", check=False)
                ip("netns", "del", self.namespace(i), check=False)
            ip("link", "del", self.bridge, check=False)
        self.made = False


@dataclass
class HostServer:
    """``python -m live_server serve`` in one host's namespace."""

    index: int
    address: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://{self.address}:{SERVER_PORT}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL by pid: the host is gone without a word (no close frames, no goodbye)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def server_env(store_url: str, key_prefix: str, address: str, proxy: str,
               extra: dict[str, str]) -> dict[str, str]:
    """The settings of every host's server: one store, one key prefix, its own address, and the
    balancer (``proxy``: the bridge address it reaches the hosts from) trusted to name each
    client, so the per-IP connection cap counts clients, not the balancer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_") and k != "REDIS_URL"}
    env.update({
        "LIVE_AUTH_SECRET": TEST_SECRET, "LIVE_STORE_KEY_PREFIX": key_prefix,
        "LIVE_SERVER_ENV": "test", "LIVE_SERVER_PROCESS_HEARTBEAT_MS": "300",
        "LIVE_SERVER_PROCESS_TTL_MS": "1200", "PYTHONUNBUFFERED": "1",
        # every client arrives from the balancer's address; its X-Forwarded-For names the client
        "LIVE_HTTP_TRUSTED_PROXIES": proxy,
        "LIVE_MEDIA_ICE_ADDRESSES": address,
        "REDIS_URL": store_url,
    })
    env.update(extra)
    return env


def start_server(hosts: Hosts, i: int, store_url: str, key_prefix: str, folder: Path,
                 extra: dict[str, str]) -> HostServer:
    """Host ``i``'s server, listening on its own address (readiness is the caller's to await)."""
    address = hosts.addresses[i]
    env = server_env(store_url, key_prefix, address, hosts.gateway, extra)
    log_path = folder / f"host-{i}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", hosts.namespace(i), sys.executable, "-m", "live_server",
             "serve", "--host", address, "--port", str(SERVER_PORT)],
            env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT,
            preexec_fn=functools.partial(die_with_parent, os.getpid()))
    return HostServer(i, address, proc, log_path, env)


def new_key_prefix() -> str:
    return "h" + secrets.token_hex(4)


HAPROXY_CONFIG = """\
global
    maxconn 4096
    stats socket {folder}/haproxy.sock mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    # a websocket, once upgraded, is a tunnel: this is its idle timeout
    timeout tunnel 1h
    timeout http-keep-alive 5s
    # a connection refused by a host that died before its health check failed goes to another
    retries 2
    option redispatch 1

frontend live
    bind {bind}:{port}
    option forwardfor
    default_backend hosts

backend hosts
{balance}
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
{servers}
"""


ROUND_ROBIN = "    balance roundrobin"
# Rooms routed to hosts (docs/OPERATIONS.md, "Several hosts"): the fourth '/'-field of
# /ws/rooms/<room id> and /api/rooms/<room id>/..., on a consistent-hash ring, so a room's
# viewers and its publisher share a host and a host that goes moves only its own rooms; each
# answer names the host that served it.
ROOM_HASH = """\
    balance hash path,field(4,/)
    hash-type consistent
    http-response set-header X-Served-By %[srv_name]"""


@dataclass
class Balancer:
    """HAProxy as a child process, configured for the hosts, stopped by its pid."""

    folder: Path
    backends: list[str]  # host:port
    bind: str = "127.0.0.1"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    # how the backend picks a host: ROUND_ROBIN, or ROOM_HASH (rooms routed by their id)
    balance: str = ROUND_ROBIN

    @property
    def url(self) -> str:
        return f"http://{self.bind}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.folder / "haproxy.cfg"

    def config(self) -> str:
        servers = "\n".join(f"    server h{i} {backend} check"
                            for i, backend in enumerate(self.backends))
        return HAPROXY_CONFIG.format(folder=self.folder, bind=self.bind, port=self.port,
                                     servers=servers, balance=self.balance)

    def start(self) -> None:
        self.port = self.port or free_port(self.bind)
        self.config_path.write_text(self.config())
        log_path = self.folder / "haproxy.log"
        with log_path.open("wb") as log_file:
            # -db: in the foreground, not a daemon (so the pid is HAProxy's own)
            self.proc = subprocess.Popen(
                ["haproxy", "-db", "-f", str(self.config_path)], stdout=log_file,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=functools.partial(die_with_parent, os.getpid()))

    def stats(self) -> dict[str, dict[str, str]]:
        """The backend's servers as HAProxy sees them (``show stat``): name → its row (status
        UP/DOWN, scur: current sessions, stot: total); none while it is starting."""
        assert self.proc is not None and self.proc.poll() is None, (
            f"HAProxy is not running:\n{(self.folder / 'haproxy.log').read_text()}")
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            try:
                s.connect(str(self.folder / "haproxy.sock"))
            except (FileNotFoundError, ConnectionRefusedError):
                return {}
            s.sendall(b"show stat\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        lines = b"".join(chunks).decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
        return {row["svname"]: row for row in rows if row.get("pxname") == "hosts"
                and row["svname"] not in ("BACKEND", "FRONTEND")}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


WAIT_S = 30.0


async def until(what: str, check: Any, timeout: float = WAIT_S) -> Any:
    """``await check()`` again every 0.1 s until it is truthy (its value), failing with
    ``what`` after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert loop.time() < deadline, what
        await asyncio.sleep(0.1)


@dataclass
class Deployment:
    """What ``deployment`` started: the cluster, a server per host, HAProxy, their key
    prefix."""

    cluster: ValkeyCluster
    servers: list[HostServer]
    balancer: Balancer
    prefix: str


@contextlib.asynccontextmanager
async def deployment(hosts: Hosts, folder: Path, env: dict[str, str], *, replicas: int = 1,
                     balance: str = ROUND_ROBIN) -> AsyncIterator[Deployment]:
    """A 3-master Valkey Cluster on the bridge, a server on every host, HAProxy in front with
    every host up; all stopped (by pid) afterwards."""
    cluster = ValkeyCluster(masters=3, replicas=replicas, host=hosts.gateway)
    balancer = Balancer(folder, [f"{a}:{SERVER_PORT}" for a in hosts.addresses],
                        balance=balance)
    servers: list[HostServer] = []
    try:
        cluster.start()
        prefix = new_key_prefix()
        servers = [start_server(hosts, i, cluster.url, prefix, folder, env)
                   for i in range(len(hosts.addresses))]
        for server in servers:
            try:
                await wait_ready(server.url, server.proc)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n{server.log_path.read_text()}") from None
        balancer.start()
        loop = asyncio.get_running_loop()

        async def all_up() -> bool:
            stats = await loop.run_in_executor(None, balancer.stats)
            return len(stats) == len(servers) and all(row["status"] == "UP"
                                                      for row in stats.values())
        await until(f"HAProxy never saw every host up:\n{balancer.config()}", all_up)
        yield Deployment(cluster, servers, balancer, prefix)
    finally:
        balancer.stop()
        for server in servers:
            server.stop()
        cluster.stop()
