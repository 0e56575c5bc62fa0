"""One fleet run under every executor: threads, local processes, Dask distributed.

Dask runs on a real ``distributed.LocalCluster`` (2 worker processes on
loopback) against the simulator's sites over HTTP.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import pytest

import edgeshade
import edgeshade.state
from edgeshade.shards import make_shards
from edgeshade.sim import SimFleet, SimServer

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(180)

TIMEOUT = 3.0  # as test_fleet_status: slow:600 sites must finish well within it


def _cluster(**config):
    import dask

    with dask.config.set(config):
        cluster = distributed.LocalCluster(
            n_workers=2 if not config else 1,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",  # never the shared default port 8787
        )
    return cluster, distributed.Client(cluster, set_as_default=False)


@pytest.fixture(scope="module")
def cluster():
    cluster, client = _cluster()
    yield cluster, client
    client.close()
    cluster.close()


def _comparable(result):
    data = dict(result.data)
    data.pop("auth_ms", None)
    return result.site, result.state, result.reason, result.hint, data


@pytest.fixture(scope="module")
def threads_run(faulty_sim, tmp_path_factory):
    return edgeshade.connect(
        "all", config_file=faulty_sim.clouds, timeout=TIMEOUT, use_state=False
    ).run("status")


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_same_per_site_results_under_every_executor(
    executor, faulty_sim, threads_run, cluster
) -> None:
    _cluster_obj, client = cluster
    fleet = edgeshade.connect(
        "all",
        config_file=faulty_sim.clouds,
        timeout=TIMEOUT,
        use_state=False,
        executor=executor,
        processes=2,
        scheduler=client.scheduler.address,
        chunk_size=7,
    )
    assert fleet.executor_name == executor
    seen = []
    result = fleet.run("status", progress=lambda r, done, total: seen.append((done, total)))
    assert [_comparable(r) for r in result] == [_comparable(r) for r in threads_run]
    assert len({r.state for r in result}) >= 5  # the faults give a real mix of states
    assert seen == [(i, len(threads_run)) for i in range(1, len(threads_run) + 1)]


def test_shards_keep_clouds_whole_and_carry_only_their_clouds(faulty_sim) -> None:
    fleet = edgeshade.connect("all", config_file=faulty_sim.clouds, use_state=False)
    shards = make_shards(fleet, "status", {}, size=5)
    assert sorted(p for s in shards for p in s.positions) == list(range(len(fleet.sites)))
    owner = {}
    for shard in shards:
        assert set(shard.clouds) == {site.cloud for site in shard.sites}
        for site in shard.sites:
            assert owner.setdefault(site.cloud, shard.number) == shard.number
        text = repr(shard) + str(shard)
        for cloud in shard.clouds.values():
            secret = cloud["auth"].get("password") or cloud["auth"].get(
                "application_credential_secret"
            )
            assert secret and secret not in text
        assert pickle.loads(pickle.dumps(shard)).sites == shard.sites
    multi = [s for s in fleet.sites if "/" in s.name]
    assert multi, "the simulated fleet has multi-region clouds"


def test_results_are_recorded_once_by_the_caller(healthy_sim, cluster, tmp_path) -> None:
    _c, client = cluster
    state_dir = tmp_path / "state"
    result = edgeshade.connect(
        "all", config_file=healthy_sim.clouds, timeout=TIMEOUT, state_dir=str(state_dir),
        executor=client,
    ).run("status")
    store = edgeshade.state.StateStore(state_dir)
    assert len(store.last_known()) == len(result) == 40


def _cli(sim, *args, env=None):
    cmd = [sys.executable, "-m", "edgeshade", "--os-config-file", sim.clouds, *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def test_cli_executor_flags_and_scheduler_env(healthy_sim, cluster) -> None:
    _c, client = cluster
    address = client.scheduler.address
    flag = _cli(healthy_sim, "--no-state", "--scheduler", address, "status", "-f", "json")
    env = _cli(
        healthy_sim, "--no-state", "--executor", "dask", "status", "-f", "json",
        env={"EDGESHADE_DASK_SCHEDULER": address},
    )
    threads = _cli(healthy_sim, "--no-state", "status", "-f", "json")
    procs = _cli(healthy_sim, "--no-state", "--executor", "processes", "status", "-f", "json")
    states = []
    for out in (flag, env, threads, procs):
        assert out.returncode in (0, 1), out.stderr
        assert out.stderr == ""
        states.append([(s["site"], s["state"]) for s in json.loads(out.stdout)["sites"]])
    assert states[0] == states[1] == states[2] == states[3] and len(states[0]) == 40


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "dask"], "needs a scheduler"),
        (["--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
        (["--executor", "threads", "--processes", "2"], "needs --executor processes"),
    ],
)
def test_executor_usage_errors_are_one_line(healthy_sim, args, message) -> None:
    env = {"EDGESHADE_DASK_SCHEDULER": "", "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    out = _cli(healthy_sim, "--no-state", *args, "status", env=env)
    assert out.returncode == 3, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr


@pytest.fixture(scope="module")
def slow_sim(tmp_path_factory):
    """Slow sites (300 ms a request) so a shard is still running when its worker dies."""
    fleet = SimFleet(sites=24, seed=5, latency_ms=300, faults="")
    server = SimServer(fleet).start()
    clouds, _secure = server.write_config(str(tmp_path_factory.mktemp("slow")))
    reference = edgeshade.connect("all", config_file=clouds, timeout=30, use_state=False).run(
        "status"
    )
    yield clouds, reference
    server.stop()


def _run_and_kill_a_worker(clouds, client):
    """Start a run in a thread, SIGKILL a worker that is running a shard, wait for the run."""
    fleet = edgeshade.connect(
        "all", config_file=clouds, timeout=30, use_state=False, executor=client,
        chunk_size=4, concurrency=2,
    )
    box = {}
    runner = threading.Thread(target=lambda: box.setdefault("result", fleet.run("status")))
    runner.start()
    deadline = time.monotonic() + 30
    victim = None
    while victim is None and time.monotonic() < deadline:
        busy = [w for w, keys in client.processing().items() if keys]
        if busy:
            victim = busy[0]
            break
        time.sleep(0.05)
    assert victim, "no worker ever ran a shard"
    time.sleep(0.5)  # well inside the shard: 4 sites x 8 requests x 300 ms, 2 at a time
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    runner.join(120)
    assert not runner.is_alive()
    return fleet, box["result"]


def test_killed_worker_shard_is_retried_elsewhere(slow_sim, cluster) -> None:
    _c, client = cluster
    clouds, reference = slow_sim
    _fleet, result = _run_and_kill_a_worker(clouds, client)
    # the lost shard ran again on a live worker: every site as in a plain threads run
    assert [_comparable(r) for r in result] == [_comparable(r) for r in reference]


def test_killed_worker_without_retries_ends_its_sites_error(slow_sim) -> None:
    cluster, client = _cluster(**{"distributed.scheduler.allowed-failures": 0})
    try:
        clouds, reference = slow_sim
        _fleet, result = _run_and_kill_a_worker(clouds, client)
    finally:
        client.close()
        cluster.close()
    assert [r.site for r in result] == [r.site for r in reference]  # none lost
    lost = [r for r in result if r.reason.startswith("Dask lost shard")]
    assert lost and len(lost) < len(result)
    for r in lost:
        assert r.state == "error" and "KilledWorker" in r.reason
    for r in result:
        if r not in lost:
            assert _comparable(r) == _comparable(reference[r.site])
