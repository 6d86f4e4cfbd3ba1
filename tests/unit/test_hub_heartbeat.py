"""The heartbeat judges a socket from when it takes part in the room: a join that waited longer
than the dead-after period (a slow store, a subscription confirmed late) is not mistaken for a
dead peer at the first heartbeat round after its welcome."""

from __future__ import annotations

import asyncio

from live_server.realtime.conn import Conn
from live_server.realtime.frames import PING_FRAME
from live_server.realtime.hub import Hub, HubStats


class _Transport:
    def __init__(self) -> None:
        self.data = b""
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.aborted

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        pass


def _hub() -> Hub:
    return Hub(max_out_buffer=1 << 20, slow_close_grace_ms=100, join_names=3,
               max_batch_events=500, stats=HubStats(lambda *a: None, lambda: None, lambda: None))


async def test_a_slow_join_is_pinged_not_cut_off_after_its_welcome() -> None:
    hub = _hub()
    transport = _Transport()
    conn = Conn(room_id="r1", transport=transport, user_id="u", name="U", role="viewer")
    hub.attach(conn)
    conn.seen_at -= 1.0  # the join took a second: nothing was heard meanwhile, nothing pinged
    hub.activate(conn, 0, [b"welcome"])
    hub.ping_all(asyncio.get_running_loop().time(), dead_after=0.6)
    assert not transport.aborted
    assert transport.data.endswith(PING_FRAME)
    assert hub.connection_count == 1


async def test_a_silent_socket_is_still_cut_off_a_period_after_its_welcome() -> None:
    hub = _hub()
    transport = _Transport()
    conn = Conn(room_id="r1", transport=transport, user_id="u", name="U", role="viewer")
    hub.attach(conn)
    hub.activate(conn, 0, [b"welcome"])
    hub.ping_all(asyncio.get_running_loop().time() + 1.0, dead_after=0.6)
    assert transport.aborted
    assert conn.close_code == 1006
