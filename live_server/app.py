"""The aiohttp application: routes, middleware, and the resources' life cycle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from live_server.config import Settings
from live_server.container import Services
from live_server.errors import CloseCode
from live_server.metrics import Metrics
from live_server.web import charity_page, misc, openapi, shelf, show_report, table, thumbnail, ws
from live_server.web import hls as hls_web
from live_server.web import media as media_web
from live_server.web import replays as replays_web
from live_server.web.headers import security_headers
from live_server.web.http import error_middleware
from live_server.web.keys import SERVICES, SHUTTING_DOWN

log = logging.getLogger(__name__)


def create_app(settings: Settings, info: dict[str, Any] | None = None) -> web.Application:
    app = web.Application(middlewares=[error_middleware],
                          client_max_size=settings.http.max_body_bytes,
                          # aiohttp's own default keeps an idle keep-alive connection an hour
                          handler_args={"keepalive_timeout":
                                        settings.http.keepalive_timeout_ms / 1000})
    app[SHUTTING_DOWN] = [False]
    app.on_response_prepare.append(security_headers)  # CSP, frame and sniffing rules
    app.add_routes(table.routes)  # every operation of the command table (live_server/commands)
    app.add_routes(shelf.routes)  # the payment webhook and the orders CSV
    app.add_routes(show_report.routes)  # a show's report as CSV
    app.add_routes(openapi.routes)  # /api/openapi.json and /api/docs
    app.add_routes(ws.routes)
    app.add_routes(misc.routes)
    app.add_routes(charity_page.routes)  # a charity show's public receipt page
    app.add_routes(media_web.routes)  # WHIP/WHEP (live_server/media)
    app.add_routes(hls_web.routes)  # HLS playlists and segments
    app.on_response_prepare.append(hls_web.count_request)  # live_hls_requests_total
    app.add_routes(replays_web.routes)  # replays' playlists and segments
    app.add_routes(thumbnail.routes)  # a live room's stream thumbnail (ops)
    if misc.STATIC_DIR.is_dir():
        app.router.register_resource(misc.StaticFiles("/static", misc.STATIC_DIR))
    app.cleanup_ctx.append(_services_ctx(settings, info or {}))
    app.cleanup_ctx.append(media_web.media_ctx())  # starts services.media; closes it first
    app.cleanup_ctx.append(hls_web.hls_ctx())  # needs the media service; closes before it
    app.cleanup_ctx.append(replays_web.replay_ctx())  # records shows; sweeps old replays
    app.on_shutdown.append(_close_websockets)
    return app


def _services_ctx(settings: Settings, info: dict[str, Any]) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        services = Services.build(settings, Metrics(), info)
        await services.ping_store()
        app[SERVICES] = services
        await services.suspensions.start()  # read before the first command is checked
        await services.node.start()
        services.scheduler.start()
        services.packet_clock.start()
        services.transfer_clock.start()  # transfers between wallet buckets left pending
        services.auction_clock.start()  # auctions' ends, winners' orders, second chances
        services.draw_clock.start()
        services.webhook_worker.start()  # outgoing webhooks: deliveries, order events
        services.order_feed.start()
        services.room_series.start()  # the ops console's sparklines
        try:
            yield
        finally:
            await services.scheduler.stop()
            await services.packet_clock.stop()
            await services.transfer_clock.stop()
            await services.auction_clock.stop()
            await services.draw_clock.stop()
            await services.order_feed.stop()
            await services.room_series.stop()
            await services.webhook_worker.stop()
            await services.node.stop()
            await services.suspensions.stop()
            await services.close()
    return ctx


async def _close_websockets(app: web.Application) -> None:
    """Graceful stop, stage two (the listener is already closed): tell every client to
    reconnect elsewhere (1012), give them the grace period, then let cleanup close the rest."""
    app[SHUTTING_DOWN][0] = True
    services = app.get(SERVICES)
    if services is None:
        return
    hub = services.hub
    conns = hub.all_conns()
    for conn in conns:
        hub.kick(conn, CloseCode.RESTART, "server_restart")
    tasks = [c.closing_task for c in conns if c.closing_task is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=services.settings.server.shutdown_grace_ms / 1000)
