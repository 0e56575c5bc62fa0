#!/usr/bin/env python3
"""Fleet status through Ansible: one edgeshade task against the openstack.cloud info modules.

Issue 4's benchmark. The same N-site status of the built-in simulator, measured in one run:

* ``fleet_status``    one ``edgeshade.cloud.fleet_status`` task on localhost (``connection:
                      local``), the collection built with ``ansible-galaxy collection build`` from
                      this repository and installed into a temporary collections path, run by
                      this venv's ``ansible-playbook`` with this venv's Python as interpreter;
* ``openstack.cloud`` what a playbook does without edgeshade: an inventory of one host per site
                      (``ansible_connection=local``), ``--forks`` (50) and, per host, the
                      openstack.cloud 2.5.0 info modules that cover the status checks
                      (``compute_service_info``, ``server_info`` for ERROR servers in all
                      projects, ``volume_service_info``, ``image_info``; 2.5.0 has no hypervisor
                      or network agent info module), each with ``cloud`` and ``region_name``.

The baseline needs its own virtualenv: ``ansible==12.3.0`` (the newest on Python 3.11) bundles
openstack.cloud 2.5.0, which needs ``openstacksdk<4.15``. It is created once under
``~/.cache/edgeshade-bench/`` (or ``--baseline-venv``) and reused. The baseline is slow, so it
runs on ``--baseline-sample`` sites and its wall time is extrapolated linearly to N (marked in the
table); ``--baseline-sample 0`` runs it on all N.

Each ``ansible-playbook`` runs under a fresh worker process of this script, so that
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is the largest single process of that run alone; the
worker also samples the summed PSS of the whole process tree (forks included). Requests and
tokens per site come from the simulator's counters (``GET /_sim/stats``, reset before each run).

    python benchmarks/ansible_status.py                         # N=500, baseline on 50 sites
    python benchmarks/ansible_status.py --sites 100 --baseline-sample 0 --json /tmp/a.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from _sim import Sim  # benchmarks/ is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent
TOKEN_KIND = "POST identity /v3/auth/tokens"
BASELINE_PACKAGES = ["ansible==12.3.0", "openstacksdk<4.15"]
DEFAULT_BASELINE_VENV = Path.home() / ".cache" / "edgeshade-bench" / "ansible-baseline-venv"


def _tool(name: str, bin_dir: Path = BIN) -> str:
    path = bin_dir / name
    return str(path) if path.exists() else name


# -- worker (a fresh child process per measured run) -----------------------------------


def _tree_pss_kb(root: int) -> int:
    """Summed PSS (RSS where PSS is unreadable) of ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
            try:
                with open(path, encoding="ascii", errors="replace") as fh:
                    value = next((line.split()[1] for line in fh if line.startswith(key)), None)
            except OSError:
                value = None
            if value is not None:
                total += int(value)
                break
    return total


