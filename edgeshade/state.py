"""The local state store: what edgeshade knows about the fleet between runs.

One SQLite file (``state.db``, created mode 0600, WAL journal) in the state
directory: ``--state-dir``, else ``$EDGESHADE_STATE_DIR``, else
``$XDG_STATE_HOME/edgeshade`` (``~/.local/state/edgeshade``). It holds

* ``cache``: version-discovery documents per URL, so a later run skips the
  discovery request per site (they are public, non-secret documents);
* ``site_state``: last-known state per site and consecutive failed contacts,
  which the inventory plugin and ``--cached`` views read without contacting
  any site;
* ``runs`` / ``run_sites``: bounded run history (the last ``HISTORY_RUNS`` runs).

Secrets never go into this database. Tokens are only persisted when the user
opts in (``--token-cache``), in a separate ``tokens.json`` of mode 0600, as
openstacksdk's ``cache.auth`` does with a keyring.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LOG = logging.getLogger("edgeshade")

#: Runs kept in history; older ones are pruned when a run is recorded.
HISTORY_RUNS = 200
#: Discovery documents older than this are fetched again.
DISCOVERY_TTL = 24 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache (
    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS site_state (
    site TEXT PRIMARY KEY, cloud TEXT, region TEXT, state TEXT NOT NULL, reason TEXT,
    task TEXT, at REAL NOT NULL, last_ok REAL, failures INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, task TEXT NOT NULL, started REAL NOT NULL,
    elapsed REAL NOT NULL, summary TEXT NOT NULL, cancelled INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS run_sites (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    site TEXT NOT NULL, state TEXT NOT NULL, reason TEXT, elapsed REAL,
    PRIMARY KEY (run_id, site));
"""

#: States that count as a failed contact (``deferred``: a rollout could not reach the site).
_FAILED = {"unreachable", "timed_out", "auth_failed", "deferred"}


