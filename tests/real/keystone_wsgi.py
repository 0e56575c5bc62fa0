"""Keystone's WSGI app with SQLite foreign keys switched on.

SQLite ignores foreign keys unless each connection enables them, and Keystone
relies on ON DELETE CASCADE: without this, repeated create/delete cycles end
in 409 conflicts. Served by gunicorn from .keystone-venv (see realkeystone.py).
"""

import sys

from keystone.common.sql import core

core.enable_sqlite_foreign_key()

# oslo.config parses sys.argv while the app initialises: hide gunicorn's own options.
_argv, sys.argv = sys.argv, sys.argv[:1]
try:
    from keystone.wsgi.api import application  # noqa: E402 - must follow the switch above
finally:
    sys.argv = _argv

__all__ = ["application"]