def worker(cmd: list[str], env_file: str) -> dict:
    """Run one ansible-playbook; wall time, peak RSS (getrusage) and sampled tree PSS."""
    with open(env_file, encoding="utf-8") as fh:
        env = json.load(fh)
    peak_pss = 0
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_pss
        while not done.wait(0.2):
            peak_pss = max(peak_pss, _tree_pss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.monotonic() - t0
    done.set()
    sampler.join()
    return {
        "wall": wall,
        "rc": proc.returncode,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
        "tree_pss_mb": peak_pss / 1024.0,
        "stdout": stdout,
        "stderr": stderr,
    }


# -- orchestration ---------------------------------------------------------------------


def fleet_sites(clouds_yaml: str) -> list[tuple[str, str]]:
    """(cloud, region) of every site in the simulator's clouds.yaml, in file order."""
    with open(clouds_yaml, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    sites = []
    for cloud, conf in doc["clouds"].items():
        regions = conf.get("regions") or [conf.get("region_name")]
        for region in regions:
            sites.append((cloud, region["name"] if isinstance(region, dict) else region))
    return sites


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


def build_collection(tmp: Path) -> Path:
    """The collection as users get it: built to a tarball, installed from it."""
    _run([_tool("ansible-galaxy"), "collection", "build", "--output-path", str(tmp), str(REPO)])
    tarball = next(tmp.glob("edgeshade-cloud-*.tar.gz"))
    dest = tmp / "collections"
    _run(
        [_tool("ansible-galaxy"), "collection", "install", str(tarball), "-p", str(dest)],
        env={**os.environ, "ANSIBLE_HOME": str(tmp / "galaxy-home")},
    )
    return dest


def baseline_venv(path: Path) -> Path:
    """The baseline's virtualenv (ansible 12.3.0 + openstacksdk<4.15), created once."""
    python = path / "bin" / "python"
    probe = [
        str(python),
        "-c",
        "import ansible_collections.openstack.cloud, openstack, ansible.release",
    ]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return path
    print(f"creating the baseline virtualenv in {path} ...", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", "--clear", str(path)])
    _run([str(python), "-m", "pip", "install", "-q", *BASELINE_PACKAGES], timeout=1800)
    return path


def _collection_version(python: Path) -> str:
    code = (
        "import json, pathlib, ansible_collections.openstack.cloud as c;"
        "print(json.loads((pathlib.Path(c.__path__[0]) / 'MANIFEST.json').read_text())"
        "['collection_info']['version'])"
    )
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or "?"


def ansible_env(tmp: Path, name: str, collections_path: Path, python: Path, scan: bool) -> dict:
    """Ansible confined to temporary directories, as tests/integration does."""
    home = tmp / f"{name}-ansible-home"
    config = tmp / f"{name}-ansible.cfg"
    config.write_text("[defaults]\n")  # no ansible.cfg of the user's or the cwd's
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path),
        # the baseline's openstack.cloud is the one bundled in the ansible package (site-packages)
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "true" if scan else "false",
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(home / "remote-tmp"),
        "ANSIBLE_PYTHON_INTERPRETER": str(python),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_CONFIG": str(config),
    }
    for var in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE", "OS_CLIENT_SECURE_FILE", "VIRTUAL_ENV"):
        env.pop(var, None)
    return env


def measure(sim: Sim, cmd: list[str], env: dict, tmp: Path, name: str) -> dict:
    """Reset the simulator's counters, run ``cmd`` in a fresh worker, read the counters."""
    env_file = tmp / f"{name}-env.json"
    env_file.write_text(json.dumps(env))
    sim.reset()
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", str(env_file), "--", *cmd],
        capture_output=True,
        text=True,
        check=False,
        timeout=6 * 3600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{name}: worker failed: {out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    stats = sim.stats()
    result["requests"] = stats["total"]
    result["tokens"] = stats.get("by_kind", {}).get(TOKEN_KIND, 0)
    result["by_status"] = stats.get("by_status", {})
    result["by_kind"] = stats.get("by_kind", {})
    (tmp / f"{name}.log").write_text(result["stdout"] + result["stderr"])
    return result


def run_fleet_status(sim: Sim, tmp: Path, config_dir: str, sites: int) -> dict:
    collections = build_collection(tmp / "build")
    playbook = tmp / "fleet_status.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "fleet status, one task",
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "module_defaults": {
                        "group/edgeshade.cloud.all": {
                            "config_file": os.path.join(config_dir, "clouds.yaml"),
                            "state_dir": str(tmp / "fleet-state"),
                        }
                    },
                    "tasks": [{"name": "status", "edgeshade.cloud.fleet_status": {}}],
                }
            ],
            sort_keys=False,
        )
    )
    env = ansible_env(tmp, "fleet", collections, Path(sys.executable), scan=False)
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.oneline"  # the result, as one JSON line
    cmd = [_tool("ansible-playbook"), "-i", "localhost,", str(playbook)]
    res = measure(sim, cmd, env, tmp, "fleet_status")
    if res["rc"] != 0:
        raise RuntimeError(f"fleet_status playbook failed:\n{res['stdout'][-3000:]}")
    match = re.search(r"=> (\{.*\})\s*$", res["stdout"], re.M)
    result = json.loads(match.group(1)) if match else {}
    res["sites"] = sites
    res["summary"] = result.get("summary", {})
    res["note"] = f"module elapsed {result.get('elapsed', float('nan')):.2f} s"
    return res


