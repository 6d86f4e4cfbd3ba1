# Shared by serve.sh and test.sh: make .venv and install the project into it, once per change of
# pyproject.toml. Safe to re-run; a fresh clone needs only python3 (3.11+) with venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
STAMP="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  # pip prints a warning per package for mirror folders that this machine may not have; hide only those.
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]" 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "import live_server, aiohttp, redis, aiortc" 
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi
PY="$VENV/bin/python"
