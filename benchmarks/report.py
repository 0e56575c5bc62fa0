#!/usr/bin/env python3
"""HTML fleet report benchmark: generation, file size and Chromium render time at 10,000 sites.

One real ``status`` run over the built-in simulator (in-process, HTTP on
127.0.0.1, no added latency, a few faults of each kind) gives the results;
``--history`` more runs are then recorded in the state store from it, each
with a few percent of sites in another state, so every site has a trend
strip as it would after weeks of runs. Then, in the same process and run:

* ``table``       the plain ``edgeshade status`` table rendered to memory (the baseline);
* ``json``        ``-f json``; ``prometheus``: ``-f prometheus``;
* ``report``      :func:`edgeshade.report.build_report` with the store (history, details);
* ``chromium``    Debian's chromium (headless, fresh profile, via Playwright) opening the
                  file: from navigation start until the tiles are built and a frame has been
                  laid out and painted (``window.edgeshadeRendered``), and the wall time of
                  ``page.goto`` until then; then typing in the filter until the tile count
                  changes (includes the 120 ms input debounce used above 2,000 sites) and a
                  click until the detail panel shows.

Medians of ``--repeat`` runs. Prints one table with ratios against the table baseline.

    python benchmarks/report.py                     # 10,000 sites
    python benchmarks/report.py --sites 1000 --repeat 5
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

FAULTS = "refused=1%,401=0.5%,500@compute=1%,503:1=0.5%,malformed=0.3%,404@volume=0.5%"


def _median_time(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def fleet_run(sites: int, state_dir: str):
    """A real status run over the simulator; returns (fleet, result, seconds)."""
    import edgeshade
    from edgeshade.sim import SimFleet, SimServer

    sim = SimFleet(sites=sites, seed=42, latency_ms=0, faults=FAULTS)
    with SimServer(sim) as server, tempfile.TemporaryDirectory() as cfg:
        clouds, _secure = server.write_config(cfg)
        fleet = edgeshade.connect("all", config_file=clouds, timeout=20, state_dir=state_dir)
        t0 = time.perf_counter()
        result = fleet.run("status")
        elapsed = time.perf_counter() - t0
    return fleet, result, elapsed


def add_history(result, state_dir: str, runs: int) -> None:
    """``runs`` more recorded runs derived from ``result``: 3% of sites in another state."""
    from edgeshade.history import record_details
    from edgeshade.results import FleetResult, SiteResult
    from edgeshade.state import StateStore
    from edgeshade.tasks.status import status

    rng = random.Random(7)
    flips = ["warning", "critical", "unreachable", "timed_out", "ok"]
    with StateStore(state_dir) as store:
        for _ in range(runs):
            sites = []
            for r in result:
                if rng.random() < 0.03:
                    r = SiteResult(r, state=rng.choice(flips), reason="earlier run")
                sites.append(r)
            store.record_run(FleetResult("status", sites, elapsed=result.elapsed))
        store.record_run(result)  # the real run is the newest
        record_details(store, result, status.columns)  # what the CLI keeps for --cached


def chromium_times(path: str, repeat: int, n_sites: int) -> dict[str, float]:
    from chromium_helper import available, chromium_page, wait_until

    reason = available()
    if reason:
        raise SystemExit(f"chromium: {reason}")
    rendered, wall, filtered, clicked = [], [], [], []
    for _ in range(repeat):
        with chromium_page(1400, 900) as page:
            t0 = time.perf_counter()
            page.goto("file://" + os.path.abspath(path))
            wait_until(page, "window.edgeshadeRendered > 0", timeout=120)
            wall.append(time.perf_counter() - t0)
            rendered.append(page.evaluate("window.edgeshadeRendered") / 1000.0)
            assert page.evaluate("document.querySelectorAll('#map .t').length") == n_sites
            t0 = time.perf_counter()
            page.fill("#filter", "edge-001")
            wait_until(page, f"document.querySelector('#shown').dataset.shown != '{n_sites}'")
            filtered.append(time.perf_counter() - t0)
            page.fill("#filter", "")
            wait_until(page, f"document.querySelector('#shown').dataset.shown == '{n_sites}'")
            t0 = time.perf_counter()
            page.click("#map .t >> nth=0")
            wait_until(page, "document.body.classList.contains('detail')")
            clicked.append(time.perf_counter() - t0)
    return {
        "render": statistics.median(rendered),
        "render_max": max(rendered),
        "wall": statistics.median(wall),
        "filter": statistics.median(filtered),
        "click": statistics.median(clicked),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10000)
    parser.add_argument("--history", type=int, default=29, help="extra recorded runs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", metavar="FILE", help="copy the report here")
    parser.add_argument("--json", metavar="FILE", help="write the numbers as JSON")
    args = parser.parse_args()
    import logging

    logging.getLogger("keystoneauth").setLevel(logging.ERROR)  # refused sites' discovery noise

    from edgeshade.config import Site
    from edgeshade.output import render
    from edgeshade.report import build_report, write_report
    from edgeshade.state import StateStore
    from edgeshade.tasks.status import status

    with tempfile.TemporaryDirectory(prefix="edgeshade-bench-report-") as tmp:
        state_dir = os.path.join(tmp, "state")
        print(f"status run over {args.sites} simulated sites ...", file=sys.stderr)
        fleet, result, run_secs = fleet_run(args.sites, state_dir)
        print(f"  {result.summary_line()}", file=sys.stderr)
        add_history(result, state_dir, args.history)
        sites: list[Site] = fleet.sites

        def table() -> str:
            out = io.StringIO()
            render(result, "table", columns=status.columns, stream=out)
            return out.getvalue()

        def as_json() -> str:
            out = io.StringIO()
            render(result, "json", columns=status.columns, stream=out)
            return out.getvalue()

        def prom() -> str:
            out = io.StringIO()
            render(result, "prometheus", stream=out)
            return out.getvalue()

        def report() -> str:
            with StateStore(state_dir) as store:
                return build_report(sites, result=result, store=store, columns=status.columns)

        def cached() -> str:
            with StateStore(state_dir) as store:
                return build_report(sites, store=store, columns=status.columns)

        rows = []
        for name, fn in (("table (baseline)", table), ("json", as_json),
                         ("prometheus", prom), ("report (live)", report),
                         ("report --cached", cached)):
            secs, text = _median_time(fn, args.repeat)
            rows.append((name, secs, len(text.encode("utf-8"))))
        html = report()
        path = os.path.join(tmp, "fleet.html")
        write_report(path, html)
        if args.keep:
            write_report(args.keep, html)
        print(f"chromium: opening {len(html) / 1e6:.1f} MB ...", file=sys.stderr)
        browser = chromium_times(path, args.repeat, len(sites))

    base = rows[0][1]
    print(f"\nHTML report, {len(sites)} sites ({result.summary_line()}); status run itself "
          f"{run_secs:.1f} s; {args.history + 1} runs of history; median of {args.repeat}\n")
    print(f"| {'step':<38} | {'time s':>8} | {'vs table':>8} | {'output':>10} |")
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 10}|{'-' * 12}|")
    for name, secs, size in rows:
        print(f"| {name:<38} | {secs:8.3f} | {secs / base:7.1f}x | {size / 1e6:8.2f} MB |")
    for label, key in (("chromium: render (nav start→painted)", "render"),
                       ("chromium: goto → rendered (wall)", "wall"),
                       ("chromium: type filter → tiles shown", "filter"),
                       ("chromium: click tile → details", "click")):
        secs = browser[key]
        print(f"| {label:<38} | {secs:8.3f} | {secs / base:7.1f}x | {'':>10} |")
    print(f"\nslowest render of {args.repeat}: {browser['render_max']:.3f} s "
          f"(target < 2 s); file {len(html) / 1e6:.2f} MB")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"sites": len(sites), "steps": rows, "chromium": browser,
                       "size": len(html)}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