def run_baseline(
    sim: Sim, tmp: Path, config_dir: str, sample: list[tuple[str, str]], venv: Path, forks: int
) -> dict:
    python = venv / "bin" / "python"
    hosts = {
        f"site{i:05d}": {"os_cloud": cloud, "os_region": region}
        for i, (cloud, region) in enumerate(sample)
    }
    inventory = tmp / "baseline-inventory.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": hosts,
                    "vars": {
                        "ansible_connection": "local",
                        "ansible_python_interpreter": str(python),
                    },
                }
            }
        )
    )
    where = {"cloud": "{{ os_cloud }}", "region_name": "{{ os_region }}"}
    tasks = [
        ("compute services", "openstack.cloud.compute_service_info", {}),
        (
            "servers in ERROR",
            "openstack.cloud.server_info",
            {"all_projects": True, "filters": {"status": "ERROR"}},
        ),
        ("volume services", "openstack.cloud.volume_service_info", {}),
        ("images", "openstack.cloud.image_info", {}),
    ]
    playbook = tmp / "baseline.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "fleet status, openstack.cloud info modules per host",
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {"name": name, module: {**where, **args}, "ignore_errors": True}
                        for name, module, args in tasks
                    ],
                }
            ],
            sort_keys=False,
        )
    )
    empty = tmp / "baseline-no-collections"
    empty.mkdir(exist_ok=True)
    env = ansible_env(tmp, "baseline", empty, python, scan=True)
    env["OS_CLIENT_CONFIG_FILE"] = os.path.join(config_dir, "clouds.yaml")
    env["OS_CLIENT_SECURE_FILE"] = os.path.join(config_dir, "secure.yaml")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    cmd = [
        _tool("ansible-playbook", venv / "bin"),
        "-i",
        str(inventory),
        "-f",
        str(forks),
        str(playbook),
    ]
    res = measure(sim, cmd, env, tmp, "baseline")
    recap = {"ok": 0, "failed": 0, "ignored": 0, "unreachable": 0}  # ok counts ignored ones too
    for line in res["stdout"].split("PLAY RECAP", 1)[-1].splitlines():
        for key in recap:
            found = re.search(rf"\b{key}=(\d+)", line)
            if found:
                recap[key] += int(found.group(1))
    if res["rc"] != 0 or recap["ok"] == 0:
        raise RuntimeError(f"baseline playbook failed:\n{res['stdout'][-3000:]}")
    res["sites"] = len(sample)
    res["summary"] = recap
    res["note"] = (
        f"openstack.cloud {_collection_version(python)}; "
        f"{len(tasks)} modules x {len(sample)} hosts: {recap['ok'] - recap['ignored']} ok, "
        f"{recap['ignored']} failed (ignored), {recap['unreachable']} unreachable"
    )
    return res


def _row(label: str, res: dict, scale: float) -> dict:
    n = res["sites"] or 1
    return {
        "contender": label,
        "sites_measured": res["sites"],
        "wall_s": res["wall"] * scale,
        "wall_measured_s": res["wall"],
        "max_rss_mb": res["max_rss_mb"],
        "tree_pss_mb": res["tree_pss_mb"],
        "req_per_site": res["requests"] / n,
        "tokens_per_site": res["tokens"] / n,
        "requests": res["requests"],
        "by_status": res["by_status"],
        "by_kind": res["by_kind"],
        "summary": res["summary"],
        "note": res["note"],
    }


