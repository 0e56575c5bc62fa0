#!/usr/bin/env python3
"""Configuration baseline benchmark: each claim against a baseline measured in the same run.

1. **Render** ``examples/baseline.yaml`` for N sites (default 40,000), every
   rendered config kept in memory, each contender in a fresh child process
   (wall, CPU, peak RSS over the interpreter's own):

   * ``render-once``  :meth:`Baseline.render`: shared part once, site fields per site,
                      plus a content hash per site;
   * ``naive``        the whole file rendered as one Jinja2 template per site
                      (compiled once) and parsed as YAML per site, plus a hash.

2. **Diff** over M sites (default 1,000) at L ms latency (default 100) against the
   simulator (``edgeshade sim serve``, its own process):

   * ``edgeshade``    ``config diff``: every read of the baseline's types per site;
   * ``sdk-loop``     a plain openstacksdk loop doing the same reads site after site
                      (one shared OpenStackConfig), measured on ``--sdk-sample`` sites
                      and extrapolated to M (a serial loop over 1,000 sites at 100 ms
                      takes most of an hour).

3. **Push** a bundle to M sites, then push it again unchanged: the simulator's
   ``object_bytes_in`` counter (content bytes received by Swift PUTs) must be 0
   for the second push.

    python benchmarks/config.py                         # all three, default sizes
    python benchmarks/config.py --only render --render-sites 40000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from _sim import Sim  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
EXAMPLE = os.path.join(REPO, "examples", "baseline.yaml")
SECRET_NAMES = ["agent_password"]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _sites(n: int) -> list:
    from edgeshade.config import Site

    return [Site(f"edge-{i:05d}", "RegionOne", f"edge-{i:05d}",
                 vars={"mgmt_cidr": f"10.{i // 250 % 256}.{i % 250}.0/24"}) for i in range(n)]


# -- workers (child processes) -------------------------------------------------------------


def worker_render_once(args: argparse.Namespace) -> dict:
    from edgeshade.render import Baseline

    sites = _sites(args.render_sites)
    rss0, cpu0, t0 = _peak_rss_mb(), _cpu(), time.monotonic()
    base = Baseline.load(EXAMPLE)
    rendered = base.render(sites, lambda s: SECRET_NAMES)
    wall = time.monotonic() - t0
    return {"wall": wall, "cpu": _cpu() - cpu0, "rss_mb": _peak_rss_mb() - rss0,
            "sites": len(rendered), "hashes": len({c.hash for c in rendered.values()}),
            "renders": base.stats}


def worker_naive(args: argparse.Namespace) -> dict:
    import jinja2
    import yaml

    from edgeshade.render import _SiteView, content_hash

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    sites = _sites(args.render_sites)
    rss0, cpu0, t0 = _peak_rss_mb(), _cpu(), time.monotonic()
    with open(EXAMPLE, encoding="utf-8") as fh:
        text = fh.read()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    shared = yaml.load(text, Loader=loader)["vars"]  # noqa: S506 - CSafeLoader
    template = env.from_string(text)  # compiled once, like render-once's fields
    rendered = {}
    for site in sites:
        doc = yaml.load(template.render(site=_SiteView(site), secret=lambda n: f"<{n}>",  # noqa: S506
                                        **shared), Loader=loader)
        rendered[site.name] = (doc["resources"], content_hash(doc["resources"]))
    wall = time.monotonic() - t0
    return {"wall": wall, "cpu": _cpu() - cpu0, "rss_mb": _peak_rss_mb() - rss0,
            "sites": len(rendered), "hashes": len({h for _r, h in rendered.values()})}


def worker_diff(args: argparse.Namespace) -> dict:
    import openstack.config  # noqa: F401 - imported before the clock starts, as for sdk

    import edgeshade
    from edgeshade.baseline import api

    t0, cpu0 = time.monotonic(), _cpu()
    fleet = edgeshade.connect("all", config_file=args.config, state_dir=args.state_dir,
                              concurrency=args.concurrency, timeout=120)
    result = api.diff(fleet, EXAMPLE)
    return {"wall": time.monotonic() - t0, "cpu": _cpu() - cpu0, "rss_mb": _peak_rss_mb(),
            "sites": len(result), "summary": dict(result.summary),
            "differences": sum(r.data.get("differences", 0) for r in result)}


def _sdk_reads(conn) -> int:
    """The reads ``config diff`` makes for examples/baseline.yaml, through openstacksdk."""
    pid = conn.current_project_id
    n = 0
    for listing in (conn.identity.projects(), conn.identity.users(), conn.identity.roles(),
                    conn.identity.role_assignments(), conn.compute.flavors(details=True),
                    conn.compute.keypairs(), conn.network.networks(), conn.network.subnets(),
                    conn.network.routers(),
                    conn.network.ports(device_owner="network:router_interface"),
                    conn.network.security_groups(), conn.image.images()):
        n += len(list(listing))
    conn.compute.get_quota_set(pid)
    conn.network.get_quota(pid)
    return n


def worker_sdk(args: argparse.Namespace) -> dict:
    import openstack
    import openstack.config

    import edgeshade

    sites = edgeshade.connect("all", config_file=args.config, use_state=False).sites
    sample = sites[: args.sdk_sample]
    t0, cpu0 = time.monotonic(), _cpu()
    config = openstack.config.OpenStackConfig(config_files=[args.config],
                                              secure_files=[args.secure])
    ok = 0
    for site in sample:
        region = config.get_one(cloud=site.cloud, region_name=site.region or "")
        conn = openstack.connection.Connection(config=region)
        try:
            _sdk_reads(conn)
            ok += 1
        finally:
            conn.close()
    wall = time.monotonic() - t0
    return {"wall": wall, "cpu": _cpu() - cpu0, "rss_mb": _peak_rss_mb(), "sites": len(sample),
            "ok": ok, "extrapolated_wall": wall / max(1, len(sample)) * len(sites),
            "total_sites": len(sites)}


def worker_push(args: argparse.Namespace) -> dict:
    import edgeshade
    from edgeshade.baseline import bundle

    t0, cpu0 = time.monotonic(), _cpu()
    fleet = edgeshade.connect("all", config_file=args.config, state_dir=args.state_dir,
                              concurrency=args.concurrency, timeout=120)
    result = bundle.push(fleet, args.template)
    return {"wall": time.monotonic() - t0, "cpu": _cpu() - cpu0, "rss_mb": _peak_rss_mb(),
            "sites": len(result), "summary": dict(result.summary),
            "uploaded": sum(r.data.get("uploaded", 0) for r in result),
            "unchanged": sum(r.data.get("unchanged", 0) for r in result),
            "bytes_sent": sum(r.data.get("bytes_sent", 0) for r in result)}


WORKERS = {"render-once": worker_render_once, "naive": worker_naive, "diff": worker_diff,
           "sdk": worker_sdk, "push": worker_push}


# -- orchestration --------------------------------------------------------------------------


def start_sim(sites: int, latency_ms: float, config_dir: str) -> Sim:
    """The shared simulator process, with the example baseline's site values added."""
    sim = Sim(sites, latency_ms, config_dir)
    _add_site_values(config_dir)
    return sim


