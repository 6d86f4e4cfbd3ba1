#!/usr/bin/env bash
# Run the server with an embedded Valkey and demo data. Extra arguments go to `live_server serve`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
exec "$PY" -m live_server serve --demo "$@"
