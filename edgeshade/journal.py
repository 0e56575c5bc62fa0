"""Journal, pending work and writer locks: what makes changes resumable.

Every change edgeshade makes to a cloud (a server created, a baseline applied,
an image uploaded) is written here **before** it is attempted and again
**after**, in the same ``state.db`` as :mod:`edgeshade.state` (WAL, one
transaction per entry, so a ``kill -9`` loses at most the step in flight, which
the ``begin`` row still names). A resumed run reads the open steps and adopts
or cleans up what they left behind.

Three parts:

* :meth:`Journal.begin` / :meth:`Journal.end`: steps of an *operation* (``deploy:web``,
  ``config:baseline``, ``image:ubuntu``) at one site: action, resource, version,
  before/after (JSON, never secrets). :meth:`Journal.open_steps` lists steps
  begun but never ended; :meth:`Journal.site_versions` the last version each
  site completed.
* **Pending work** (store-and-forward): :meth:`Journal.defer` keeps one entry
  per (operation, site) — a newer version replaces an older one, so a site that
  comes back gets the newest change only; :meth:`Journal.due` returns entries
  whose backoff has passed; :meth:`Journal.retry_later` backs off
  exponentially (bounded attempts); :meth:`Journal.resolve` clears one.
* :meth:`Journal.lock`: one writer per operation across processes (``flock``
  on a file next to the database); a second writer gets :class:`StateBusy`
  at once, with the holder's pid, rather than interleaving changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from munch import Munch

from edgeshade.errors import EdgeshadeError
from edgeshade.state import StateStore

#: Backoff of pending work per site: base * 2**attempts, capped, with jitter.
BACKOFF_BASE = 30.0
BACKOFF_MAX = 3600.0
#: Attempts after which pending work stays queued but is reported as stuck.
MAX_ATTEMPTS = 10

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, run TEXT NOT NULL,
    site TEXT NOT NULL, action TEXT NOT NULL, resource TEXT, version TEXT,
    phase TEXT NOT NULL, before TEXT, after TEXT, error TEXT,
    begun REAL NOT NULL, ended REAL);
CREATE INDEX IF NOT EXISTS journal_op_site ON journal (op, site);
CREATE TABLE IF NOT EXISTS pending (
    op TEXT NOT NULL, site TEXT NOT NULL, version TEXT NOT NULL, payload TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, next_try REAL NOT NULL, last_error TEXT,
    created REAL NOT NULL, PRIMARY KEY (op, site));
"""



