"""A kicked connection (ban, shutdown) gets nothing from the hub after its close frame, even when
the kick lands while it is still joining."""

from __future__ import annotations

import orjson

from live_server import events
from live_server.events import RoomEvent
from live_server.realtime.conn import Conn
from live_server.realtime.hub import Hub, HubStats


class _Transport:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


def _hub() -> Hub:
    return Hub(max_out_buffer=1 << 20, slow_close_grace_ms=100, join_names=3,
               max_batch_events=500, stats=HubStats(lambda *a: None, lambda: None, lambda: None))


def _published(ev: RoomEvent, seq: int) -> bytes:
    """The event as the store publishes it once sequenced (``append_event`` adds ``seq``)."""
    return orjson.dumps({"seq": seq, **orjson.loads(ev.body)})


def _chat(seq: int) -> bytes:
    return _published(events.chat(user_id="v", name="V", role="viewer", level=0,
                                  fan_club=False, text="hi", masked=False), seq)


async def test_kick_while_joining_sends_no_welcome_and_no_events() -> None:
    hub = _hub()
    transport = _Transport()
    conn = Conn(room_id="r1", transport=transport, user_id="u", name="U", role="viewer")
    kicked: list[int] = []
    conn.on_kick = lambda code, reason: kicked.append(code)
    hub.attach(conn)
    hub.deliver("r1", _chat(1))
    hub.kick(conn, 4003, "banned")
    hub.activate(conn, 0, [b"welcome"])
    hub.send(conn, b"reply")
    hub.deliver("r1", _chat(2))
    hub.tick()
    assert kicked == [4003]
    assert transport.data == b""
    assert hub.connection_count == 0


async def test_kick_of_an_active_connection_stops_batches_and_replies() -> None:
    hub = _hub()
    transport, other = _Transport(), _Transport()
    conn = Conn(room_id="r1", transport=transport, user_id="u", name="U", role="viewer")
    peer = Conn(room_id="r1", transport=other, user_id="v", name="V", role="viewer")
    for c in (conn, peer):
        hub.attach(c)
        hub.activate(c, 0, [])
    hub.kick(conn, 1012, "server_restart")
    hub.send(conn, b"reply")
    hub.deliver("r1", _chat(1))
    hub.tick()
    assert transport.data == b""
    assert b'"seq":1' in other.data


async def test_a_ban_closes_the_banned_users_sockets_in_that_room_and_no_others() -> None:
    seen: list[tuple[str, str]] = []

    class Listener:
        def note_room_event(self, room_id: str, ev: dict[str, object]) -> None:
            seen.append((room_id, str(ev["type"])))

    hub = Hub(max_out_buffer=1 << 20, slow_close_grace_ms=100, join_names=3,
              max_batch_events=500, stats=HubStats(lambda *a: None, lambda: None, lambda: None),
              listeners=[Listener()])
    kicked: dict[str, list[tuple[int, str]]] = {}
    for name, room, user in (("banned", "r1", "u"), ("banned-joining", "r1", "u"),
                             ("other-user", "r1", "v"), ("other-room", "r2", "u")):
        conn = Conn(room_id=room, transport=_Transport(), user_id=user, name=user,
                    role="viewer")
        kicked[name] = []
        conn.on_kick = lambda code, reason, name=name: kicked[name].append((code, reason))
        hub.attach(conn)
        if name != "banned-joining":
            hub.activate(conn, 0, [])
    hub.deliver("r1", _published(events.user_banned("u", "alice"), 1))
    assert kicked == {"banned": [(4003, "banned")], "banned-joining": [(4003, "banned")],
                      "other-user": [], "other-room": []}
    # the listeners hear the room's events, but not the frequent ones nobody reacts to
    hub.deliver("r1", _chat(2))
    # counters are built by tick.lua (ev_counters), not in Python
    hub.deliver("r1", orjson.dumps({"type": "counters", "ts": 1, "data": {"online": 1}}))
    hub.deliver("r1", _published(events.keywords_updated(0, "mask"), 3))
    assert seen == [("r1", "user_banned"), ("r1", "keywords_updated")]
