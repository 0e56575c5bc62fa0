"""A Prometheus exporter that audits the fleet on a schedule (``edgeshade exporter``).

The audit cadence of distributed cloud managers: **cheap audits often**
(by default authentication and catalog only: is the site reachable and does
Keystone answer), **full audits rarely** (every status check), and a site is
shown failed (``unreachable``, ``timed_out``, ``auth_failed``) and ``offline``
only after ``offline_after`` consecutive failed audits, so one lost packet on
a WAN link does not page anyone. Until then the site keeps its previous state
and ``edgeshade_site_consecutive_failures`` shows the count.

A cheap audit cannot see what only a full audit checks, so a site's shown
state is the worse of the cheap audit's and the last full audit's. Scrapes
never trigger checks: they read the last snapshot, so a scrape costs
milliseconds however large the fleet.

Every audit updates the state store's last-known state and failure count;
full audits, and cheap audits in which some site's shown state changed, are
recorded as runs in the bounded history, so ``edgeshade changes`` sees every
transition without cheap audits pushing older runs out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from edgeshade.metrics import FAILED_STATES, Snapshot, SnapshotCollector
from edgeshade.results import FleetResult, State, worst
from edgeshade.state import StateStore

__all__ = ["Exporter"]

LOG = logging.getLogger("edgeshade")


class Exporter:
    """Audit state and the metrics collector it feeds.

    >>> exporter = Exporter(fleet, interval=60, full_interval=900, offline_after=3)
    >>> exporter.audit("full")          # or exporter.run_forever(stop_event)
    """

    def __init__(
        self,
        fleet: Any,
        *,
        interval: float = 60.0,
        full_interval: float = 900.0,
        cheap_checks: str | Iterable[str] = "",
        full_checks: str | Iterable[str] | None = None,
        offline_after: int = 3,
        thresholds: Any = None,
        task: Any = None,
    ) -> None:
        from edgeshade.tasks.status import status

        self.fleet = fleet
        self.interval = float(interval)
        self.full_interval = float(full_interval)
        self.cheap_checks = cheap_checks
        self.full_checks = full_checks
        self.offline_after = max(1, int(offline_after))
        self.thresholds = thresholds
        self.task = task or status
        self.collector = SnapshotCollector()
        self.failures: dict[str, int] = {}
        self.shown: dict[str, str] = {}
        self.health: dict[str, str] = {}
        self.last_success: dict[str, float] = {}
        self.audits: dict[str, tuple[int, float, float]] = {}
        self._seed_from_store()

    def _store(self) -> StateStore | None:
        return StateStore(self.fleet.state_dir) if self.fleet.use_state else None

    def _seed_from_store(self) -> None:
        """A restart keeps failure counts, shown states and last successes."""
        store = self._store()
        if store is None:
            return
        with store:
            known = store.last_known([s.name for s in self.fleet.sites])
        for site, row in known.items():
            self.failures[site] = int(row.get("failures") or 0)
            self.shown[site] = row["state"]
            if row.get("last_ok"):
                self.last_success[site] = float(row["last_ok"])

    def audit(self, kind: str = "full") -> FleetResult:
        """Run one audit (``cheap`` or ``full``), update states, store and snapshot."""
        checks = self.cheap_checks if kind == "cheap" else self.full_checks
        result = self.fleet.run(
            self.task, record=False, checks=checks, thresholds=self.thresholds
        )
        now = time.time()
        changed = self._apply(result, kind, now)
        store = self._store()
        if store is not None and not result.cancelled:
            with store:
                if kind == "full" or changed:
                    store.record_run(result)
                else:
                    store.note_site_states(result)
        count = self.audits.get(kind, (0, 0.0, 0.0))[0] + 1
        self.audits[kind] = (count, result.elapsed, now)
        self.collector.update(self.snapshot(result.task, result.elapsed, now))
        return result

    def _apply(self, result: FleetResult, kind: str, now: float) -> bool:
        changed = False
        for r in result:
            if r.state in (State.CANCELLED, State.SKIPPED):
                continue
            before = self.shown.get(r.site)
            if r.state in FAILED_STATES:
                self.failures[r.site] = self.failures.get(r.site, 0) + 1
                if before is None or self.failures[r.site] >= self.offline_after:
                    self.shown[r.site] = r.state
                elif before in FAILED_STATES:
                    self.shown[r.site] = r.state  # still failed; the latest way of failing
            else:
                self.failures[r.site] = 0
                self.last_success[r.site] = now
                if kind == "full":
                    self.health[r.site] = r.state
                    self.shown[r.site] = r.state
                else:
                    self.shown[r.site] = worst([r.state, self.health.get(r.site, State.OK)])
            changed = changed or self.shown[r.site] != before
        return changed

    def snapshot(self, task: str, elapsed: float, finished: float) -> Snapshot:
        rows = []
        for site in self.fleet.sites:
            rows.append(
                (site.name, site.cloud, site.region or "", self.shown.get(site.name, "skipped"))
            )
        offline = {
            name: count >= self.offline_after for name, count in self.failures.items()
        }
        return Snapshot(
            task=task,
            sites=rows,
            elapsed=elapsed,
            finished=finished,
            last_success=dict(self.last_success),
            failures=dict(self.failures),
            offline=offline,
            audits=dict(self.audits),
        )

    def run_forever(self, stop: threading.Event) -> None:
        """Full audit now, then cheap every ``interval`` and full every ``full_interval``."""
        next_full = next_cheap = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_full:
                result = self.audit("full")
                next_full = now + self.full_interval
                next_cheap = now + self.interval
            elif now >= next_cheap:
                result = self.audit("cheap")
                next_cheap = now + self.interval
            else:
                result = None
            if result is not None and result.cancelled:  # Ctrl-C reached the fleet run
                raise KeyboardInterrupt
            stop.wait(max(0.0, min(next_full, next_cheap) - time.monotonic()))


def serve(exporter: Exporter, address: str = "127.0.0.1", port: int = 9595) -> tuple[Any, int]:
    """Serve ``/metrics`` from the exporter's collector on a daemon thread; (server, port)."""
    from prometheus_client import start_http_server
    from prometheus_client.registry import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter.collector)
    server, _thread = start_http_server(port, addr=address, registry=registry)
    return server, int(server.server_address[1])
