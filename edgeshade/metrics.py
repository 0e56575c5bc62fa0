"""Fleet state as Prometheus metrics (``-f prometheus`` and ``edgeshade exporter``).

The text is the Prometheus exposition format that node-exporter's textfile
collector reads (no timestamps, one ``# HELP``/``# TYPE`` per family)::

    edgeshade status -f prometheus > /var/lib/node_exporter/edgeshade.prom.$$ \\
      && mv /var/lib/node_exporter/edgeshade.prom.$$ /var/lib/node_exporter/edgeshade.prom

=================================================  =========================================
metric                                             meaning
=================================================  =========================================
``edgeshade_site_state{site,cloud,region,state}``  1 for the site's state, 0 for the others
``edgeshade_sites{state}``                         sites per state
``edgeshade_run_duration_seconds{task}``           wall time of the run
``edgeshade_run_timestamp_seconds{task}``          when the run finished
``edgeshade_site_last_success_timestamp_seconds``  last time the site answered (ok, warning,
                                                   critical or error: it was reachable)
``edgeshade_site_consecutive_failures``            failed contacts in a row (exporter)
``edgeshade_site_offline``                         1 after N consecutive failures (exporter)
=================================================  =========================================

Alert on ``edgeshade_site_state{state!="ok"} == 1`` or on
``time() - edgeshade_site_last_success_timestamp_seconds > 3600``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from edgeshade.results import SEVERITY

__all__ = ["FAILED_STATES", "Snapshot", "SnapshotCollector", "exposition", "snapshot_of"]

#: States in which the site did not answer at all (what "consecutive failures" counts).
FAILED_STATES = frozenset({"unreachable", "timed_out", "auth_failed"})
_STATES = tuple(str(s) for s in SEVERITY)
_SITE_LABELS = ("site", "cloud", "region")


@dataclass
class Snapshot:
    """What the metrics show: one state per site plus run facts."""

    task: str
    sites: list[tuple[str, str, str, str]]  # (site, cloud, region, state)
    elapsed: float
    finished: float
    last_success: Mapping[str, float] = field(default_factory=dict)
    failures: Mapping[str, int] | None = None
    offline: Mapping[str, bool] | None = None
    audits: Mapping[str, tuple[int, float, float]] | None = None  # kind -> (count, secs, at)


def snapshot_of(
    result: Any, *, last_success: Mapping[str, float] | None = None, finished: float | None = None
) -> Snapshot:
    """A Snapshot of a FleetResult; sites that answered count as a success now."""
    finished = time.time() if finished is None else finished
    success = dict(last_success or {})
    rows = []
    for r in result:
        rows.append((r.site, r.cloud or "", r.region or "", r.state))
        if r.state not in FAILED_STATES and r.state not in ("cancelled", "skipped", "deferred"):
            success[r.site] = finished
    return Snapshot(result.task, rows, result.elapsed, finished, success)


class SnapshotCollector(Collector):
    """Yields the current snapshot's families; ``update()`` swaps it atomically."""

    def __init__(self, snapshot: Snapshot | None = None) -> None:
        self.snapshot = snapshot

    def update(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot  # one reference assignment: scrapes see old or new, never half

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is None:
            return
        state = GaugeMetricFamily(
            "edgeshade_site_state",
            "1 for the state the site is in, 0 for the others.",
            labels=[*_SITE_LABELS, "state"],
        )
        for site, cloud, region, current in snap.sites:
            for name in _STATES:
                state.add_metric([site, cloud, region, name], 1.0 if name == current else 0.0)
        yield state

        counts = Counter(s[3] for s in snap.sites)
        per_state = GaugeMetricFamily("edgeshade_sites", "Sites per state.", labels=["state"])
        for name in _STATES:
            per_state.add_metric([name], float(counts.get(name, 0)))
        yield per_state

        labels = [snap.task]
        duration = GaugeMetricFamily(
            "edgeshade_run_duration_seconds", "Wall time of the run.", labels=["task"]
        )
        duration.add_metric(labels, snap.elapsed)
        yield duration
        finished = GaugeMetricFamily(
            "edgeshade_run_timestamp_seconds", "When the run finished.", labels=["task"]
        )
        finished.add_metric(labels, snap.finished)
        yield finished

        success = GaugeMetricFamily(
            "edgeshade_site_last_success_timestamp_seconds",
            "Last time the site answered (UNIX time).",
            labels=list(_SITE_LABELS),
        )
        for site, cloud, region, _state in snap.sites:
            at = snap.last_success.get(site)
            if at:
                success.add_metric([site, cloud, region], float(at))
        yield success

        if snap.failures is not None:
            yield _per_site(
                snap.sites,
                "edgeshade_site_consecutive_failures",
                "Failed contacts in a row (unreachable, timed out, auth failed).",
                lambda s: float(snap.failures.get(s, 0)),  # type: ignore[union-attr]
            )
        if snap.offline is not None:
            yield _per_site(
                snap.sites,
                "edgeshade_site_offline",
                "1 once the site failed the configured number of audits in a row.",
                lambda s: 1.0 if snap.offline.get(s) else 0.0,  # type: ignore[union-attr]
            )
        if snap.audits is not None:
            runs = CounterMetricFamily(
                "edgeshade_audits", "Audits run by the exporter.", labels=["kind"]
            )
            secs = GaugeMetricFamily(
                "edgeshade_audit_duration_seconds", "Wall time of the last audit.", labels=["kind"]
            )
            at = GaugeMetricFamily(
                "edgeshade_audit_timestamp_seconds", "When the last audit finished.",
                labels=["kind"],
            )
            for kind, (count, seconds, when) in sorted(snap.audits.items()):
                runs.add_metric([kind], float(count))
                secs.add_metric([kind], seconds)
                at.add_metric([kind], when)
            yield from (runs, secs, at)


def _per_site(
    sites: Iterable[tuple[str, str, str, str]], name: str, doc: str, value: Any
) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=list(_SITE_LABELS))
    for site, cloud, region, _state in sites:
        family.add_metric([site, cloud, region], value(site))
    return family


def exposition(snapshot: Snapshot) -> str:
    """The text format of ``snapshot`` (what node-exporter's textfile collector reads)."""
    from prometheus_client import generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return generate_latest(registry).decode("utf-8")