def _add_site_values(config_dir: str) -> None:
    """The example baseline's site values: a CIDR per cloud, a fleet-wide secret."""
    import yaml

    clouds = os.path.join(config_dir, "clouds.yaml")
    secure = os.path.join(config_dir, "secure.yaml")
    with open(clouds, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    for i, cloud in enumerate(doc["clouds"].values()):
        cloud["edgeshade"] = {"vars": {"mgmt_cidr": f"10.{i // 250 % 256}.{i % 250}.0/24"}}
    with open(clouds, "w", encoding="utf-8") as fh:
        yaml.safe_dump(doc, fh)
    with open(secure, encoding="utf-8") as fh:
        sdoc = yaml.safe_load(fh)
    sdoc["edgeshade"] = {"secrets": {"agent_password": hashlib.sha256(b"bench").hexdigest()}}
    with open(secure, "w", encoding="utf-8") as fh:
        yaml.safe_dump(sdoc, fh)


def run_worker(kind: str, args: argparse.Namespace, extra: list[str] | None = None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind,
           "--render-sites", str(args.render_sites), "--sdk-sample", str(args.sdk_sample),
           "--concurrency", str(args.concurrency), *(extra or [])]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(name: str, what: str, r: dict, ratio: str = "") -> list[str]:
    return [name, what, f"{r['wall']:.2f}", f"{r['cpu']:.2f}", f"{r['rss_mb']:.0f}", ratio]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--only", choices=["render", "diff", "push"], action="append")
    parser.add_argument("--render-sites", type=int, default=40000)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--sdk-sample", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--config")
    parser.add_argument("--secure")
    parser.add_argument("--state-dir")
    parser.add_argument("--template")
    parser.add_argument("--json", help="also write the raw numbers here")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0

    parts = args.only or ["render", "diff", "push"]
    rows: list[list[str]] = []
    raw: dict = {}
    if "render" in parts:
        once = run_worker("render-once", args)
        naive = run_worker("naive", args)
        raw["render"] = {"render_once": once, "naive": naive}
        assert once["hashes"] == naive["hashes"] == args.render_sites
        what = f"render {args.render_sites:,} sites"
        rows.append(_row("render-once", what, once,
                         f"{naive['wall'] / once['wall']:.1f}x faster, "
                         f"{naive['rss_mb'] / max(once['rss_mb'], 1):.1f}x less memory"))
        rows.append(_row("naive per-site render", what, naive, "baseline"))
    if "diff" in parts or "push" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            config_dir = os.path.join(tmp, "config")
            sim = start_sim(args.sites, args.latency_ms, config_dir)
            conf = ["--config", os.path.join(config_dir, "clouds.yaml"),
                    "--secure", os.path.join(config_dir, "secure.yaml"),
                    "--state-dir", os.path.join(tmp, "state")]
            try:
                if "diff" in parts:
                    sim.reset()
                    diff = run_worker("diff", args, conf)
                    diff["requests"] = sim.stats()["total"]
                    sim.reset()
                    sdk = run_worker("sdk", args, conf)
                    sdk["requests"] = sim.stats()["total"]
                    raw["diff"] = {"edgeshade": diff, "sdk_loop": sdk}
                    what = f"config diff {args.sites:,} sites @{args.latency_ms:g} ms"
                    rows.append(_row("edgeshade config diff", what, diff,
                                     f"{sdk['extrapolated_wall'] / diff['wall']:.0f}x faster"))
                    scale = sdk["total_sites"] / max(1, sdk["sites"])
                    sdk_row = dict(sdk, wall=sdk["extrapolated_wall"], cpu=sdk["cpu"] * scale)
                    label = f"sdk loop ({sdk['sites']} sites, x{scale:g})"
                    rows.append(_row(label, what, sdk_row, "baseline (wall, cpu extrapolated)"))
                    raw["diff"]["requests_per_site"] = {
                        "edgeshade": diff["requests"] / diff["sites"],
                        "sdk_loop": sdk["requests"] / max(1, sdk["sites"]),
                    }
                if "push" in parts:
                    template = os.path.join(tmp, "agent.conf.j2")
                    with open(template, "w", encoding="utf-8") as fh:
                        fh.write("[agent]\nsite = {{ site.name }}\nregion = {{ site.region }}\n"
                                 "cidr = {{ site.vars.mgmt_cidr }}\n" + "# padding\n" * 200)
                    sim.reset()
                    first = run_worker("push", args, [*conf, "--template", template])
                    first["bytes_in"] = sim.stats()["object_bytes_in"]
                    sim.reset()
                    second = run_worker("push", args, [*conf, "--template", template])
                    second["bytes_in"] = sim.stats()["object_bytes_in"]
                    raw["push"] = {"first": first, "unchanged": second}
                    what = f"push bundle {args.sites:,} sites"
                    rows.append(_row("push (first)", what, first,
                                     f"{first['bytes_in']:,} content bytes received"))
                    rows.append(_row("push (unchanged)", what, second,
                                     f"{second['bytes_in']:,} content bytes received, "
                                     f"{second['unchanged']} objects skipped"))
                    assert second["bytes_in"] == 0, "an unchanged bundle was sent again"
            finally:
                sim.close()
    _print(rows)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(raw, fh, indent=2)
    return 0


def _print(rows: list[list[str]]) -> None:
    head = ["contender", "what", "wall s", "cpu s", "rss MB", "vs baseline"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    sys.exit(main())
