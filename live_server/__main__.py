"""Command line: ``serve`` (default), ``token``. ``python -m live_server --help``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from aiohttp import web

from live_server import config, logs
from live_server.app import create_app
from live_server.auth import ROLES, mint
from live_server.store.embedded import EmbeddedValkey, die_with_parent
from live_server.web.front import LiveRunner

if TYPE_CHECKING:
    from live_server.demo_show.publisher import DemoPublisher

log = logging.getLogger("live_server")


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; Windows has none
        return asyncio.run(coro)
    return uvloop.run(coro)


def _tune_gc() -> None:
    """A server holding thousands of long-lived connection objects spends a large share of its
    CPU in the cyclic collector's full scans (seen in profiles of join storms). Freeze what
    start-up created and collect young objects less often; garbage is still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def _serve(settings: config.Settings, reuse_port: bool,
                 show_room: str | None = None) -> None:
    _tune_gc()
    host, port = settings.server.host, settings.server.port
    app = create_app(settings, info={"port": port})
    runner = LiveRunner(app, handle_signals=False, access_log=None,
                        shutdown_timeout=settings.server.shutdown_grace_ms / 1000)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=4096)
    await site.start()
    log.info("process %d serving on http://%s:%d", os.getpid(), host, port)
    show = _demo_show(settings, runner, show_room) if show_room else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("process %d stopping", os.getpid())
    if show is not None:
        await show.stop()  # ends its WHIP session while the server still answers
    await runner.cleanup()


def _demo_show(settings: config.Settings, runner: LiveRunner,
               room_id: str) -> DemoPublisher:
    """Start the demo room's show: the clip published over this server's own WHIP endpoint."""
    from live_server.demo import CREATOR
    from live_server.demo_show.publisher import DemoPublisher

    port = runner.addresses[0][1] if runner.addresses else settings.server.port
    host = settings.server.host
    loopback = "::1" if ":" in host else "127.0.0.1"
    target = host if host not in ("0.0.0.0", "::", "") else loopback
    base = f"http://[{target}]:{port}" if ":" in target else f"http://{target}:{port}"
    secret, ttl = settings.auth.secret, settings.auth.token_ttl_s
    show = DemoPublisher(base, room_id, lambda: mint(secret, CREATOR, "creator",
                                                     name="Demo Creator", ttl_s=ttl),
                         settings.store.data_dir, loopback=loopback)
    show.start()
    return show


