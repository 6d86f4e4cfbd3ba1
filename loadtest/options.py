"""The command line's grammar: every command's options, and RunOptions from parsed arguments.

Why apart from `cli.py`: `check` turns each budgets entry into the same arguments a user would
type and `compare` reuses one command line for both servers, so both need the parser; with it
here, below them, `cli` dispatches to `check` and `compare` and neither reaches back up. Each
scenario adds its own options next to the common ones, so `--help` on a scenario shows exactly
the options that apply to it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from loadtest import floor
from loadtest.run import RunOptions
from loadtest.scenarios import load_all
from loadtest.spawn import FSYNC_CHOICES
from loadtest.tokens import CREATOR, default_secret

COMMON_DESTS: set[str] = set()

EPILOG = """\
Deliveries, CPU per 1,000 deliveries, memory per viewer and how each figure is measured are
explained in loadtest/README.md. Load goes to loopback addresses only; every loop is bounded in
count and time; servers started with --spawn-server are stopped by pid at the end.
"""


def _pids(text: str) -> list[int]:
    return [int(x) for x in text.replace(",", " ").split()]


def _kv(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_common(p: argparse.ArgumentParser, scenario: type[Any]) -> None:
    """The options every scenario shares."""
    before = {a.dest for a in p._actions}
    g = p.add_argument_group("target")
    g.add_argument("--target", metavar="URL",
                   help="base URL of a running server, loopback only (http://127.0.0.1:8080)")
    g.add_argument("--spawn-server", action="store_true",
                   help="start the server (with its own valkey-server on a free loopback port) "
                        "and stop it at the end; CPU and memory are then read from its pids")
    g.add_argument("--workers", type=int, default=1,
                   help="server processes when spawning (`serve --workers N`; default 1)")
    g.add_argument("--valkey-fsync", choices=FSYNC_CHOICES, default="off",
                   help="the spawned Valkey's AOF: off (default, no persistence), everysec or "
                        "always (every write waits for the disk: what durability costs)")
    g.add_argument("--server-kind", dest="kind", choices=("live", "sio"), default="live",
                   help="what the target speaks: live (ours, default) or sio (the Socket.IO peer)")
    g.add_argument("--room", help="use this existing room instead of creating and starting one")
    g.add_argument("--creator", default=CREATOR,
                   help="the creator's user id (default lt-creator): runs with other creators at "
                        "once spread their money over the wallet buckets")
    g.add_argument("--tick-ms", type=int,
                   help="the server's realtime.tick_ms: set when spawning, used for checks "
                        "(default 100)")
    g.add_argument("--server-env", action="append", type=_kv, default=[], metavar="KEY=VALUE",
                   help="extra environment for a spawned server, e.g. LIVE_WS_HEARTBEAT_S=30 "
                        "(repeatable)")
    g = p.add_argument_group("load")
    g.add_argument("--viewers", type=int,
                   help=f"simulated viewers (default {scenario.default_viewers})")
    g.add_argument("--duration", type=float,
                   help=f"seconds of the main phase (default {scenario.default_duration:g})")
    g.add_argument("--ramp", type=float, default=1000.0,
                   help="new connections per second while connecting "
                        "(default 1000; 0 = all at once)")
    g.add_argument("--procs", type=int, default=2,
                   help="generator processes the viewers are spread over (default 2)")
    g.add_argument("--tracers", type=int, default=50,
                   help="viewers that decode everything: latency and sequence checks (default 50)")
    g.add_argument("--connect-timeout", type=float, default=15.0,
                   help="seconds a viewer may take from TCP connect to `welcome` (default 15)")
    g = p.add_argument_group("tokens")
    g.add_argument("--secret", default=None,
                   help="HS256 secret to mint tokens with (default: env LIVE_SECRET, else the "
                        "development default); ignored with --spawn-server, which sets its own")
    g.add_argument("--token-file", type=Path,
                   help="viewer tokens, one per line, used in turn instead of minting")
    g = p.add_argument_group("measuring")
    g.add_argument("--server-pids", type=_pids, default=[],
                   help="pids of the server processes (comma-separated) to read CPU/RSS from; "
                        "without it a running server is read through its /metrics")
    g.add_argument("--valkey-pid", type=int, help="pid of valkey-server to read its CPU/RSS")
    g.add_argument("--valkey-url", help="read Valkey's CPU/RSS through INFO at this loopback URL")
    g.add_argument("--metrics", action="store_true",
                   help="read server CPU/RSS from the target's /metrics (already the default "
                        "for --server-kind live without --server-pids; the sio peer has none)")
    g = p.add_argument_group("output")
    g.add_argument("--out", type=Path, default=Path("loadtest/out"),
                   help="directory for report.json and report.html (default loadtest/out)")
    g.add_argument("--label", default="", help="a word to tell this run apart in reports")
    g.add_argument("--no-html", action="store_true", help="skip the HTML report")
    g.add_argument("--quiet", action="store_true", help="no progress line")
    COMMON_DESTS.update(a.dest for a in p._actions if a.dest not in before)


def _scenario_parser(sub: Any, name: str, cls: type[Any], **kw: Any) -> argparse.ArgumentParser:
    """The subcommand of scenario `name`: its own options, then the common ones."""
    sp: argparse.ArgumentParser = sub.add_parser(name, help=cls.summary, **kw)
    cls.add_arguments(sp)
    add_common(sp, cls)
    return sp


def build_parser() -> argparse.ArgumentParser:
    scenarios = load_all()
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Load generator for live_server: simulated viewers on websockets, with "
                    "latency, throughput, loss and server cost figures.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, cls in scenarios.items():
        sp = _scenario_parser(sub, name, cls, description=sys.modules[cls.__module__].__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.set_defaults(scenario=name)
    cp = sub.add_parser("compare", help="run ours and the Socket.IO peer alternately, print ratios"
                                        " (webrtc: ours and the MediaRelay peer in one run)")
    csub = cp.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    for name, cls in scenarios.items():
        if "sio" not in cls.dialects and not getattr(cls, "own_peer", False):
            continue
        sp = _scenario_parser(csub, name, cls)
        sp.add_argument("--rounds", type=int, default=1,
                        help="ours-then-peer rounds; figures are averaged (default 1)")
    kp = sub.add_parser("check", help="run the standard set in budgets.toml, print which hold")
    kp.add_argument("--budgets", type=Path, default=Path(__file__).with_name("budgets.toml"),
                    help="budgets file (default loadtest/budgets.toml)")
    kp.add_argument("--only", action="append", default=[],
                    help="run only the named entries (repeatable)")
    kp.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"),
                    help="append the figures to this file (default loadtest/RESULTS.md)")
    kp.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    kp.add_argument("--out", type=Path, default=Path("loadtest/out"), help="report directory")
    kp.add_argument("--quiet", action="store_true", help="no progress line")
    fp = sub.add_parser("write-floor", help="the CPU one fan-out write costs on this machine",
                        description=floor.__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    floor.add_arguments(fp)
    sub.add_parser("list", help="list the scenarios")
    return parser


def options_from(ns: argparse.Namespace) -> RunOptions:
    """RunOptions from parsed arguments (scenario options go to `params`)."""
    params = {k: v for k, v in vars(ns).items()
              if k not in COMMON_DESTS and k not in ("command", "scenario", "rounds", "help")}
    return RunOptions(
        scenario=ns.scenario,
        target=ns.target,
        viewers=ns.viewers,
        duration=ns.duration,
        ramp=ns.ramp,
        procs=ns.procs,
        room=ns.room,
        creator=ns.creator,
        secret=ns.secret or default_secret(),
        token_file=ns.token_file,
        tracers=ns.tracers,
        spawn_server=ns.spawn_server,
        workers=ns.workers,
        valkey_fsync=ns.valkey_fsync,
        tick_ms=ns.tick_ms,
        server_env=dict(ns.server_env),
        server_pids=ns.server_pids,
        valkey_pid=ns.valkey_pid,
        valkey_url=ns.valkey_url,
        metrics=ns.metrics,
        connect_timeout=ns.connect_timeout,
        out=ns.out,
        quiet=ns.quiet,
        kind=ns.kind,
        label=ns.label,
        params=params,
        html=not ns.no_html,
    )
