#!/usr/bin/env bash
# Install real OpenStack Keystone and a WSGI server (gunicorn) into their own
# virtualenv, .keystone-venv, for the real-Keystone tests (tests/real/).
#
# Why a separate venv: Keystone pins its own versions of oslo.*, SQLAlchemy and
# friends; it must not share the project's environment. An existing venv with a
# working keystone-manage and gunicorn is reused (the install takes ~50 s).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${KEYSTONE_VENV:-.keystone-venv}
PYTHON=${PYTHON:-python3}
KEYSTONE_SPEC=${KEYSTONE_SPEC:-keystone}

MARKER="$VENV/.installed"
if [ -x "$VENV/bin/keystone-manage" ] && [ -x "$VENV/bin/gunicorn" ] \
    && [ "$(cat "$MARKER" 2>/dev/null)" = "$KEYSTONE_SPEC gunicorn" ]; then
  exit 0
fi
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "$KEYSTONE_SPEC" gunicorn
PYTHONWARNINGS=ignore "$VENV/bin/python" -c "import keystone.server.wsgi, keystone.common.sql.core"
echo "$KEYSTONE_SPEC gunicorn" >"$MARKER"
echo "keystone: installed $("$VENV/bin/python" -m pip show keystone 2>/dev/null | sed -n 's/^Version: //p') into $VENV"
