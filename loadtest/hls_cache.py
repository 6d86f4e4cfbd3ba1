"""nginx as a caching reverse proxy in front of the HLS origin: the CDN stand-in.

Why nginx: it is what an operator can run in front of the servers without a CDN contract, and it
does what a CDN edge does for HLS: it keeps answers as long as the origin's ``Cache-Control``
says, keys them by the whole URL with its query string (so each blocking reload,
``index.m3u8?_HLS_msn=<n>&_HLS_part=<p>``, is its own entry), and collapses concurrent misses of
one URL into one origin request (``proxy_cache_lock``). The configuration below is the one
docs/OPERATIONS.md shows; the HLS cache test (tests/system/test_hls_cache.py) and the load
test's ``hls`` scenario start it from here.

What stock nginx does not do as a CDN would: a request waiting behind the cache lock is woken by
polling, every 500 ms at most, not when the answer arrives; behind it, Low-Latency HLS players
get parts up to half a second later than the first asker (the load test reports the request
times). It sends no ``Age`` header either.

Everything nginx writes (configuration, pid file, logs, the cache, its temporary files) lives
under one folder; it listens on 127.0.0.1 only; it is started as a child in the foreground and
stopped by its pid (its workers are the master's children and leave with it).
"""

from __future__ import annotations

import collections
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
#: A line of the access log written with the ``cache`` format below.
_LOG_LINE = re.compile(r'(\S+) (\S+) (\d+) "([^"]*)" "(.*)"')

#: Above three target durations (the longest a blocking request waits at the origin, 6 s at
#: the defaults): a request behind the cache lock waits for the first asker's answer this long
#: before going to the origin itself (uncached), and the first asker holds the lock this long.
LOCK_S = 10

CONFIG = """\
# nginx in front of the HLS origin (the CDN stand-in). Written by loadtest/hls_cache.py.
{user}worker_processes {workers};
worker_rlimit_nofile 65536;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
daemon off;

events {{
    worker_connections 16384;
}}

http {{
    # the cache status of every request, and whether it went to the origin
    log_format cache '$msec $upstream_cache_status $status "$upstream_addr" "$request_uri"';
    access_log {prefix}/access.log cache buffer=64k flush=1s;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;

    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=hls:16m max_size=2g inactive=2m
                     use_temp_path=off;

    upstream hls_origin {{
        server {origin_host}:{origin_port};
        keepalive 64;
    }}

    server {{
        listen {host}:{port} backlog=4096;

        location /hls/ {{
            proxy_pass http://hls_origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache hls;
            # the whole URL: each blocking reload (_HLS_msn, _HLS_part, _HLS_skip) is its own
            # entry; a key without the query would serve one stale playlist to everyone
            proxy_cache_key $scheme$proxy_host$uri$is_args$args;
            # no proxy_cache_valid: only the origin's Cache-Control decides (playlists 1 s,
            # blocking reloads six target durations, segments and parts a day, errors never)
            proxy_cache_lock on;  # concurrent misses of one URL: one origin request
            proxy_cache_lock_timeout {lock_s}s;
            proxy_cache_lock_age {lock_s}s;
            # no "proxy_cache_use_stale updating": after a quiet spell it hands out a playlist
            # however old (a previous broadcast's) while one request refreshes it
            proxy_cache_revalidate on;  # If-Modified-Since/If-None-Match: a 304 when unchanged
            proxy_read_timeout {read_s}s;  # a blocking request is answered when its part exists
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""


class CacheError(RuntimeError):
    """nginx is missing or did not start."""


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None)
    if found is None:
        raise CacheError("nginx is missing: install it (Debian: apt-get install nginx-light)")
    return found


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def render_config(origin_host: str, origin_port: int, port: int, prefix: Path,
                  workers: int = 1) -> str:
    """The configuration for a cache at 127.0.0.1:``port`` in front of the origin. Run as root,
    nginx's workers would switch to ``nobody`` and could not write under ``prefix``: they keep
    the user that starts it."""
    user = ""
    if os.geteuid() == 0:
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n"
    return CONFIG.format(user=user, workers=workers, prefix=prefix, origin_host=origin_host,
                         origin_port=origin_port, host=LOOPBACK, port=port, lock_s=LOCK_S,
                         read_s=LOCK_S + 5)


@dataclass
class CacheProxy:
    """A running nginx (its master's process); :meth:`stop` ends it."""

    proc: subprocess.Popen[bytes]
    port: int
    prefix: Path

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 10.0) -> None:
        """SIGQUIT (finish what is in flight), then SIGTERM, then SIGKILL to the master and to
        the workers it started: by pid, these processes only."""
        if self.proc.poll() is not None:
            return
        workers = _children(self.proc.pid)
        for sig, wait_s in ((signal.SIGQUIT, timeout / 2), (signal.SIGTERM, timeout / 2)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue
        for pid in [self.proc.pid, *workers]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=5)

    def log_lines(self) -> list[tuple[float, str, int, bool, str]]:
        """The access log so far: (time, cache status, HTTP status, went to the origin, URI)
        per request. nginx writes it in buffers flushed every second: read it a second after
        the requests of interest."""
        path = self.prefix / "access.log"
        out: list[tuple[float, str, int, bool, str]] = []
        if not path.exists():
            return out
        for line in path.read_text(errors="replace").splitlines():
            found = _LOG_LINE.fullmatch(line)
            if found is not None:
                at, cache, status, upstream, uri = found.groups()
                out.append((float(at), cache, int(status), upstream != "-", uri))
        return out

    def cache_statuses(self, since: float = 0.0, until: float = float("inf")) -> dict[str, int]:
        """Requests by ``$upstream_cache_status`` (HIT, MISS, EXPIRED, UPDATING, STALE,
        REVALIDATED; ``-`` for none) between two ``time.time()`` values, plus ``origin``: how
        many of them nginx passed to the origin."""
        counts: collections.Counter[str] = collections.Counter()
        for at, cache, _, upstream, _ in self.log_lines():
            if since <= at < until:
                counts[cache] += 1
                counts["origin"] += upstream
        return dict(counts)

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _children(pid: int) -> list[int]:
    """The pids of the process's children (nginx's workers), from /proc."""
    out: list[int] = []
    with contextlib.suppress(OSError, ValueError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text()
            out.extend(int(x) for x in text.split())
    return out


def start_cache(origin_url: str, prefix: Path, *, workers: int = 1, port: int | None = None,
                ready_s: float = 15.0) -> CacheProxy:
    """Write the configuration under ``prefix`` and start nginx in front of ``origin_url``
    (``http://127.0.0.1:PORT``); returns once it accepts connections."""
    host, _, port_text = origin_url.removeprefix("http://").rstrip("/").partition(":")
    binary = nginx_binary()
    prefix = prefix.resolve()
    for sub in ("cache", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    listen = port or free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(render_config(host, int(port_text or 80), listen, prefix, workers))
    with (prefix / "nginx.out").open("wb") as out:
        proc = subprocess.Popen(
            [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    cache = CacheProxy(proc, listen, prefix)
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CacheError(f"nginx exited with {proc.returncode}: {cache.error_log()}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, listen), 0.5):
            return cache
        time.sleep(0.05)
    cache.stop()
    raise CacheError(f"nginx did not listen on {listen} within {ready_s:g} s: "
                     f"{cache.error_log()}")


__all__ = ["LOCK_S", "CacheError", "CacheProxy", "nginx_binary", "render_config", "start_cache"]