def _print_table(rows: list[dict], sites: int, latency: float, forks: int) -> None:
    print(f"\nfleet status of {sites} simulated sites, latency {latency:g} ms, forks={forks}\n")
    width = max(len("contender"), *(len(r["contender"]) for r in rows))
    header = (
        f"{'contender':<{width}} {'wall s':>8} {'max RSS MB':>10} {'tree PSS MB':>11} "
        f"{'req/site':>8} {'tok/site':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['contender']:<{width}} {r['wall_s']:>8.2f} {r['max_rss_mb']:>10.0f} "
            f"{r['tree_pss_mb']:>11.0f} {r['req_per_site']:>8.2f} {r['tokens_per_site']:>8.2f}"
        )
    print("-" * len(header))
    if len(rows) == 2 and rows[0]["wall_s"] > 0:
        print(
            f"ratio (openstack.cloud wall / fleet_status wall): "
            f"{rows[1]['wall_s'] / rows[0]['wall_s']:.1f}x"
        )
    for r in rows:
        print(f"  {r['contender']}: {r['note']}; HTTP {r['by_status']}")
    print(
        "max RSS: largest single process of the run (getrusage RUSAGE_CHILDREN in a fresh worker);"
        "\ntree PSS: peak of the summed PSS of the ansible-playbook process tree, sampled every"
        " 0.2 s (measured, not extrapolated)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", metavar="ENV_JSON", help=argparse.SUPPRESS)
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=50,
        help="sites the openstack.cloud baseline runs on, extrapolated to --sites (0: all)",
    )
    parser.add_argument("--forks", type=int, default=50, help="the baseline's forks")
    parser.add_argument(
        "--baseline-venv",
        type=Path,
        default=DEFAULT_BASELINE_VENV,
        help=f"virtualenv with {' '.join(BASELINE_PACKAGES)} (created if missing)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--json", metavar="FILE", help="also write raw numbers here")
    args, rest = parser.parse_known_args()

    if args.worker:
        cmd = rest[1:] if rest[:1] == ["--"] else rest
        print(json.dumps(worker(cmd, args.worker)))
        return 0
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")

    venv = baseline_venv(args.baseline_venv)
    tmp = Path(tempfile.mkdtemp(prefix="edgeshade-ansible-bench-"))
    config_dir = str(tmp / "fleet")
    rows = []
    sim = Sim(args.sites, args.latency_ms, config_dir)
    try:
        all_sites = fleet_sites(os.path.join(config_dir, "clouds.yaml"))
        n = len(all_sites)
        print(f"  simulator: {n} sites on {sim.url}", file=sys.stderr)
        res = run_fleet_status(sim, tmp, config_dir, n)
        rows.append(_row("edgeshade.cloud.fleet_status (1 task)", res, 1.0))
        print(f"  fleet_status: {res['wall']:.2f} s", file=sys.stderr)

        k = n if args.baseline_sample <= 0 else min(args.baseline_sample, n)
        res = run_baseline(sim, tmp, config_dir, all_sites[:k], venv, args.forks)
        label = f"openstack.cloud info modules, forks={args.forks}"
        if k < n:
            label += f" (extrapolated from {k} sites)"
        rows.append(_row(label, res, n / k))
        print(f"  baseline: {res['wall']:.2f} s for {k} sites", file=sys.stderr, flush=True)
    finally:
        sim.close()
        if args.keep:
            print(f"  kept {tmp}", file=sys.stderr, flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    _print_table(rows, len(all_sites), args.latency_ms, args.forks)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "sites": len(all_sites),
                    "latency_ms": args.latency_ms,
                    "forks": args.forks,
                    "ratio": rows[1]["wall_s"] / rows[0]["wall_s"] if len(rows) == 2 else None,
                    "rows": rows,
                },
                fh,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
