"""A frame's datagrams batched with UDP GSO (media/datagrams.py), on real loopback sockets: the
receiver gets the same datagrams in the same order, in fewer system calls."""

from __future__ import annotations

import asyncio
import socket

from live_server.media.datagrams import MAX_SEGMENTS, DatagramSender, runs


def test_runs_are_equal_sizes_closed_by_one_smaller() -> None:
    assert runs([]) == []
    assert runs([1000]) == [(0, 1)]
    assert runs([1000, 1000, 1000]) == [(0, 3)]
    assert runs([1000, 1000, 900, 900]) == [(0, 3), (3, 4)]
    assert runs([30, 1200, 1200, 1100]) == [(0, 1), (1, 4)]
    assert runs([900, 1000, 1000]) == [(0, 1), (1, 3)]
    assert runs([1000] * (MAX_SEGMENTS + 2)) == [(0, MAX_SEGMENTS),
                                                  (MAX_SEGMENTS, MAX_SEGMENTS + 2)]
    big = runs([1400] * 60)  # 84,000 bytes: over one UDP datagram
    assert all(sum([1400] * (end - start)) <= 65000 for start, end in big)
    assert big[0] == (0, 46) and big[-1][1] == 60


async def test_the_receiver_gets_every_datagram_in_order() -> None:
    loop = asyncio.get_running_loop()
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    receiver.setblocking(False)
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                       local_addr=("127.0.0.1", 0))
    sender = DatagramSender(transport)  # type: ignore[arg-type]
    try:
        frames = [[bytes([n, i]) * 600 for i in range(4)] + [bytes([n, 9]) * 20]
                  for n in range(20)]
        for frame in frames:
            sender.send(frame, receiver.getsockname())
        got = []
        for _ in range(100):
            try:
                got.append(receiver.recv(2000))
            except BlockingIOError:
                await asyncio.sleep(0.01)
            if len(got) == 100:
                break
        assert got == [d for frame in frames for d in frame]
        assert sender.calls == len(frames)  # four of 1200 bytes and the closing 40: one call
    finally:
        sender.close()
        transport.close()
        receiver.close()


async def test_a_single_datagram_goes_through_the_transport() -> None:
    loop = asyncio.get_running_loop()
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2)
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                       local_addr=("127.0.0.1", 0))
    sender = DatagramSender(transport)  # type: ignore[arg-type]
    try:
        sender.send([b"audio"], receiver.getsockname())
        assert await loop.run_in_executor(None, receiver.recv, 100) == b"audio"
        assert sender.calls == 1
    finally:
        sender.close()
        transport.close()
        receiver.close()
