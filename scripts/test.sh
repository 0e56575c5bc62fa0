#!/usr/bin/env bash
# Set up a virtualenv (.venv) with the project and its test extras, then run
# the whole test suite: lint, unit, integration (simulator). README's second
# command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

echo "== ruff"
.venv/bin/ruff check edgeshade tests benchmarks
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
