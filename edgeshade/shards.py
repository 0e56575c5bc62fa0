"""Shards: a fleet cut into self-contained chunks that any machine can run.

A :class:`Shard` carries its sites, the run's settings, the task and only the
part of the configuration its sites need: the merged clouds.yaml + secure.yaml
entries of *its* clouds, nothing of the others. :func:`run_shard` runs on a
worker (a Dask worker, or any process): it rebuilds a FleetConfig from those
entries, runs the ordinary thread-based :class:`~edgeshade.fleet.Fleet` over
the shard's sites and returns ``(position, result)`` pairs. It never raises:
whatever goes wrong ends the shard's sites ``error`` with a one-line reason.

A cloud's regions stay in one shard, so they share one token and one
discovery, as they do in a single-process run.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

import yaml

from edgeshade.config import FleetConfig, Site
from edgeshade.logs import collect_secrets, redact
from edgeshade.results import SiteResult, State

#: Sites per shard when not given: small enough to spread over workers and to
#: stream progress, big enough that a shard's thread pool has work in flight.
DEFAULT_SHARD_SITES = 250


@dataclass(repr=False)
class Shard:
    """One chunk of a fleet run. Its repr never shows the config (it holds secrets)."""

    number: int
    positions: list[int]
    sites: list[Site]
    clouds: dict[str, dict[str, Any]]
    task: Any
    params: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 128
    timeout: float = 30.0
    retries: int = 2

    def __repr__(self) -> str:
        return f"<Shard {self.number}: {len(self.sites)} sites, {len(self.clouds)} clouds>"

    __str__ = __repr__


def shard_size(sites: int, workers: int, requested: int | None = None) -> int:
    """Sites per shard: as asked, else ~4 shards per worker, at most 250 sites."""
    if requested:
        return max(1, requested)
    per = -(-sites // max(1, workers * 4))
    return max(1, min(DEFAULT_SHARD_SITES, per))


def make_shards(fleet: Any, task: Any, params: dict[str, Any], size: int) -> list[Shard]:
    """Cut ``fleet`` into shards of about ``size`` sites, keeping each cloud whole."""
    by_cloud: dict[str, list[int]] = {}
    for index, site in enumerate(fleet.sites):
        by_cloud.setdefault(site.cloud, []).append(index)
    all_clouds = fleet.config.openstack_config.cloud_config.get("clouds", {})
    groups: list[list[int]] = []
    current: list[int] = []
    for indices in by_cloud.values():
        if current and len(current) + len(indices) > size:
            groups.append(current)
            current = []
        current.extend(indices)
    if current:
        groups.append(current)
    shards = []
    for number, positions in enumerate(groups):
        sites = [fleet.sites[i] for i in positions]
        clouds = {s.cloud: copy.deepcopy(all_clouds[s.cloud]) for s in sites}
        shards.append(
            Shard(
                number=number,
                positions=positions,
                sites=sites,
                clouds=clouds,
                task=task,
                params=dict(params),
                concurrency=max(1, min(fleet.concurrency, len(sites))),
                timeout=fleet.timeout,
                retries=fleet.retries,
            )
        )
    return shards


def load_shard_config(clouds: dict[str, dict[str, Any]]) -> FleetConfig:
    """A FleetConfig of just these clouds, through the same openstack.config loader.

    The entries are written to a private directory (0700, file 0600) next to an
    empty secure.yaml (so no secure.yaml of the worker's user is merged) and
    the directory is removed as soon as they are loaded.
    """
    directory = tempfile.mkdtemp(prefix="edgeshade-shard-")
    try:
        clouds_path = os.path.join(directory, "clouds.yaml")
        secure_path = os.path.join(directory, "secure.yaml")
        for path, doc in ((clouds_path, {"clouds": clouds}), (secure_path, {})):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                yaml.safe_dump(doc, fh)
        return FleetConfig(clouds_path, secure_path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_shard(shard: Shard) -> list[tuple[int, dict[str, Any]]]:
    """Run one shard here; ``(position, SiteResult as a dict)`` for each of its sites."""
    from edgeshade.fleet import Fleet

    try:
        config = load_shard_config(shard.clouds)
        fleet = Fleet(
            config,
            shard.sites,
            concurrency=shard.concurrency,
            timeout=shard.timeout,
            retries=shard.retries,
            use_state=False,
        )
        result = fleet.run(shard.task, record=False, **shard.params)
        return [(pos, dict(r)) for pos, r in zip(shard.positions, result, strict=True)]
    except Exception as exc:  # noqa: BLE001 - a shard never raises: its sites get a state
        reason = f"shard {shard.number} failed on its worker: {type(exc).__name__}: {exc}"
        return failed(shard, redact(reason.splitlines()[0], collect_secrets(shard.clouds)))


def failed(shard: Shard, reason: str, state: str = State.ERROR) -> list[tuple[int, dict[str, Any]]]:
    """Every site of ``shard`` ended ``state`` with ``reason`` (a lost or broken shard)."""
    return [
        (pos, dict(SiteResult.make(site, state, reason)))
        for pos, site in zip(shard.positions, shard.sites, strict=True)
    ]
