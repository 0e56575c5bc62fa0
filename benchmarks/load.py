#!/usr/bin/env python3
"""Load: ``status`` with default settings over 10,000 simulated sites at 100 ms.

The simulator (``edgeshade sim serve``, no faults) runs in its own process;
each measured run is a fresh child process, so its peak RSS is its own. Runs:

* ``baseline``   the first ``--baseline-sites`` sites (core clouds + ``edge-00*``),
                 the reference the ratios are computed against;
* ``full``       every site;
* ``nofile``     the baseline sites with the open-files limit pinned (soft = hard =
                 ``--nofile``), so edgeshade cannot raise it and must cap concurrency
                 with a warning instead of failing sites with "Too many open files".

"edgeshade errors" counts sites that ended unreachable, timed_out, auth_failed,
error or cancelled: the simulated fleet has no faults, so any such site is a
failure of edgeshade itself (it must be 0). Prints a table; ``--json`` prints the
raw numbers instead (the CI test ``tests/reliability/test_load.py`` uses it).

    python benchmarks/load.py                                  # 10,000 sites @ 100 ms
    python benchmarks/load.py --sites 500 --latency-ms 20 --baseline-sites 0
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NOT_EDGESHADE_FAULT = ("ok", "warning", "critical")  # what a fault-free simulated site can be


def client(args: argparse.Namespace) -> None:
    """One measured run (child process): prints a JSON line."""
    if args.pin_nofile:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.pin_nofile, args.pin_nofile))
    import edgeshade
    from edgeshade import logs

    logs.setup()  # warnings on stderr as the CLI shows them
    fleet = edgeshade.connect(args.select, config_file=args.clouds, state_dir=args.state_dir)
    started = time.monotonic()
    result = fleet.run("status")
    wall = time.monotonic() - started
    mine = [r for r in result if r.state not in NOT_EDGESHADE_FAULT]
    print(json.dumps({
        "sites": len(result),
        "wall": round(wall, 2),
        "concurrency": fleet.concurrency,
        "states": dict(result.summary),
        "edgeshade_errors": len(mine),
        "error_samples": [f"{r.site}: {r.state}: {r.reason}" for r in mine[:5]],
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))
    sys.stdout.flush()
    os._exit(0)


def _measure(name: str, clouds: str, select: str, tmp: str, nofile: int | None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--client", "--clouds", clouds,
           "--select", select, "--state-dir", os.path.join(tmp, f"state-{name}")]
    if nofile:
        cmd += ["--pin-nofile", str(nofile)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{name} run failed ({proc.returncode}):\n{err[-3000:]}")
    data = json.loads(out.strip().splitlines()[-1])
    data["name"] = name
    data["warnings"] = [line for line in err.splitlines() if "warning" in line]
    return data


def _start_sim(sites: int, latency_ms: float, tmp: str) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "edgeshade", "sim", "serve", "--sites", str(sites),
           "--seed", "10", "--latency-ms", str(latency_ms), "--write-config", tmp]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("config: "):
        proc.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return proc, line.split("config: ", 1)[1].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--baseline-sites", type=int, default=1000,
                        help="~1,000: core clouds + edge-00*; 0: no baseline run")
    parser.add_argument("--nofile", type=int, default=256,
                        help="pinned open-files limit of the nofile run; 0: skip it")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--clouds", help=argparse.SUPPRESS)
    parser.add_argument("--select", default="all", help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    parser.add_argument("--pin-nofile", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(args)
        return

    with tempfile.TemporaryDirectory(prefix="edgeshade-load-") as tmp:
        sim, clouds = _start_sim(args.sites, args.latency_ms, tmp)
        try:
            runs = []
            subset = "core-*,edge-00*" if args.baseline_sites >= 1000 else "all"
            if args.baseline_sites:
                runs.append(_measure("baseline", clouds, subset, tmp, None))
            runs.append(_measure("full", clouds, "all", tmp, None))
            if args.nofile:
                runs.append(_measure("nofile", clouds, subset, tmp, args.nofile))
        finally:
            sim.terminate()
            sim.wait(30)
    if args.json:
        print(json.dumps(runs))
        return
    base = runs[0]
    per_k_base = base["wall"] / base["sites"] * 1000
    print(f"status, default settings, {args.sites} simulated sites @ {args.latency_ms:g} ms "
          f"(simulator in its own process, {os.cpu_count()} cores)\n")
    header = (f"{'run':<9}{'sites':>7}{'conc':>6}{'wall s':>9}{'s/1k sites':>12}{'ratio':>7}"
              f"{'RSS MB':>8}{'edgeshade errors':>18}  states")
    print(header)
    print("-" * len(header))
    for run in runs:
        per_k = run["wall"] / run["sites"] * 1000
        states = ", ".join(f"{n} {s}" for s, n in run["states"].items())
        print(f"{run['name']:<9}{run['sites']:>7}{run['concurrency']:>6}{run['wall']:>9.1f}"
              f"{per_k:>12.2f}{per_k / per_k_base:>7.2f}{run['rss_mb']:>8.0f}"
              f"{run['edgeshade_errors']:>18}  {states}")
    for run in runs:
        for sample in run["error_samples"]:
            print(f"  {run['name']}: {sample}")
        for warning in run["warnings"]:
            print(f"  {run['name']}: {warning}")


if __name__ == "__main__":
    main()
