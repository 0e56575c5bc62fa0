#!/usr/bin/env python3
"""Rollout benchmark: a deployment over 1,000 simulated sites, in waves, journalled.

Starts the built-in simulator in its own process (it gets a core of its own)
with WAN-like latency and a server build time, then runs ``fleet.deploy(spec)``
in this process: plan, then apply with ``batch: 10%`` and ``max_parallel: 200``
and a health gate after every wave. Measured in the same run:

* **wall time vs the sum of per-site critical paths** (each site's own apply
  time: what a tool walking the fleet one site after another would need), and
  vs the wave bound (per wave, its slowest site plus its gate: the best a
  wave-by-wave rollout can do);
* **journal overhead per step**: time in ``Journal.begin``/``end`` during the
  rollout (with every site thread writing), and the same step measured alone
  with ``synchronous=NORMAL`` (what the journal uses) against ``FULL`` (an
  fsync per commit) as the baseline.

    python benchmarks/rollout.py                       # 1,000 sites, 100 ms, build 1 s
    python benchmarks/rollout.py --sites 200 --latency-ms 20 --build-seconds 0.2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def serve(args: argparse.Namespace) -> int:
    """Child process: the simulator, until stdin closes."""
    from edgeshade.sim import SimFleet, SimServer
    from edgeshade.sim.workloads import workloads

    fleet = SimFleet(sites=args.sites, seed=1, latency_ms=args.latency_ms)
    workloads(fleet).build_seconds = args.build_seconds
    server = SimServer(fleet).start()
    server.write_config(args.config_dir)
    print(f"serving on {server.url}", flush=True)
    sys.stdin.read()
    server.stop()
    return 0


def _start_sim(args: argparse.Namespace, config_dir: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--sites", str(args.sites), "--latency-ms",
         str(args.latency_ms), "--build-seconds", str(args.build_seconds), "--config-dir",
         config_dir],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not re.search(r"on http://", line):
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return proc


class JournalTimer:
    """Wraps Journal.begin/end to add up the time spent in them (all threads)."""

    def __init__(self) -> None:
        from edgeshade.journal import Journal

        self.lock = threading.Lock()
        self.seconds = 0.0
        self.cpu = 0.0
        self.control = 0.0
        self.calls = 0
        self.samples: list[float] = []
        self._orig = (Journal.begin, Journal.end)
        timer = self

        def timed(fn):
            def wrapper(*a, **kw):
                # Control: give up the GIL and take it back, at the same moment. Under a
                # CPU-bound wave this alone waits for the other threads' turns.
                s0 = time.perf_counter()
                time.sleep(0)
                control = time.perf_counter() - s0
                t0, c0 = time.perf_counter(), time.thread_time()
                try:
                    return fn(*a, **kw)
                finally:
                    dt = time.perf_counter() - t0
                    dc = time.thread_time() - c0
                    with timer.lock:
                        timer.seconds += dt
                        timer.cpu += dc
                        timer.control += control
                        timer.calls += 1
                        timer.samples.append(dt)
            return wrapper

        Journal.begin, Journal.end = timed(Journal.begin), timed(Journal.end)

    def restore(self) -> None:
        from edgeshade.journal import Journal

        Journal.begin, Journal.end = self._orig


def journal_alone(directory: str, steps: int) -> dict[str, float]:
    """One thread, ``steps`` begin+end pairs, per synchronous mode: ms per step."""
    from edgeshade.journal import Journal

    out = {}
    for mode in ("FULL", "NORMAL"):
        path = Path(directory) / f"alone-{mode}"
        with Journal.open(path) as journal:
            journal.store._db.execute(f"PRAGMA synchronous={mode}")
            t0 = time.perf_counter()
            for i in range(steps):
                with journal.step("bench", f"site-{i}", "create", version="1",
                                  before={"image": "x"}) as s:
                    s.after = {"id": str(i)}
            out[mode] = (time.perf_counter() - t0) / steps * 1000
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config-dir", help=argparse.SUPPRESS)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--build-seconds", type=float, default=1.0)
    parser.add_argument("--batch", default="10%")
    parser.add_argument("--max-parallel", type=int, default=200)
    parser.add_argument("--servers", type=int, default=1, help="servers per site")
    parser.add_argument("--json", metavar="FILE", help="also write raw numbers here")
    args = parser.parse_args()
    if args.serve:
        return serve(args)

    import edgeshade

    tmp = tempfile.mkdtemp(prefix="edgeshade-rollout-")
    sim = _start_sim(args, tmp)
    try:
        fleet = edgeshade.connect("all", config_file=os.path.join(tmp, "clouds.yaml"),
                                  state_dir=os.path.join(tmp, "state"), timeout=120)
        spec = {
            "deployment": "bench", "version": "1", "sites": ["all"], "poll": 0.5,
            "timeout": 300,
            "servers": [{"name": "app-{{ site.name }}", "count": args.servers,
                         "image": "cirros-0.6.2-x86_64-disk", "flavor": "m1.small",
                         "networks": ["private"], "metadata": {"role": "app"}}],
            "rollout": {"batch": args.batch, "max_parallel": args.max_parallel,
                        "max_failures": "5%", "health_gate": True, "gate_timeout": 120},
        }
        t0 = time.perf_counter()
        d = fleet.deploy(spec)
        render_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        plan = d.plan()
        plan_s = time.perf_counter() - t0
        timer = JournalTimer()
        gates: list[float] = []
        orig_gate = d._gate

        def timed_gate(f, timeout, run):
            g0 = time.perf_counter()
            try:
                return orig_gate(f, timeout, run)
            finally:
                gates.append(time.perf_counter() - g0)

        d._gate = timed_gate
        t0 = time.perf_counter()
        result = d.apply()
        apply_s = time.perf_counter() - t0
        timer.restore()
        elapsed = {r.site: r.elapsed for r in result}
        critical_sum = sum(elapsed.values())
        waves = d.spec.policy.waves(d.fleet.sites)
        wave_bound = sum(max(elapsed[s.name] for s in w) for w in waves) + sum(gates)
        alone = journal_alone(tmp, 300)
        samples = sorted(timer.samples)
        p99 = samples[int(len(samples) * 0.99)] * 1000 if samples else 0.0
        steps = timer.calls / 2
        row = {
            "sites": args.sites, "latency_ms": args.latency_ms,
            "build_s": args.build_seconds, "batch": args.batch,
            "max_parallel": args.max_parallel, "waves": len(waves),
            "summary": dict(result.summary), "render_s": render_s, "plan_s": plan_s,
            "plan_summary": dict(plan.summary), "apply_wall_s": apply_s,
            "critical_path_sum_s": critical_sum,
            "critical_path_mean_s": critical_sum / max(1, len(elapsed)),
            "wave_bound_s": wave_bound, "gates_s": sum(gates),
            "journal_steps": steps, "journal_s": timer.seconds,
            "journal_ms_per_step": timer.seconds / max(1, steps) * 1000,
            "journal_cpu_ms_per_step": timer.cpu / max(1, steps) * 1000,
            "gil_control_ms_per_step": timer.control / max(1, steps) * 1000,
            "journal_call_p99_ms": p99,
            "journal_alone_normal_ms": alone["NORMAL"], "journal_alone_full_ms": alone["FULL"],
        }
    finally:
        if sim.stdin:
            sim.stdin.close()
        sim.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    _print(row)
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=2))
    return 0 if row["summary"] == {"ok": args.sites} else 1


def _print(r: dict) -> None:
    print(f"\nrollout: {r['sites']} sites, {r['latency_ms']:g} ms latency, build "
          f"{r['build_s']:g} s, batch {r['batch']}, max_parallel {r['max_parallel']}, "
          f"{r['waves']} waves, result {r['summary']}")
    rows = [
        ("render spec for every site", f"{r['render_s']:.2f} s", ""),
        ("plan (all sites, read-only)", f"{r['plan_s']:.2f} s", ""),
        ("apply: wall time", f"{r['apply_wall_s']:.1f} s", "1.00x"),
        ("  sum of per-site critical paths", f"{r['critical_path_sum_s']:.1f} s",
         f"{r['critical_path_sum_s'] / r['apply_wall_s']:.1f}x wall"),
        ("  mean per-site critical path", f"{r['critical_path_mean_s']:.2f} s", ""),
        ("  wave bound (slowest site + gate, per wave)", f"{r['wave_bound_s']:.1f} s",
         f"{r['wave_bound_s'] / r['apply_wall_s']:.2f}x wall"),
        ("  of which health gates", f"{r['gates_s']:.1f} s", ""),
        ("journal: steps written", f"{r['journal_steps']:.0f}", ""),
        ("  time in begin+end, all threads", f"{r['journal_s']:.2f} s",
         f"{100 * r['journal_s'] / r['critical_path_sum_s']:.2f}% of critical paths"),
        ("  per step under load (begin+end), wall", f"{r['journal_ms_per_step']:.2f} ms",
         f"p99 call {r['journal_call_p99_ms']:.1f} ms"),
        ("  per step under load, CPU of the thread", f"{r['journal_cpu_ms_per_step']:.2f} ms",
         ""),
        ("  control: sleep(0) at the same moments", f"{r['gil_control_ms_per_step']:.2f} ms",
         "GIL wait any blocking call pays"),
        ("  per step alone, synchronous=NORMAL", f"{r['journal_alone_normal_ms']:.2f} ms",
         "1.00x"),
        ("  per step alone, synchronous=FULL", f"{r['journal_alone_full_ms']:.2f} ms",
         f"{r['journal_alone_full_ms'] / r['journal_alone_normal_ms']:.1f}x NORMAL"),
    ]
    width = max(len(a) for a, _, _ in rows)
    print(f"{'measure':<{width}}  {'value':>10}  ratio")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 24}")
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:>10}  {c}")


if __name__ == "__main__":
    sys.exit(main())
