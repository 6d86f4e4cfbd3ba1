"""The hub keeps only the newest stock-left event per product variant and sends it with the next
tick (two variants of one product, or a sale's units and ordinary ones, never hide each other),
over a real socket (a socket pair), parsed by an independent websocket frame parser."""

from __future__ import annotations

import asyncio
import socket

import orjson
from websockets.frames import Frame
from websockets.streams import StreamReader

from live_server.realtime.conn import Conn
from live_server.realtime.hub import Hub, HubStats


def _frames(data: bytes) -> list[dict[str, object]]:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    out = []
    while reader.buffer:
        gen = Frame.parse(reader.read_exact, mask=False)
        try:
            next(gen)
        except StopIteration as done:
            out.append(orjson.loads(done.value.data))
    return out


async def joined_hub() -> tuple[Hub, asyncio.BaseTransport, socket.socket]:
    """A hub with one viewer joined in room r1 over a real socket pair: (hub, the server's
    transport, the client's end to read the frames from)."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    hub = Hub(max_out_buffer=1 << 20, slow_close_grace_ms=100, join_names=3,
              max_batch_events=500, stats=HubStats(lambda *a: None, lambda: None, lambda: None))
    conn = Conn(room_id="r1", transport=transport, user_id="u", name="U", role="viewer")  # type: ignore[arg-type]
    hub.attach(conn)
    hub.activate(conn, 0, [])
    return hub, transport, theirs


async def test_stock_events_coalesce_to_the_latest_per_product_per_tick() -> None:
    hub, transport, theirs = await joined_hub()

    def stock(pid: str, left: int, variant: str = "v0", sale: str | None = None) -> bytes:
        # as buy.lua publishes it (built by ev_stock in _lib.lua, checked in test_lua_events)
        return orjson.dumps({"type": "stock", "ts": 1, "data": {
            "product_id": pid, "variant_id": variant, "sale_id": sale, "left": left}})
    for left in range(50, 0, -1):
        hub.deliver("r1", stock("p_a", left))
    hub.deliver("r1", stock("p_b", 7))
    hub.deliver("r1", stock("p_b", 5, "v_red"))
    hub.deliver("r1", stock("p_b", 2, "v0", "s_1"))  # the sale's units, apart from ordinary ones
    hub.tick()
    hub.tick()  # nothing new: nothing sent
    for left in (3, 2):
        hub.deliver("r1", stock("p_a", left))
    hub.tick()
    await asyncio.sleep(0.05)
    theirs.setblocking(False)
    data = theirs.recv(1 << 20)
    frames = _frames(data)
    assert [[(e["data"]["product_id"], e["data"]["variant_id"], e["data"]["left"])  # type: ignore[index]
             for e in f["events"]] for f in frames] == [  # type: ignore[index]
        [("p_a", "v0", 1), ("p_b", "v0", 7), ("p_b", "v_red", 5), ("p_b", "v0", 2)],
        [("p_a", "v0", 2)]]
    transport.close()
    theirs.close()
