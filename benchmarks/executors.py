#!/usr/bin/env python3
"""Executors benchmark: threads vs local process pool vs Dask LocalCluster, same run.

Starts the simulator (``edgeshade sim serve``) in its own process, then runs
``Fleet.run("status")`` over every site in a fresh child process per contender
(so peak RSS is its own), with the same number of sites in flight overall:

* ``threads``             one process, ``--concurrency`` threads;
* ``processes (N)``       ``executor="processes"``: N forked processes, each
                          ``concurrency / N`` threads;
* ``dask LocalCluster``   ``executor=client``: N worker processes of one thread,
                          each shard with ``concurrency / N`` threads. The
                          cluster is started before the clock (a real cluster is
                          long-lived); its start time is printed separately.

CPU time and peak RSS include every process doing the run (forked children,
Dask workers measured on the workers themselves); the simulator's CPU is shown
apart (it shares the same cores).
Prints one table with ratios to ``threads``; ``--json`` writes raw numbers.

    python benchmarks/executors.py                       # 2,000 sites, 50 ms
    python benchmarks/executors.py --sites 500 --latency-ms 100 --workers 2
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

from _sim import Sim  # benchmarks/ is on sys.path when run as a script


def _usage(who: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS MB) of this process or its waited-for children."""
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def _worker_usage() -> tuple[float, float]:
    return _usage(resource.RUSAGE_SELF)


def _process_cpu(pid: int) -> float:
    """CPU seconds of a running process (Linux /proc), e.g. the simulator's."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def worker(args: argparse.Namespace) -> dict:
    import openstack.config  # noqa: F401 - imported before the clock for every contender

    import edgeshade

    client = cluster = None
    cluster_start = 0.0
    settings: dict = {"concurrency": args.concurrency}
    if args.kind == "processes":
        settings = {"executor": "processes", "processes": args.workers,
                    "concurrency": args.concurrency}
    elif args.kind == "dask":
        from distributed import Client, LocalCluster

        t = time.monotonic()
        cluster = LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address=":0",
        )
        client = Client(cluster, set_as_default=False)
        client.wait_for_workers(args.workers)
        cluster_start = time.monotonic() - t
        # One shard at a time per worker thread: concurrency is per shard.
        settings = {"executor": client, "concurrency": max(1, args.concurrency // args.workers)}
        before_workers = client.run(_worker_usage)
    cpu0, _ = _usage(resource.RUSAGE_SELF)
    ccpu0, _ = _usage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    fleet = edgeshade.connect(
        "all", config_file=args.config, timeout=args.timeout, use_state=False, **settings
    )
    result = fleet.run("status")
    wall = time.monotonic() - t0
    cpu1, rss = _usage(resource.RUSAGE_SELF)
    ccpu1, crss = _usage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1 - cpu0) + (ccpu1 - ccpu0)
    peak = max(rss, crss)
    if client is not None:
        after = client.run(_worker_usage)
        cpu += sum(after[w][0] - before_workers.get(w, (0.0, 0.0))[0] for w in after)
        peak = max([peak] + [after[w][1] for w in after])
        client.close()
        cluster.close()
    return {
        "wall": wall,
        "cpu": cpu,
        "rss_mb": peak,
        "summary": dict(result.summary),
        "sites": len(result),
        "cluster_start": cluster_start,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["threads", "processes", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--workers", type=int, default=2, help="processes / Dask workers")
    parser.add_argument("--concurrency", type=int, default=128, help="sites in flight overall")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender (best kept)")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    if args.kind:
        print(json.dumps(worker(args)))
        return 0

    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeshade-bench-") as tmp:
        config_dir = os.path.join(tmp, "fleet")
        sim = Sim(args.sites, args.latency_ms, config_dir)
        try:
            plan = [
                ("threads", "threads"),
                (f"processes ({args.workers})", "processes"),
                (f"dask LocalCluster ({args.workers} workers)", "dask"),
            ]
            for label, kind in plan:
                best = None
                for _ in range(args.repeat):
                    sim.reset()
                    cmd = [sys.executable, os.path.abspath(__file__), "--kind", kind,
                           "--config", os.path.join(config_dir, "clouds.yaml"),
                           "--workers", str(args.workers), "--concurrency",
                           str(args.concurrency), "--timeout", str(args.timeout)]
                    sim_cpu = _process_cpu(sim.proc.pid)
                    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
                    sim_cpu = _process_cpu(sim.proc.pid) - sim_cpu
                    if out.returncode != 0:
                        raise RuntimeError(f"{kind} failed: {out.stderr[-2000:]}")
                    res = json.loads(out.stdout.strip().splitlines()[-1])
                    res["sim_cpu"] = sim_cpu
                    print(f"  {label:<32} {res['wall']:7.2f} s  {res['summary']}",
                          file=sys.stderr)
                    if best is None or res["wall"] < best["wall"]:
                        best = res
                rows.append({"contender": label, **best})
        finally:
            sim.close()
    _print_table(rows, args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


def _print_table(rows: list[dict], args: argparse.Namespace) -> None:
    base = rows[0]
    print(f"{args.sites} sites, {args.latency_ms:g} ms latency, {args.concurrency} sites in flight"
          f" overall, {os.cpu_count()} cores (simulator in its own process)")
    header = (f"{'executor':<34} {'wall s':>7} {'cpu s':>7} {'sim cpu s':>9} {'RSS MB':>7} "
              f"{'sites/s':>8} {'speed vs threads':>16} {'cpu vs threads':>14}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['contender']:<34} {r['wall']:>7.2f} {r['cpu']:>7.1f} {r['sim_cpu']:>9.1f} "
              f"{r['rss_mb']:>7.0f} "
              f"{r['sites'] / r['wall']:>8.0f} {base['wall'] / r['wall']:>15.2f}x "
              f"{r['cpu'] / base['cpu']:>13.2f}x")
    for r in rows:
        if r["cluster_start"]:
            print(f"{r['contender']}: cluster start {r['cluster_start']:.1f} s (not in wall)")
    states = {r["contender"]: r["summary"] for r in rows}
    same = len({json.dumps(s, sort_keys=True) for s in states.values()}) == 1
    print("same state counts under every executor: " + ("yes" if same else f"NO {states}"))


if __name__ == "__main__":
    sys.exit(main())
