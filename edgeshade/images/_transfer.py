"""Moving bytes: a shared bandwidth cap, a byte meter, and the upload body.

Why here and not in the fleet: the fleet bounds *sites* in flight; an upload
run also needs a bound on *bytes per second* across every upload at once (the
central link), which only the code that reads the file can enforce. The body is
a file-like object with a length, so requests sends ``Content-Length`` and
streams it in small reads: never the whole image in memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from edgeshade.images._source import CHUNK


class Bandwidth:
    """Token bucket shared by every upload of a run: at most ``rate`` bytes per second.

    Threads take what they send and sleep off any debt, so N uploads share the
    cap without a coordinator. ``burst`` bytes may pass at once (default 1/4 s of
    the rate, at least 64 KiB: uploads read 16 KiB at a time).
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("bandwidth must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate / 4, 64 * 1024))
        self._tokens = self.burst
        self._last = time.monotonic()
        self._lock = threading.Lock()

    @classmethod
    def mbps(cls, mbit_per_s: float) -> Bandwidth:
        return cls(mbit_per_s * 1e6 / 8)

    def take(self, size: int, cancel: threading.Event | None = None) -> None:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= size
            debt = -self._tokens
        if debt > 0:
            delay = debt / self.rate
            if cancel is not None:
                cancel.wait(delay)
            else:
                time.sleep(delay)


class Meter:
    """Bytes sent across a run (thread-safe), reported at most every ``every`` seconds."""

    def __init__(self, expected: int = 0, report: Callable[[int, int], None] | None = None,
                 every: float = 0.25) -> None:
        self.expected = expected
        self.sent = 0
        self._report = report
        self._every = every
        self._next = 0.0
        self._lock = threading.Lock()

    def add(self, size: int) -> None:
        with self._lock:
            self.sent += size
            now = time.monotonic()
            due = self._report is not None and now >= self._next
            if due:
                self._next = now + self._every
        if due and self._report is not None:
            self._report(self.sent, self.expected)


class UploadBody:
    """The request body of one upload: reads the file, pays the cap, counts, checks the site.

    ``check`` is the site's deadline/cancel check: a cancelled run stops an
    upload between two reads instead of after the whole image.
    """

    def __init__(self, path: str, size: int, *, bandwidth: Bandwidth | None = None,
                 meter: Meter | None = None, check: Callable[[], None] | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.size = size
        self.sent = 0
        self._fh: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._bandwidth = bandwidth
        self._meter = meter
        self._check = check
        self._cancel = cancel

    def __len__(self) -> int:
        return self.size

    def read(self, size: int = -1) -> bytes:
        if self._check is not None:
            self._check()
        data = self._fh.read(size if size and size > 0 else CHUNK)
        if data:
            if self._bandwidth is not None:
                self._bandwidth.take(len(data), self._cancel)
            self.sent += len(data)
            if self._meter is not None:
                self._meter.add(len(data))
        return data

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> UploadBody:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
