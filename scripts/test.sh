#!/usr/bin/env bash
# Set up a virtualenv (.venv) with the project and its test extras, then run
# the whole test suite: lint, unit, integration (simulator, Dask), real Keystone. README's second
# command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# Real OpenStack Keystone for tests/real/, in its own venv (.keystone-venv, reused when present):
# installed in the background while the project's own venv is set up.
KEYSTONE_PID=
if [ "${EDGESHADE_SKIP_REAL:-}" != "1" ]; then
  KEYSTONE_LOG=$(mktemp)
  bash scripts/keystone-venv.sh >"$KEYSTONE_LOG" 2>&1 &
  KEYSTONE_PID=$!
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# ansible: ansible-core for the collection's tests (tests/integration/test_ansible_*.py build and
# install the collection into temporary directories themselves; nothing goes to ~/.ansible).
.venv/bin/python -m pip install --quiet -e '.[test,ansible,dask]'
if [ -n "$KEYSTONE_PID" ]; then
  if ! wait "$KEYSTONE_PID"; then
    cat "$KEYSTONE_LOG" >&2
    echo "scripts/keystone-venv.sh failed (set EDGESHADE_SKIP_REAL=1 to skip real Keystone)" >&2
    exit 1
  fi
  grep -v '^WARNING: Location' "$KEYSTONE_LOG" || true
  rm -f "$KEYSTONE_LOG"
fi

# Debian's chromium for the HTML report's browser tests (installed only when missing).
bash scripts/ensure-chromium.sh

echo "== ruff"
.venv/bin/ruff check edgeshade plugins tests benchmarks
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
