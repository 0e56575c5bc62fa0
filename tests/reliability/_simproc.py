"""A simulated fleet served by a separate process, and the leak-check counters.

Why a separate process: the leak checks count this process's threads and file
descriptors, which must be the client's alone; and on a 2-core box the
simulator then gets a core of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from edgeshade.sim import SimFleet


@dataclass
class SimProcess:
    fleet: SimFleet  # same seed and spec as the server: tells which site has which fault
    clouds: str
    secure: str
    proc: subprocess.Popen

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def start_sim(directory: str, sites: int, seed: int, faults: str = "",
              latency_ms: float = 5.0) -> SimProcess:
    """``edgeshade sim serve`` in a child process; returns once its config is written."""
    cmd = [sys.executable, "-m", "edgeshade", "sim", "serve", "--sites", str(sites),
           "--seed", str(seed), "--latency-ms", str(latency_ms), "--faults", faults,
           "--write-config", directory]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("config: ") or not line:
            break
    if not line.startswith("config: "):
        proc.kill()
        raise RuntimeError(f"simulator did not start: {proc.stderr.read() if proc.stderr else ''}")
    clouds = line.split("config: ", 1)[1].strip()
    fleet = SimFleet(sites=sites, seed=seed, latency_ms=latency_ms, faults=faults)
    return SimProcess(fleet, clouds, os.path.join(directory, "secure.yaml"), proc)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def wait_for_baseline(fds: int, threads: int, within: float = 15.0) -> tuple[int, int]:
    """Poll until fd and thread counts are back to the baseline; returns the last counts."""
    deadline = time.monotonic() + within
    while True:
        now_fds, now_threads = open_fds(), threading.active_count()
        if (now_fds <= fds and now_threads <= threads) or time.monotonic() > deadline:
            return now_fds, now_threads
        time.sleep(0.2)