def default_state_dir() -> Path:
    if os.environ.get("EDGESHADE_STATE_DIR"):
        return Path(os.environ["EDGESHADE_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "edgeshade"


def _create_private(path: Path) -> None:
    """Create ``path`` 0600 before SQLite opens it, so it is never readable by others."""
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        LOG.warning(
            "%s is readable by group/others (mode %04o); run: chmod 600 %s", path, mode, path
        )


class StateStore:
    """SQLite-backed store; safe to share between threads of one process."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory else default_state_dir()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.directory / "state.db"
        _create_private(self.path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- cache -------------------------------------------------------------

    def cache_get(self, kind: str, max_age: float | None = None) -> dict[str, Any]:
        cutoff = time.time() - max_age if max_age else 0.0
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM cache WHERE kind = ? AND updated >= ?", (kind, cutoff)
            ).fetchall()
        return {key: json.loads(value) for key, value in rows}

    def cache_put(self, kind: str, items: dict[str, Any]) -> None:
        now = time.time()
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO cache (kind, key, value, updated) VALUES (?, ?, ?, ?)",
                [(kind, k, json.dumps(v, sort_keys=True), now) for k, v in items.items()],
            )

    # -- results -----------------------------------------------------------

    def record_run(self, fleet_result: Any, started: float | None = None, *,
                   health: bool = True) -> int:
        """Store a run's per-site states, update last-known state, prune history.

        ``health=False`` for runs whose states mean something else than the
        site's health (a baseline diff's ``warning`` is drift, not a sick
        site): they count contacts (``failures``, ``last_ok``) and record a
        failed contact's state, but an answered site keeps its health state.
        """
        now = time.time()
        started = started if started is not None else now - fleet_result.elapsed
        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO runs (task, started, elapsed, summary, cancelled) VALUES (?,?,?,?,?)",
                (
                    fleet_result.task,
                    started,
                    fleet_result.elapsed,
                    json.dumps(dict(fleet_result.summary)),
                    int(fleet_result.cancelled),
                ),
            )
            run_id = int(cur.lastrowid or 0)
            self._db.executemany(
                "INSERT INTO run_sites (run_id, site, state, reason, elapsed) VALUES (?,?,?,?,?)",
                [(run_id, r.site, r.state, r.reason, r.elapsed) for r in fleet_result],
            )
            for r in fleet_result:
                if r.state in ("cancelled", "skipped"):
                    continue  # says nothing about the site itself
                failed = r.state in _FAILED
                self._db.execute(
                    """INSERT INTO site_state (site, cloud, region, state, reason, task, at,
                                               last_ok, failures)
                       VALUES (?,?,?,?,?,?,?,?,?)
                       ON CONFLICT(site) DO UPDATE SET
                         cloud=excluded.cloud, region=excluded.region,
                         state=CASE WHEN ? THEN excluded.state ELSE site_state.state END,
                         reason=CASE WHEN ? THEN excluded.reason ELSE site_state.reason END,
                         task=CASE WHEN ? THEN excluded.task ELSE site_state.task END,
                         at=excluded.at,
                         last_ok=COALESCE(excluded.last_ok, site_state.last_ok),
                         failures=CASE WHEN ? THEN site_state.failures + 1 ELSE 0 END""",
                    (
                        r.site,
                        r.cloud,
                        r.region,
                        r.state,
                        r.reason,
                        fleet_result.task,
                        now,
                        None if failed else now,
                        int(failed),
                        *(health or failed,) * 3,
                        failed,
                    ),
                )
            self._db.execute("DELETE FROM runs WHERE id <= ?", (run_id - HISTORY_RUNS,))
        return run_id

    def last_known(self, sites: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Last-known state per site: state, reason, at, last_ok, failures."""
        with self._lock:
            rows = self._db.execute(
                "SELECT site, cloud, region, state, reason, task, at, last_ok, failures "
                "FROM site_state"
            ).fetchall()
        keys = ("site", "cloud", "region", "state", "reason", "task", "at", "last_ok", "failures")
        known = {row[0]: dict(zip(keys, row, strict=True)) for row in rows}
        if sites is None:
            return known
        return {s: known[s] for s in sites if s in known}

    # -- fleet views (edgeshade.history, edgeshade.report, edgeshade.exporter) --

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read query; a table or column a newer store has and this one lacks
        gives no rows, so views written for later schemas still open older stores."""
        with self._lock:
            try:
                return self._db.execute(sql, tuple(params)).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such" in str(exc):
                    return []
                raise

    def index_history_by_site(self) -> None:
        """Index run history by site, for per-site lookups (``edgeshade history SITE``)."""
        with self._lock, self._db:
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS run_sites_by_site ON run_sites (site, run_id)"
            )

    def note_site_states(self, fleet_result: Any) -> None:
        """Update last-known state and consecutive failures like :meth:`record_run`, no run row.

        The exporter audits often; recording every cheap audit as a run would push
        older runs out of the bounded history within hours.
        """
        now = time.time()
        rows = [
            (r.site, r.cloud, r.region, r.state, r.reason, fleet_result.task, now,
             None if r.state in _FAILED else now, int(r.state in _FAILED), r.state in _FAILED)
            for r in fleet_result
            if r.state not in ("cancelled", "skipped")
        ]
        with self._lock, self._db:
            self._db.executemany(
                """INSERT INTO site_state (site, cloud, region, state, reason, task, at,
                                           last_ok, failures)
                   VALUES (?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(site) DO UPDATE SET
                     cloud=excluded.cloud, region=excluded.region, state=excluded.state,
                     reason=excluded.reason, task=excluded.task, at=excluded.at,
                     last_ok=COALESCE(excluded.last_ok, site_state.last_ok),
                     failures=CASE WHEN ? THEN site_state.failures + 1 ELSE 0 END""",
                rows,
            )


class TokenCache:
    """Opt-in token persistence across runs (``tokens.json``, mode 0600).

    Keys combine the cloud name with a hash of its auth settings, so a changed
    password or project never reuses a stale token. keystoneauth re-authenticates
    by itself when a loaded token is about to expire.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(directory or default_state_dir()) / "tokens.json"
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}
        self._dirty = False
        if self.path.exists():
            mode = stat.S_IMODE(self.path.stat().st_mode)
            if mode & 0o077:
                LOG.warning("%s is readable by group/others; not using it", self.path)
                return
            with contextlib.suppress(OSError, ValueError):
                self._data = json.loads(self.path.read_text())

    @staticmethod
    def key(cloud: str, auth: dict[str, Any]) -> str:
        digest = hashlib.sha256(json.dumps(auth, sort_keys=True, default=str).encode()).hexdigest()
        return f"{cloud}:{digest[:32]}"

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, auth_state: str | None) -> None:
        if not auth_state:
            return
        with self._lock:
            if self._data.get(key) != auth_state:
                self._data[key] = auth_state
                self._dirty = True

    def save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(OSError, ValueError):  # keep other processes' tokens
                if not stat.S_IMODE(self.path.stat().st_mode) & 0o077:  # never a refused file
                    on_disk = json.loads(self.path.read_text())
                    self._data = {**on_disk, **self._data}
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(self._data, fh)
            os.replace(tmp, self.path)
            self._dirty = False
