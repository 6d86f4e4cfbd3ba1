"""`write-floor`: what one fan-out write costs on this machine before any server code runs.

The server's fan-out writes the same frame to every viewer's socket once per tick, so its CPU per
delivery can never fall below (cost of one ``send`` to a loopback TCP socket) / (events per
frame). This command measures that cost the way the server pays it: a process writes one frame to
each of N connected sockets per round (uvloop transports, like the server) while another process
reads them (like the generator), and the writer's own CPU time (user + system, from getrusage) is
divided by the number of writes. On loopback the system time includes the receiving side's TCP
work and its wake-up, exactly as it does for the server under a load test on one machine.

Run: ``python -m loadtest write-floor [--sockets 3000] [--bytes 400] [--rounds 40]``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import sys
import time
from typing import Any

import orjson


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sockets", type=int, default=3000, help="connected sockets (default 3000)")
    p.add_argument("--bytes", type=int, default=400,
                   help="frame size written per socket per round (default 400)")
    p.add_argument("--rounds", type=int, default=40, help="write rounds (default 40)")
    p.add_argument("--interval-ms", type=int, default=100,
                   help="pause between rounds, like the server's tick (default 100)")
    p.add_argument("--events-per-write", type=float, action="append", default=[],
                   help="also print the floor in ms per 1k deliveries at this many events per "
                        "frame (repeatable; default 2 and 10)")


def measure(sockets: int = 3000, size: int = 400, rounds: int = 30,
            interval_ms: int = 100) -> dict[str, Any]:
    """The write floor as a dict (what `write-floor` prints as JSON), for `check`'s notes."""
    ns = argparse.Namespace(sockets=sockets, bytes=size, rounds=rounds,
                            interval_ms=interval_ms, events_per_write=[])
    result: dict[str, Any] = _run(_measure(ns))
    return result


def floor_note(per_write_us: float, ours: dict[str, Any], peer: dict[str, Any]) -> str | None:
    """What the floor means for one compare run: the least CPU per 1,000 deliveries any server
    could spend at this run's events per frame, as a ratio to the peer's."""
    through = ours.get("figures", {}).get("throughput", {})
    peer_cpu = peer.get("figures", {}).get("server", {}).get("cpu_ms_per_1k_deliveries")
    frames, deliveries = through.get("frames_per_s"), through.get("deliveries_per_s")
    if not frames or not deliveries or not peer_cpu:
        return None
    per_frame = deliveries / frames
    least = per_write_us / per_frame
    return (f"write floor {per_write_us:.2f} us per write, {per_frame:.1f} events per frame: at "
            f"least {least:.3f} ms per 1k deliveries = {least / peer_cpu:.4f} of the peer's")


async def _measure(ns: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    conns: list[asyncio.Transport] = []
    ready = asyncio.Event()

    class Sink(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            conns.append(transport)  # type: ignore[arg-type]
            if len(conns) == ns.sockets:
                ready.set()

    server = await loop.create_server(Sink, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest.floor", "--read", str(port), str(ns.sockets),
        stdout=asyncio.subprocess.PIPE)
    try:
        await asyncio.wait_for(ready.wait(), 60)
        frame = bytes([0x81, 126]) + ns.bytes.to_bytes(2, "big") + b"x" * ns.bytes
        await asyncio.sleep(0.5)
        t0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        for _ in range(ns.rounds):
            for transport in conns:
                transport.write(frame)
            await asyncio.sleep(ns.interval_ms / 1000)
        t1, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - w0
        for transport in conns:
            transport.close()
        out, _ = await asyncio.wait_for(reader.communicate(), 60)
    finally:
        if reader.returncode is None:
            reader.kill()
            await reader.wait()
        server.close()
    writes = ns.rounds * len(conns)
    user, system = t1.ru_utime - t0.ru_utime, t1.ru_stime - t0.ru_stime
    per_write_us = (user + system) / writes * 1e6
    received = int(out.decode().strip() or 0)
    return {
        "sockets": len(conns), "frame_bytes": len(frame), "rounds": ns.rounds,
        "writes": writes, "bytes_expected": writes * len(frame), "bytes_received": received,
        "wall_s": round(wall, 3),
        "cpu_us_per_write": round(per_write_us, 3),
        "user_us_per_write": round(user / writes * 1e6, 3),
        "system_us_per_write": round(system / writes * 1e6, 3),
        "floor_ms_per_1k_deliveries": {
            str(e): round(per_write_us / e, 3) for e in (ns.events_per_write or [2.0, 10.0])},
    }


async def _read(port: int, n: int) -> int:
    """The reading side: n connections that count bytes until the writer closes them."""
    loop = asyncio.get_running_loop()
    total = 0
    done = 0
    finished = asyncio.Event()

    class Reader(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            nonlocal total
            total += len(data)

        def connection_lost(self, exc: Exception | None) -> None:
            nonlocal done
            done += 1
            if done == n:
                finished.set()

    for _ in range(n):
        await loop.create_connection(Reader, "127.0.0.1", port)
    await asyncio.wait_for(finished.wait(), 600)
    return total


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed with the project
        return asyncio.run(coro)
    return uvloop.run(coro)


def run_floor(ns: argparse.Namespace) -> int:
    result = _run(_measure(ns))
    print(f"write floor   {result['sockets']:,} sockets x {result['rounds']} rounds of "
          f"{result['frame_bytes']} B: {result['cpu_us_per_write']:.2f} us CPU per write "
          f"(user {result['user_us_per_write']:.2f}, system {result['system_us_per_write']:.2f})")
    for events, ms in result["floor_ms_per_1k_deliveries"].items():
        print(f"  at {float(events):g} events per frame: at least {ms:.3f} ms of CPU per "
              f"1,000 deliveries")
    print(orjson.dumps(result).decode())
    return 0 if result["bytes_received"] == result["bytes_expected"] else 1


if __name__ == "__main__":  # the reading side, started by _measure
    if len(sys.argv) == 4 and sys.argv[1] == "--read":
        socket.setdefaulttimeout(None)
        print(_run(_read(int(sys.argv[2]), int(sys.argv[3]))), flush=True)
