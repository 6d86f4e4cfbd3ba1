#!/usr/bin/env bash
# Run the whole test suite: lint, types, then every test against real Valkey, real websockets,
# real server processes and a real headless Chromium. Installs what is missing first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
if ! command -v chromium >/dev/null 2>&1; then
  # Browser tests need Debian's Chromium (no pip route); install it where we can.
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium for the browser tests (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: install it (Debian: sudo apt-get install chromium)" >&2
    exit 1
  fi
fi
"$PY" -m ruff check live_server loadtest tests
"$PY" -m mypy
# The import contracts in pyproject.toml ([tool.importlinter]); no cache folder in the tree.
"$VENV/bin/lint-imports" --no-cache --no-logo
exec "$PY" -m pytest "$@"
