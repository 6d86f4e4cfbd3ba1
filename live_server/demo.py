"""Demo data for the one-command start: a creator, a live room with an announcement, a few
messages and a shelf (a cardigan in sizes and colours, a scarf, a mug; the cardigan pinned),
and tokens to try it with. Re-running reuses the room while it is still live."""

from __future__ import annotations

from typing import Any

from live_server import events
from live_server.auth import mint
from live_server.config import Settings
from live_server.domain.rooms import parse_create
from live_server.domain.shelf import Limits, parse_product, public_product
from live_server.protocol import Json, dumps, now_ms
from live_server.store.chat import ChatStore
from live_server.store.core import StoreCore, connect
from live_server.store.keys import Keys
from live_server.store.rooms import RoomStore
from live_server.store.shelf import ShelfStore

CREATOR, VIEWER, OPS = "demo_creator", "demo_viewer", "demo_ops"

# The demo shelf, in shelf order: prices in cents, stock per variant.
PRODUCTS: tuple[Json, ...] = (
    {"title": "Chunky cable cardigan", "description": "Merino blend, relaxed fit.",
     "list_price": 59900, "live_price": 39900, "per_buyer_limit": 3, "commission_bp": 1000,
     "options": [{"name": "Size", "values": ["S", "M", "L"]},
                 {"name": "Colour", "values": ["Oat", "Forest"]}],
     "variants": [{"options": {"Size": size, "Colour": colour}, "stock": stock,
                   "price_delta": 2000 if size == "L" else 0}
                  for size, colour, stock in (("S", "Oat", 12), ("M", "Oat", 20),
                                              ("L", "Oat", 8), ("S", "Forest", 6),
                                              ("M", "Forest", 15), ("L", "Forest", 0))]},
    {"title": "Ribbed wool scarf", "description": "One size, four seasons.",
     "list_price": 12900, "live_price": 8900, "stock": 50, "per_buyer_limit": 5,
     "commission_bp": 1000},
    {"title": "Stoneware mug", "description": "For the after-show tea.",
     "list_price": 4900, "live_price": 3500, "stock": 120, "per_buyer_limit": 4,
     "commission_bp": 800},
)


async def seed(settings: Settings) -> dict[str, Any]:
    client = connect(settings.store.url, 4, settings.store.cluster)
    try:
        core = StoreCore(client, Keys(settings.store.key_prefix, settings.money.wallet_buckets))
        rooms = RoomStore(core, history_max=settings.history.max_events,
                          process_ttl_ms=settings.server.process_ttl_ms)
        chat = ChatStore(core, history_max=settings.history.max_events,
                         log_max=settings.ops.log_max_entries)
        marker = f"{settings.store.key_prefix}:demo_room"
        existing: bytes | None = await core.client.get(marker)
        room = await rooms.get(existing.decode()) if existing else None
        if room is None or room.state == "ended":
            room = await rooms.create(CREATOR, parse_create(
                {"title": "Autumn knitwear live sale", "notice": "New drops every 15 minutes"},
                now_ms()))
            await rooms.transition(room.id, "live", CREATOR, now_ms())
            await rooms.set_announcement(room.id, {
                "text": "Welcome! Follow for the 8pm flash sale.", "by": CREATOR, "ts": now_ms()})
            for text in ("Hello everyone, we are live!", "Ask me anything about sizes."):
                message = events.chat(user_id=CREATOR, name="Demo Creator", role="creator",
                                      level=0, fan_club=False, text=text, masked=False)
                await chat.send(room.id, CREATOR, message, now=now_ms(), rate_per_s=100,
                                burst=100, moderator=True, score=0)
            await _stock_shelf(settings, core, room.id)
            await core.client.set(marker, room.id)
        secret, ttl = settings.auth.secret, settings.auth.token_ttl_s
        return {
            "room_id": room.id,
            "tokens": {
                "creator": mint(secret, CREATOR, "creator", name="Demo Creator", ttl_s=ttl),
                "viewer": mint(secret, VIEWER, "viewer", name="Demo Viewer", ttl_s=ttl),
                "ops": mint(secret, OPS, "ops", name="Demo Ops", ttl_s=ttl),
            },
        }
    finally:
        await client.aclose()


async def _stock_shelf(settings: Settings, core: StoreCore, room_id: str) -> None:
    """The demo products in the creator's catalogue (with their stock), on the room's shelf,
    the first one pinned."""
    cfg = settings.shelf
    shelf = ShelfStore(core, history_max=settings.history.max_events,
                       order_stream_max=cfg.order_stream_max)
    limits = Limits(max_price=cfg.max_price_cents, max_stock=cfg.max_stock,
                    max_per_buyer=cfg.max_per_buyer, max_sale_ms=cfg.max_sale_ms,
                    currency=cfg.currency)
    ids = []
    for body in PRODUCTS:
        product = parse_product(dict(body), limits, creator_id=CREATOR, now=now_ms())
        await shelf.save_product(product, creating=True, stock_set={
            v["id"]: int(v["stock"]) for v in product["variants"]})
        await shelf.edit_shelf(room_id, CREATOR, "add", [
            product["id"], -1, dumps(public_product(product)).decode(),
            product["commission_bp"]], max_shelf=cfg.max_shelf, now=now_ms())
        ids.append(product["id"])
    await shelf.pin(room_id, CREATOR, ids[0], now_ms())