class StateBusy(EdgeshadeError):
    """Another edgeshade process holds the writer lock of this operation."""


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Journal:
    """Steps, pending work and locks on top of a :class:`StateStore`."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        # One id per Journal (per apply/rollback), even two in one second of one process.
        self.run = f"{int(time.time())}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        with store._lock, store._db:
            store._db.executescript(_SCHEMA)
            # WAL + synchronous=NORMAL: a commit survives the process being killed (the
            # WAL is in the OS page cache); only an OS crash may drop the last few, and
            # resume re-reads the clouds anyway. FULL costs an fsync per step (~5 ms,
            # serialised across every site in flight).
            store._db.execute("PRAGMA synchronous=NORMAL")

    @classmethod
    @contextlib.contextmanager
    def open(cls, state_dir: str | os.PathLike[str] | None = None) -> Iterator[Journal]:
        with StateStore(state_dir) as store:
            yield cls(store)

    # -- steps -------------------------------------------------------------------

    def begin(
        self,
        op: str,
        site: str,
        action: str,
        *,
        resource: str | None = None,
        version: str | None = None,
        before: Any = None,
    ) -> int:
        """Record that a step is about to happen; returns its id for :meth:`end`."""
        db = self.store._db
        with self.store._lock, db:
            cur = db.execute(
                "INSERT INTO journal (op, run, site, action, resource, version, phase, before,"
                " begun) VALUES (?,?,?,?,?,?,?,?,?)",
                (op, self.run, site, action, resource, version, "begun", _dump(before),
                 time.time()),
            )
        return int(cur.lastrowid or 0)

    def end(
        self,
        step: int,
        *,
        after: Any = None,
        resource: str | None = None,
        error: str | None = None,
    ) -> None:
        """Close a step: ``done`` with ``after`` (and the resource id it created), or ``failed``."""
        db = self.store._db
        with self.store._lock, db:
            db.execute(
                "UPDATE journal SET phase = ?, after = ?, error = ?, ended = ?,"
                " resource = COALESCE(?, resource) WHERE id = ?",
                ("failed" if error else "done", _dump(after), error, time.time(), resource, step),
            )

    @contextlib.contextmanager
    def step(self, op: str, site: str, action: str, **kw: Any) -> Iterator[Munch]:
        """``with journal.step(...) as s: ...; s.after = {...}; s.resource = id``."""
        handle = Munch(id=self.begin(op, site, action, **kw), after=None, resource=None)
        try:
            yield handle
        except BaseException as exc:
            self.end(handle.id, error=f"{type(exc).__name__}: {exc}"[:500] or "failed")
            raise
        self.end(handle.id, after=handle.after, resource=handle.resource)

    def _rows(self, where: str, args: tuple[Any, ...]) -> list[Munch]:
        cols = ("id", "op", "run", "site", "action", "resource", "version", "phase", "before",
                "after", "error", "begun", "ended")
        with self.store._lock:
            rows = self.store._db.execute(
                f"SELECT {', '.join(cols)} FROM journal WHERE {where} ORDER BY id", args
            ).fetchall()
        out = []
        for row in rows:
            entry = Munch(zip(cols, row, strict=True))
            entry.before, entry.after = _load(entry.before), _load(entry.after)
            out.append(entry)
        return out

    def steps(self, op: str, site: str | None = None) -> list[Munch]:
        if site is None:
            return self._rows("op = ?", (op,))
        return self._rows("op = ? AND site = ?", (op, site))

    def open_steps(self, op: str, site: str | None = None) -> list[Munch]:
        """Steps begun and never ended: a crash happened in between."""
        where = "op = ? AND phase = 'begun'" + (" AND site = ?" if site else "")
        return self._rows(where, (op, site) if site else (op,))

    def site_versions(self, op: str, action: str = "complete") -> dict[str, Munch]:
        """Per site, the last ``action`` step done: version, after, when."""
        with self.store._lock:
            rows = self.store._db.execute(
                "SELECT site, version, after, ended FROM journal WHERE id IN ("
                " SELECT MAX(id) FROM journal WHERE op = ? AND action = ? AND phase = 'done'"
                " GROUP BY site)",
                (op, action),
            ).fetchall()
        return {
            site: Munch(version=version, after=_load(after), at=ended)
            for site, version, after, ended in rows
        }

    def completed_versions(self) -> dict[str, dict[str, str]]:
        """Per site, the version each operation last completed: ``{site: {op: version}}``.

        Deployments, baselines and images all close a site with a ``complete``
        step, so this is the fleet's version view (the HTML report shows it).
        """
        with self.store._lock:
            rows = self.store._db.execute(
                "SELECT site, op, version FROM journal WHERE id IN ("
                " SELECT MAX(id) FROM journal WHERE action = 'complete' AND phase = 'done'"
                " GROUP BY op, site)"
            ).fetchall()
        out: dict[str, dict[str, str]] = {}
        for site, op, version in rows:
            out.setdefault(site, {})[op] = "" if version is None else str(version)
        return out

    def operations(self, prefix: str = "") -> list[Munch]:
        """Operations in the journal (``deploy history``): first/last step, runs, sites."""
        with self.store._lock:
            rows = self.store._db.execute(
                "SELECT op, MIN(begun), MAX(COALESCE(ended, begun)), COUNT(DISTINCT run),"
                " COUNT(DISTINCT site), SUM(phase = 'failed'), SUM(phase = 'begun')"
                " FROM journal WHERE op LIKE ? GROUP BY op ORDER BY MAX(id)",
                (prefix.replace("%", r"\%") + "%",),
            ).fetchall()
        keys = ("op", "first", "last", "runs", "sites", "failed", "open")
        return [Munch(zip(keys, row, strict=True)) for row in rows]

    # -- pending work (store-and-forward) -------------------------------------------

    def defer(self, op: str, site: str, version: str, payload: Any = None,
              error: str | None = None) -> None:
        """Queue work for a site that cannot take it now; a newer version replaces older."""
        now = time.time()
        db = self.store._db
        with self.store._lock, db:
            db.execute(
                """INSERT INTO pending (op, site, version, payload, attempts, next_try, last_error,
                                        created) VALUES (?,?,?,?,0,?,?,?)
                   ON CONFLICT(op, site) DO UPDATE SET
                     attempts = CASE WHEN pending.version = excluded.version
                                     THEN pending.attempts ELSE 0 END,
                     version = excluded.version, payload = excluded.payload,
                     last_error = COALESCE(excluded.last_error, pending.last_error),
                     next_try = CASE WHEN pending.version = excluded.version
                                     THEN pending.next_try ELSE excluded.next_try END""",
                (op, site, version, _dump(payload), now, error, now),
            )

    def pending(self, op: str | None = None, *, due_only: bool = False,
                now: float | None = None) -> list[Munch]:
        """Queued work, oldest first; ``due_only``: only entries whose backoff has passed."""
        clauses, args = [], []
        if op is not None:
            clauses.append("op = ?")
            args.append(op)
        if due_only:
            clauses.append("next_try <= ?")
            args.append(now if now is not None else time.time())
        where = " AND ".join(clauses) or "1"
        cols = ("op", "site", "version", "payload", "attempts", "next_try", "last_error",
                "created")
        with self.store._lock:
            rows = self.store._db.execute(
                f"SELECT {', '.join(cols)} FROM pending WHERE {where} ORDER BY created, site",
                tuple(args),
            ).fetchall()
        out = []
        for row in rows:
            entry = Munch(zip(cols, row, strict=True))
            entry.payload = _load(entry.payload)
            entry.stuck = entry.attempts >= MAX_ATTEMPTS
            out.append(entry)
        return out

    def due(self, op: str | None = None, now: float | None = None) -> list[Munch]:
        return self.pending(op, due_only=True, now=now)

    def retry_later(self, op: str, site: str, error: str, *, now: float | None = None) -> float:
        """One more failed attempt: back off exponentially (jittered); returns next try time."""
        now = now if now is not None else time.time()
        db = self.store._db
        with self.store._lock, db:
            row = db.execute(
                "SELECT attempts FROM pending WHERE op = ? AND site = ?", (op, site)
            ).fetchone()
            attempts = (row[0] if row else 0) + 1
            delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempts - 1))
            next_try = now + delay * random.uniform(0.8, 1.0)
            db.execute(
                "UPDATE pending SET attempts = ?, next_try = ?, last_error = ?"
                " WHERE op = ? AND site = ?",
                (attempts, next_try, error[:500], op, site),
            )
        return next_try

    def resolve(self, op: str, site: str, version: str | None = None) -> bool:
        """Drop pending work once done (only ``version``, if given: a newer one stays)."""
        db = self.store._db
        with self.store._lock, db:
            if version is None:
                cur = db.execute("DELETE FROM pending WHERE op = ? AND site = ?", (op, site))
            else:
                cur = db.execute(
                    "DELETE FROM pending WHERE op = ? AND site = ? AND version = ?",
                    (op, site, version),
                )
        return cur.rowcount > 0

    # -- writer lock --------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, op: str) -> Iterator[None]:
        """Hold the writer lock of ``op`` (non-blocking): :class:`StateBusy` if taken."""
        with writer_lock(self.store.directory, op):
            yield


@contextlib.contextmanager
def writer_lock(directory: str | os.PathLike[str], op: str) -> Iterator[None]:
    """``flock`` on ``<state dir>/locks/<op>.lock``; released by the kernel if we die."""
    locks = Path(directory) / "locks"
    locks.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = locks / (re.sub(r"[^A-Za-z0-9_.-]+", "_", op) + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise StateBusy(
                f"another edgeshade process (pid {holder}) is running '{op}' "
                f"on {path.parent.parent}; wait for it to finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
