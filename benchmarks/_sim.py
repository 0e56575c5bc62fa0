"""The simulator in its own process, shared by every benchmark.

A benchmark's client and the simulator would otherwise fight over one core and
one GIL; in its own process the simulator gets the second core, and a
contender's numbers are its own. ``extra`` passes further ``edgeshade sim
serve`` options (faults, bandwidth...).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence


class Sim:
    """``edgeshade sim serve`` in a child process: ``url``, ``stats()``, ``reset()``."""

    def __init__(self, sites: int, latency_ms: float, config_dir: str, *, seed: int = 1,
                 extra: Sequence[str] = ()) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgeshade.cli", "sim", "serve", "--sites", str(sites),
             "--latency-ms", str(latency_ms), "--seed", str(seed), "--write-config", config_dir,
             *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.url = ""
        deadline = time.monotonic() + 120
        lines: list[str] = []
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"edgeshade sim: \d+ sites on (http://127\.0\.0\.1:\d+)", line)
            if match:
                self.url = match.group(1)
                break
        if not self.url:
            self.proc.kill()
            raise RuntimeError("simulator did not start: " + "".join(lines[-5:]))
        # drain its output so a chatty simulator never blocks on a full pipe
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/_sim/stats", timeout=30) as resp:
            return json.load(resp)

    def reset(self) -> None:
        req = urllib.request.Request(self.url + "/_sim/reset", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=30).read()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> Sim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
