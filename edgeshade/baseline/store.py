"""Baseline versions and last-known configuration status, in the shared ``state.db``.

* ``config_versions``: one row per baseline revision. A baseline's version is
  a number that only goes up: loading a file whose content hash differs from
  the newest recorded revision of that baseline name records version N+1
  (a file reverted to old content gets a *new* version, so sites that applied
  the newer one are "behind" again, as they should be).
* ``config_status``: per (baseline, site) the last live check: status,
  number of differences, the hash it was checked against and when. ``config
  status --cached`` reads it (with the journal's applied versions and
  ``site_state.failures``) without contacting any site.

No secret ever reaches these tables: rendered configs hold secret *names*.
"""

from __future__ import annotations

import time
from typing import Any

from munch import Munch

from edgeshade.state import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS config_versions (
    baseline TEXT NOT NULL, version INTEGER NOT NULL, file_hash TEXT NOT NULL,
    path TEXT, created REAL NOT NULL, PRIMARY KEY (baseline, version));
CREATE TABLE IF NOT EXISTS config_status (
    baseline TEXT NOT NULL, site TEXT NOT NULL, status TEXT NOT NULL,
    differences INTEGER, hash TEXT, version INTEGER, at REAL NOT NULL,
    PRIMARY KEY (baseline, site));
"""


def _ready(store: StateStore) -> None:
    with store._lock, store._db:
        store._db.executescript(_SCHEMA)


def register(store: StateStore, name: str, file_hash: str, path: str | None = None) -> int:
    """The version of this revision of baseline ``name`` (recorded if new)."""
    _ready(store)
    db = store._db
    with store._lock, db:
        row = db.execute(
            "SELECT version, file_hash FROM config_versions WHERE baseline = ?"
            " ORDER BY version DESC LIMIT 1", (name,)
        ).fetchone()
        if row and row[1] == file_hash:
            return int(row[0])
        version = (int(row[0]) if row else 0) + 1
        db.execute(
            "INSERT INTO config_versions (baseline, version, file_hash, path, created)"
            " VALUES (?,?,?,?,?)", (name, version, file_hash, path, time.time())
        )
        return version


def versions(store: StateStore, name: str) -> list[Munch]:
    _ready(store)
    with store._lock:
        rows = store._db.execute(
            "SELECT version, file_hash, path, created FROM config_versions WHERE baseline = ?"
            " ORDER BY version", (name,)
        ).fetchall()
    return [Munch(version=v, file_hash=h, path=p, created=c) for v, h, p, c in rows]


def record_status(store: StateStore, name: str, rows: list[dict[str, Any]]) -> None:
    """Store live check results: dicts with site, status, differences, hash, version."""
    if not rows:
        return
    _ready(store)
    now = time.time()
    with store._lock, store._db:
        store._db.executemany(
            "INSERT OR REPLACE INTO config_status (baseline, site, status, differences, hash,"
            " version, at) VALUES (?,?,?,?,?,?,?)",
            [(name, r["site"], r["status"], r.get("differences"), r.get("hash"),
              r.get("version"), now) for r in rows],
        )


def last_status(store: StateStore, name: str) -> dict[str, Munch]:
    _ready(store)
    with store._lock:
        rows = store._db.execute(
            "SELECT site, status, differences, hash, version, at FROM config_status"
            " WHERE baseline = ?", (name,)
        ).fetchall()
    return {
        site: Munch(status=status, differences=diffs, hash=h, version=v, at=at)
        for site, status, diffs, h, v, at in rows
    }
