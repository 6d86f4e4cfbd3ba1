#!/usr/bin/env bash
# Run the whole test suite (lint, types, tests) against a real Valkey started by the fixtures.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
"$PY" -m ruff check live_server loadtest tests
"$PY" -m mypy
exec "$PY" -m pytest "$@"
