#!/usr/bin/env python3
"""Fleet status benchmark: edgeshade against openstacksdk, measured in the same run.

Starts the built-in simulator (``edgeshade sim serve``) in its own process, then
runs each contender in a fresh child process (so peak RSS is its own):

* ``edgeshade``          ``Fleet.run("status")``: first run (empty state dir),
                         later run (discovery cached), and with ``--token-cache``;
* ``sdk-threads``        openstacksdk, one shared ``OpenStackConfig``, a
                         ThreadPoolExecutor of the same concurrency, the same checks;
* ``sdk-serial``         the same openstacksdk check in a plain loop (measured on
                         at most ``--serial-sample`` sites and extrapolated, since a
                         serial loop over 1,000 sites at 100 ms takes a quarter hour).

Requests per site come from the simulator's own counters. Prints one table and
the ratios; ``--json`` also writes the raw numbers.

    python benchmarks/fleet_status.py                      # N=100,1000 x latency 0,100 ms
    python benchmarks/fleet_status.py --sites 10000 --latency-ms 100 --only edgeshade
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
from concurrent.futures import ThreadPoolExecutor

from _sim import Sim  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKS = "compute,servers,limits,network,volume,image"


# -- workers (run in child processes) -------------------------------------------------


def _peak_rss_mb() -> float:
    """Largest of this process and its children (--processes forks workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def _cpu_seconds() -> float:
    """CPU of this process plus its (waited-for) children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def worker_edgeshade(args: argparse.Namespace) -> dict:
    import openstack.config  # noqa: F401 - imported before the clock starts, as for sdk

    import edgeshade

    t0 = time.monotonic()
    fleet = edgeshade.connect(
        "all",
        config_file=args.config,
        concurrency=args.concurrency,
        timeout=args.timeout,
        state_dir=args.state_dir,
        token_cache=args.token_cache,
        processes=args.processes,
    )
    result = fleet.run("status")
    wall = time.monotonic() - t0
    return {
        "wall": wall,
        "rss_mb": _peak_rss_mb(),
        "summary": dict(result.summary),
        "sites": len(result),
        "cpu": _cpu_seconds(),
    }


def _sdk_check(conn) -> str:
    """The status checks through openstacksdk proxies, as a script would write them."""
    hyps = list(conn.compute.hypervisors(details=True))
    errors = list(conn.compute.servers(all_projects=True, status="ERROR"))
    conn.compute.get_limits()
    agents = list(conn.network.agents())
    if conn.has_service("block-storage"):
        list(conn.block_storage.services())
    list(conn.image.images(limit=1))
    down = sum(1 for h in hyps if h.state != "up")
    dead = sum(1 for a in agents if not a.is_alive)
    return "warning" if (down or dead or errors) else "ok"


def worker_sdk(args: argparse.Namespace) -> dict:
    import openstack.config
    import openstack.connection

    t0 = time.monotonic()
    config = openstack.config.OpenStackConfig(
        config_files=[args.config], secure_files=[args.secure]
    )  # one shared config: re-parsing clouds.yaml per site would be quadratic
    sites = []
    for cloud in config.get_cloud_names():
        for region in config._get_regions(cloud):
            sites.append((cloud, region["name"]))
    if args.limit:
        sites = sites[: args.limit]

    def one(site):
        cloud, region = site
        try:
            region_conf = config.get_one(cloud=cloud, region_name=region)
            conn = openstack.connection.Connection(config=region_conf)
            try:
                return _sdk_check(conn)
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - a failing site is a result here
            return type(exc).__name__

    if args.concurrency <= 1:
        states = [one(s) for s in sites]
    else:
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            states = list(pool.map(one, sites))
    wall = time.monotonic() - t0
    summary: dict[str, int] = {}
    for s in states:
        summary[s] = summary.get(s, 0) + 1
    return {
        "wall": wall,
        "rss_mb": _peak_rss_mb(),
        "summary": summary,
        "sites": len(sites),
        "cpu": _cpu_seconds(),
    }


# -- orchestration ---------------------------------------------------------------------


def _total_requests(stats: dict) -> int:
    for key in ("total", "requests", "total_requests"):
        if isinstance(stats.get(key), int):
            return stats[key]
    raise KeyError(f"no request total in simulator stats: {sorted(stats)}")


def run_worker(kind: str, sim: Sim, config_dir: str, extra: list[str]) -> dict:
    sim.reset()
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        kind,
        "--config",
        os.path.join(config_dir, "clouds.yaml"),
        "--secure",
        os.path.join(config_dir, "secure.yaml"),
        *extra,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} failed: {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["requests"] = _total_requests(sim.stats())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=["edgeshade", "sdk"], help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--secure", help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    parser.add_argument("--token-cache", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--sites", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 100])
    parser.add_argument(
        "--concurrency",
        type=int,
        default=64,
        help="edgeshade and sdk-threads concurrency (same for both)",
    )
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--only", choices=["edgeshade", "sdk"], default=None)
    parser.add_argument(
        "--serial-sample",
        type=int,
        default=50,
        help="sites measured for the serial loop (then extrapolated)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write raw numbers here")
    args = parser.parse_args()

    if args.worker:
        fn = worker_edgeshade if args.worker == "edgeshade" else worker_sdk
        print(json.dumps(fn(args)))
        return 0

    rows = []
    for sites in args.sites:
        for latency in args.latency_ms:
            with tempfile.TemporaryDirectory(prefix="edgeshade-bench-") as tmp:
                config_dir = os.path.join(tmp, "fleet")
                state_dir = os.path.join(tmp, "state")
                sim = Sim(sites, latency, config_dir)
                try:
                    common = [
                        "--concurrency",
                        str(args.concurrency),
                        "--timeout",
                        str(args.timeout),
                    ]
                    plan = []
                    if args.only in (None, "edgeshade"):
                        es = [*common, "--state-dir", state_dir]
                        plan += [
                            ("edgeshade (first run)", "edgeshade", es, 1.0),
                            ("edgeshade (later run)", "edgeshade", es, 1.0),
                            (
                                "edgeshade --token-cache (1st)",
                                "edgeshade",
                                [*es, "--token-cache"],
                                1.0,
                            ),
                            (
                                "edgeshade --token-cache (2nd)",
                                "edgeshade",
                                [*es, "--token-cache"],
                                1.0,
                            ),
                            (
                                "edgeshade --processes 2 (later run)",
                                "edgeshade",
                                [*es, "--processes", "2"],
                                1.0,
                            ),
                        ]
                    if args.only in (None, "sdk"):
                        plan.append(
                            (f"openstacksdk + {args.concurrency} threads", "sdk", common, 1.0)
                        )
                        sample = min(sites, args.serial_sample)
                        plan.append(
                            (
                                "openstacksdk serial"
                                + (f" (x{sites / sample:g} of {sample})" if sample < sites else ""),
                                "sdk",
                                ["--concurrency", "1", "--limit", str(sample)],
                                sites / sample,
                            )
                        )
                    for label, kind, extra, scale in plan:
                        res = run_worker(kind, sim, config_dir, extra)
                        n = res["sites"] or 1
                        rows.append(
                            {
                                "sites": sites,
                                "latency_ms": latency,
                                "contender": label,
                                "wall_s": res["wall"] * scale,
                                "rss_mb": res["rss_mb"],
                                "req_per_site": res["requests"] / n,
                                "cpu_s": res["cpu"] * scale,
                                "summary": res["summary"],
                            }
                        )
                        print(
                            f"  {sites:>6} sites {latency:>4g} ms  {label:<34} "
                            f"{res['wall'] * scale:8.2f} s",
                            file=sys.stderr,
                        )
                finally:
                    sim.close()
    _print_table(rows)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


def _print_table(rows: list[dict]) -> None:
    header = (
        f"{'sites':>6} {'lat ms':>6}  {'contender':<36} {'wall s':>8} {'cpu s':>7} "
        f"{'RSS MB':>7} {'req/site':>8} {'vs sdk-threads':>14} {'vs serial':>10}"
    )
    print(header)
    print("-" * len(header))
    for key in sorted({(r["sites"], r["latency_ms"]) for r in rows}):
        group = [r for r in rows if (r["sites"], r["latency_ms"]) == key]
        threads = next((r for r in group if "threads" in r["contender"]), None)
        serial = next((r for r in group if "serial" in r["contender"]), None)
        for r in group:
            vs_t = f"{threads['wall_s'] / r['wall_s']:.1f}x" if threads else "-"
            vs_s = f"{serial['wall_s'] / r['wall_s']:.1f}x" if serial else "-"
            print(
                f"{r['sites']:>6} {r['latency_ms']:>6g}  {r['contender']:<36} "
                f"{r['wall_s']:>8.2f} {r['cpu_s']:>7.1f} {r['rss_mb']:>7.0f} "
                f"{r['req_per_site']:>8.2f} {vs_t:>14} {vs_s:>10}"
            )
    print(
        "ratios: how many times faster than the openstacksdk contender "
        "(higher is better); serial extrapolated where marked"
    )


if __name__ == "__main__":
    sys.exit(main())
