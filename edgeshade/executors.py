"""Where per-site work runs.

The fleet hands an executor one callable per site and waits on futures; it
never cares where they run. :class:`ThreadExecutor` (the default) suits
I/O-bound fleets up to many thousands of sites in one process. Executors for
all local cores and for many machines (Dask) plug in behind the same
``submit``/``shutdown`` interface.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import resource
from collections.abc import Callable
from typing import Any, Protocol

#: Sockets one site may hold at once (token + parallel sub-calls + slack).
SOCKETS_PER_SITE = 8
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
    """Sites in flight: as asked, else 128, bounded by sites and open files."""
    if requested is not None:
        return max(1, min(requested, max(sites, 1)))
    soft = raise_open_file_limit()
    by_files = max(8, (soft - 64) // SOCKETS_PER_SITE)
    return max(1, min(DEFAULT_CONCURRENCY, by_files, max(sites, 1), (os.cpu_count() or 2) * 256))
