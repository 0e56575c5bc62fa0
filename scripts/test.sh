#!/usr/bin/env bash
# Set up a virtualenv (.venv) with the project and its test extras, then run
# the whole test suite: lint, unit, integration (simulator, Dask), real Keystone. README's second
# command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# ansible: ansible-core for the collection's tests (tests/integration/test_ansible_*.py build and
# install the collection into temporary directories themselves; nothing goes to ~/.ansible).
.venv/bin/python -m pip install --quiet -e '.[test,ansible,dask]'
# Real OpenStack Keystone for tests/real/, in its own venv (.keystone-venv, reused when present).
if [ "${EDGESHADE_SKIP_REAL:-}" != "1" ]; then
  bash scripts/keystone-venv.sh
fi

# Debian's chromium for the HTML report's browser tests (installed only when missing).
bash scripts/ensure-chromium.sh

echo "== ruff"
.venv/bin/ruff check edgeshade plugins tests benchmarks
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
