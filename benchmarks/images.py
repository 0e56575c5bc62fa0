#!/usr/bin/env python3
"""Image distribution benchmark: edgeshade.images vs a plain openstacksdk create_image loop.

Each contender gets a fresh simulator (``edgeshade sim serve --bandwidth-mbps``, its
own process, so its hashing and pacing do not share our GIL) where every site's
link carries ``--mbps`` Mbit/s. Bytes are what the simulated sites received
(``/_sim/stats`` -> ``images``), not what the client believes it sent.

* ``sdk loop``          ``conn.create_image(name, filename=...)`` site after site, one
                        openstacksdk Connection per site (measured on ``--baseline-sample``
                        sites and extrapolated linearly: the loop is serial by construction);
* ``edgeshade upload``  ``images.sync(..., max_uploads=M)``;
* ``edgeshade rerun``   the same sync again: every site is found in sync by content;
* ``edgeshade mirror``  ``images.sync(..., mirror=URL)``: sites import with Glance
                        web-download from a loopback mirror (near the sites: not
                        limited by their WAN links), nothing crosses the central link.

    python benchmarks/images.py                      # 50 MB, 200 sites, 10 Mbit/s
    python benchmarks/images.py --size-mb 5 --sites 50 --baseline-sample 2
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EDGESHADE = os.path.join(os.path.dirname(sys.executable), "edgeshade")


class Sim:
    """``edgeshade sim serve`` in its own process."""

    def __init__(self, sites: int, mbps: float, directory: str) -> None:
        self.dir = directory
        self.proc = subprocess.Popen(
            [EDGESHADE, "sim", "serve", "--sites", str(sites), "--bandwidth-mbps", str(mbps),
             "--write-config", directory],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
            if found:
                self.url = found.group(1)
                break
        else:
            raise RuntimeError("the simulator did not start")
        # keep reading its output so a chatty simulator never blocks on a full pipe
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.clouds = os.path.join(directory, "clouds.yaml")
        self.secure = os.path.join(directory, "secure.yaml")

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/_sim/stats") as resp:
            return json.load(resp)["images"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def make_image(path: str, size: int) -> None:
    block = hashlib.sha512(b"edgeshade-benchmark").digest() * 8192  # 512 KiB
    with open(path, "wb") as fh:
        fh.write(b"QFI\xfb")
        left = size - 4
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= min(left, len(block))


def run_sdk(sim: Sim, image: str, sample: int) -> dict:
    import openstack.config
    import openstack.connection

    cfg = openstack.config.OpenStackConfig(config_files=[sim.clouds],
                                           secure_files=[sim.secure])
    clouds = [c for c in cfg.get_all() if c.name.startswith("edge-")][:sample]
    started = time.monotonic()
    for region in clouds:
        conn = openstack.connection.Connection(config=region)
        conn.create_image("bench", filename=image, disk_format="qcow2",
                          container_format="bare", wait=True)
        conn.close()
    return {"seconds": time.monotonic() - started, "sites": len(clouds)}


def run_edgeshade(sim: Sim, image: str, state: str, **kwargs: object) -> dict:
    import edgeshade
    from edgeshade import images

    fleet = edgeshade.connect("all", config_file=sim.clouds, state_dir=state, timeout=60)
    started = time.monotonic()
    result = images.sync(fleet, "bench", file=image, **kwargs)
    seconds = time.monotonic() - started
    actions: dict[str, int] = {}
    for r in result:
        key = r.data.get("action") if r.state == "ok" else r.state
        actions[key] = actions.get(key, 0) + 1
    return {"seconds": seconds, "actions": actions, "ok": result.summary.get("ok", 0)}


def serve_mirror(directory: str) -> tuple[str, http.server.ThreadingHTTPServer]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Quiet, directory=directory))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", httpd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--size-mb", type=float, default=50.0)
    parser.add_argument("--mbps", type=float, default=10.0, help="per-site link, Mbit/s")
    parser.add_argument("--max-uploads", type=int, default=50)
    parser.add_argument("--baseline-sample", type=int, default=2)
    parser.add_argument("--json", help="also write the raw numbers here")
    args = parser.parse_args()
    size = int(args.size_mb * 1e6)
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeshade-bench-images-") as tmp:
        image = os.path.join(tmp, "bench.qcow2")
        make_image(image, size)
        mirror_dir = os.path.join(tmp, "mirror")
        os.makedirs(mirror_dir)
        os.link(image, os.path.join(mirror_dir, "bench.qcow2"))

        sim = Sim(args.sites, args.mbps, os.path.join(tmp, "sim-sdk"))
        try:
            sdk = run_sdk(sim, image, args.baseline_sample)
            per_site = sim.stats()["bytes_received"] / sdk["sites"]
        finally:
            sim.stop()
        scale = args.sites / sdk["sites"]
        rows.append(("sdk create_image loop", sdk["seconds"] * scale, per_site * args.sites,
                     f"measured on {sdk['sites']} sites x{scale:g}", True))

        sim = Sim(args.sites, args.mbps, os.path.join(tmp, "sim-es"))
        try:
            state = os.path.join(tmp, "state-es")
            up = run_edgeshade(sim, image, state, max_uploads=args.max_uploads)
            sent = sim.stats()["bytes_received"]
            rows.append((f"edgeshade upload (max {args.max_uploads})", up["seconds"], sent,
                         json.dumps(up["actions"]), False))
            again = run_edgeshade(sim, image, state, max_uploads=args.max_uploads)
            rows.append(("edgeshade rerun (in sync)", again["seconds"],
                         sim.stats()["bytes_received"] - sent, json.dumps(again["actions"]),
                         False))
        finally:
            sim.stop()

        url, httpd = serve_mirror(mirror_dir)
        sim = Sim(args.sites, args.mbps, os.path.join(tmp, "sim-mirror"))
        try:
            imp = run_edgeshade(sim, image, os.path.join(tmp, "state-mirror"),
                                mirror=url + "/bench.qcow2")
            stats = sim.stats()
            rows.append(("edgeshade mirror import", imp["seconds"], stats["bytes_received"],
                         json.dumps(imp["actions"]) + f", {stats['bytes_imported'] / 1e9:.1f}"
                         " GB pulled from the mirror", False))
        finally:
            sim.stop()
            httpd.shutdown()

    base = rows[0][1]
    print(f"\n{args.size_mb:g} MB image -> {args.sites} sites, {args.mbps:g} Mbit/s per site"
          f" (simulated), python {sys.version.split()[0]}\n")
    print(f"{'contender':34} {'wall s':>9} {'central GB':>11} {'speed-up':>9}  notes")
    for name, seconds, sent, note, extrapolated in rows:
        mark = "*" if extrapolated else " "
        print(f"{name:34} {seconds:8.1f}{mark} {sent / 1e9:11.2f} {base / seconds:8.1f}x  {note}")
    print("\n* extrapolated: the serial loop measured on a sample of sites")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([dict(zip(("contender", "seconds", "bytes", "notes", "extrapolated"),
                                row, strict=True)) for row in rows], fh, indent=2)


if __name__ == "__main__":
    main()
