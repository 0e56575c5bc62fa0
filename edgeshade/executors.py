"""Where per-site work runs.

Three executors, chosen by name (``Fleet(executor=...)``, ``--executor``):

``threads`` (default)
    one process, a bounded thread pool (:class:`ThreadExecutor`): I/O-bound
    fleets up to many thousands of sites.
``processes``
    the sites split over forked local processes, threads inside each
    (:mod:`edgeshade.processes`): every local core does request CPU work.
``dask``
    shards of sites run by Dask distributed workers, threads inside each
    (:mod:`edgeshade.dask_executor`): many machines.

Any object with the ``submit``/``shutdown`` interface below also works as a
thread-level executor; a ``distributed.Client`` selects ``dask`` on that client.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import resource
from collections.abc import Callable
from typing import Any, Protocol

LOG = logging.getLogger("edgeshade")

#: Sockets one site may hold at once (token + parallel sub-calls + slack).
SOCKETS_PER_SITE = 8
#: Descriptors kept for everything else (state store, logs, config files, pipes).
_RESERVED_FILES = 64
DEFAULT_CONCURRENCY = 128


class Executor(Protocol):
    """Runs per-site callables; ``max_workers`` is the fleet's concurrency."""

    max_workers: int

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]: ...

    def shutdown(self, *, cancel: bool) -> None: ...


class ThreadExecutor:
    """A bounded thread pool; threads return promptly since every call has a deadline."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._pool = cf.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="edgeshade")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, *, cancel: bool) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


EXECUTORS = ("threads", "processes", "dask")


def resolve_executor(executor: Any, processes: int) -> tuple[str, Any, int]:
    """(name, executor object or None, processes) for a Fleet's ``executor`` keyword."""
    if executor is None:  # processes=N alone keeps meaning "split over N processes"
        return ("processes" if processes > 1 else "threads"), None, processes
    if isinstance(executor, str):
        if executor not in EXECUTORS:
            from edgeshade.errors import ConfigError

            raise ConfigError(f"unknown executor '{executor}' (known: {', '.join(EXECUTORS)})")
        if executor == "processes" and processes <= 1:
            processes = os.cpu_count() or 1
        return executor, None, processes if executor == "processes" else 1
    if type(executor).__module__.startswith("distributed") and hasattr(executor, "scheduler"):
        return "dask", executor, 1
    return "threads", executor, processes


def raise_open_file_limit(wanted: int = 65536) -> int:
    """Raise the soft open-files limit towards the hard one; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def default_concurrency(sites: int, requested: int | None = None) -> int:
    """Sites in flight: as asked, else 128, bounded by sites and by open files.

    The soft open-files limit is raised towards the hard one first. When even
    that leaves too few descriptors for the wanted concurrency (each site in
    flight holds up to SOCKETS_PER_SITE sockets), concurrency is capped and a
    warning says why: running out of descriptors mid-run would end healthy
    sites as ``unreachable`` ("Too many open files"), an error of our own.
    """
    fleet = max(sites, 1)
    if requested is not None:
        wanted = max(1, min(requested, fleet))
    else:
        wanted = max(1, min(DEFAULT_CONCURRENCY, fleet, (os.cpu_count() or 2) * 256))
    soft = raise_open_file_limit()
    by_files = max(1, (soft - _RESERVED_FILES) // SOCKETS_PER_SITE)
    if wanted > by_files:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        LOG.warning(
            "open-files limit %d (hard limit %s) allows %d sites in flight, not %d: "
            "running with concurrency %d (raise it with `ulimit -n`)",
            soft, "unlimited" if hard == resource.RLIM_INFINITY else hard, by_files, wanted,
            by_files,
        )
        return by_files
    return wanted