def _print_demo(settings: config.Settings, demo: dict[str, Any]) -> None:
    base = f"http://{settings.server.host}:{settings.server.port}"
    room = demo["room_id"]
    tokens = demo["tokens"]
    print(f"""
live_server demo is up.
  Live rooms      {base}/
  Watch the room  {base}/watch/{room}
  Creator studio  {base}/studio
  Ops console     {base}/ops
  Websocket       ws://{settings.server.host}:{settings.server.port}/ws/rooms/{room}?token=...
Tokens (paste into the pages' login box, or use the dev login there):
  creator  {tokens["creator"]}
  viewer   {tokens["viewer"]}
  ops      {tokens["ops"]}
""", flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.port is not None:
        env[config.env_name("server", "port")] = str(args.port)
    if args.host is not None:
        env[config.env_name("server", "host")] = args.host
    settings = config.load(env)
    embedded: EmbeddedValkey | None = None
    if not settings.store.url:
        embedded = EmbeddedValkey(settings.store.data_dir,
                                  appendfsync=settings.store.appendfsync)
        url = embedded.start()
        log.info("embedded valkey-server (pid %s) on %s, data in %s", embedded.pid, url,
                 embedded.data_dir)
        settings = settings.replace(store={"url": url})
        # nothing else restarts it: a Valkey that died comes back here, or the service stops
        embedded.keep_alive(functools.partial(os.kill, os.getpid(), signal.SIGTERM))
    try:
        show_room: str | None = args.demo_show
        if args.demo:
            from live_server.demo import seed

            demo = _run(seed(settings))
            _print_demo(settings, demo)
            if args.demo_video == "on" and settings.media.enabled:
                show_room = demo["room_id"]
        if args.workers <= 1 or args.worker:
            _run(_serve(settings, reuse_port=args.worker or args.workers > 1,
                        show_room=show_room))
            code = 0
        else:
            code = _supervise(args, settings, show_room)
        return 1 if embedded is not None and embedded.gave_up else code
    except KeyboardInterrupt:
        return 0
    finally:
        if embedded is not None:
            embedded.stop()
            log.info("embedded valkey-server stopped")


def _supervise(args: argparse.Namespace, settings: config.Settings,
               show_room: str | None = None) -> int:
    """Start N worker processes on one port (SO_REUSEPORT), restart one that dies, forward
    SIGTERM/SIGINT to all and wait for them. The first worker runs the demo show, if any."""
    env = dict(os.environ, REDIS_URL=settings.store.url)
    env[config.env_name("server", "port")] = str(settings.server.port)
    env[config.env_name("server", "host")] = settings.server.host
    cmd = [sys.executable, "-m", "live_server", "serve", "--worker"]

    # a worker must not outlive us (a kill -9 of the supervisor would leave it on the port)
    tie = functools.partial(die_with_parent, os.getpid())

    def spawn(index: int) -> subprocess.Popen[bytes]:
        show = ["--demo-show", show_room] if show_room and index == 0 else []
        return subprocess.Popen(cmd + show, env=env, preexec_fn=tie)

    children = [spawn(i) for i in range(args.workers)]
    log.info("started %d workers: %s", len(children), [c.pid for c in children])
    stopping: list[int] = []
    restarts: list[float] = []
    gave_up: list[bool] = []

    def forward(signum: int, _frame: Any) -> None:
        stopping.append(signum)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while not stopping:
        time.sleep(0.5)
        for i, child in enumerate(children):
            if child.poll() is None or stopping:
                continue
            now = time.monotonic()
            restarts[:] = [t for t in restarts if now - t < 60] + [now]
            if len(restarts) > 5:
                log.error("workers keep dying; stopping")
                forward(signal.SIGTERM, None)
                gave_up.append(True)
                break
            log.warning("worker %d exited with %s; starting another", child.pid,
                        child.returncode)
            children[i] = spawn(i)
    codes = [child.wait() for child in children]
    return 1 if gave_up else max((c for c in codes if c > 0), default=0)


def cmd_token(args: argparse.Namespace) -> int:
    settings = config.load()
    print(mint(settings.auth.secret, args.user, args.role, name=args.name,
               ttl_s=args.ttl or settings.auth.token_ttl_s))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Recompute every wallet and red packet from the ledger; exit 1 on any mismatch."""
    from live_server.services.auctions import AuctionAudit
    from live_server.services.charity import CharityAudit
    from live_server.services.draws import DrawAudit
    from live_server.services.gifts import GiftAudit
    from live_server.services.topups import TopupAudit
    from live_server.services.wallets import audit
    from live_server.store.auctions import AuctionStore
    from live_server.store.charity import CharityStore
    from live_server.store.core import StoreCore, connect
    from live_server.store.draws import DrawStore
    from live_server.store.gifts import GiftStore
    from live_server.store.keys import Keys
    from live_server.store.orders import OrderStore
    from live_server.store.red_packets import RedPacketStore
    from live_server.store.topups import TopupStore
    from live_server.store.wallets import WalletStore

    settings = config.load()
    if not settings.store.url:
        print("audit needs the store's address: set REDIS_URL (or store.url)", file=sys.stderr)
        return 2

    async def run() -> Any:
        client = connect(settings.store.url, 2, settings.store.cluster)
        try:
            core = StoreCore(client, Keys(settings.store.key_prefix, settings.money.wallet_buckets))
            recent_max = settings.money.recent_entries
            gifts = GiftStore.of(core, settings)
            return await audit(WalletStore(core, recent_max=recent_max),
                               RedPacketStore(core, history_max=settings.history.max_events,
                                              recent_max=recent_max),
                               (GiftAudit(gifts),
                                TopupAudit(TopupStore(core, recent_max=recent_max)),
                                DrawAudit(DrawStore(core, history_max=settings.history.max_events,
                                                    recent_max=recent_max)),
                                AuctionAudit(AuctionStore(
                                    core, history_max=settings.history.max_events,
                                    order_stream_max=settings.shelf.order_stream_max)),
                                CharityAudit(CharityStore(core), OrderStore(
                                    core, history_max=settings.history.max_events,
                                    order_stream_max=settings.shelf.order_stream_max))))
        finally:
            await client.aclose()

    report = _run(run())
    for line in report.mismatches:
        print(f"MISMATCH {line}")
    print(f"audit: {report.entries} ledger entries, {report.accounts} wallets, "
          f"{report.packets} red packets, {len(report.mismatches)} mismatches")
    return 1 if report.mismatches else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="live-server", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the server (the default command)")
    serve.add_argument("--host", help="address to listen on (default from config: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--workers", type=int, default=1,
                       help="number of processes sharing the port (SO_REUSEPORT)")
    serve.add_argument("--demo", action="store_true",
                       help="seed a demo creator and live room and print URLs and tokens")
    serve.add_argument("--demo-video", choices=("on", "off"), default="on",
                       help="with --demo: publish a looping test clip into the demo room "
                            "(off: spare the CPU; the room stays without video)")
    serve.add_argument("--demo-show", metavar="ROOM", help=argparse.SUPPRESS)
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    token = sub.add_parser("token", help="mint a token with the configured secret")
    token.add_argument("--role", choices=ROLES, required=True)
    token.add_argument("--user", required=True)
    token.add_argument("--name")
    token.add_argument("--ttl", type=int, help="seconds until it expires")
    sub.add_parser("audit", help="recompute every wallet and red packet from the money ledger")
    verify = sub.add_parser("verify-draw", help="check a drawn lucky draw from what the server "
                                                "published (seed, entrant list, winners)")
    verify.add_argument("draw_id")
    verify.add_argument("--url", default="http://127.0.0.1:8080",
                        help="the server (default http://127.0.0.1:8080)")
    return parser


def main(argv: list[str] | None = None) -> int:
    logs.setup()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "serve"):
        if args.command is None:
            args = parser.parse_args(["serve", *(argv or sys.argv[1:])])
        try:
            return cmd_serve(args)
        except config.ConfigError as exc:
            print(f"configuration error: {exc}", file=sys.stderr)
            return 2
    if args.command == "audit":
        return cmd_audit(args)
    if args.command == "verify-draw":
        from live_server.draw_verify import verify
        return verify(args.draw_id, args.url)
    return cmd_token(args)


if __name__ == "__main__":
    sys.exit(main())
