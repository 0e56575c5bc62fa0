"""Executor choice and shards: sizing, per-shard config, failures as site states."""

from __future__ import annotations

import os

import pytest

import edgeshade
from edgeshade.errors import ConfigError
from edgeshade.executors import resolve_executor
from edgeshade.shards import load_shard_config, make_shards, run_shard, shard_size


@pytest.mark.parametrize(
    ("executor", "processes", "expected"),
    [
        (None, 1, ("threads", 1)),
        (None, 3, ("processes", 3)),  # --processes N alone keeps its meaning
        ("threads", 3, ("threads", 1)),
        ("processes", 2, ("processes", 2)),
        ("processes", 1, ("processes", os.cpu_count() or 1)),  # every core
        ("dask", 4, ("dask", 1)),
    ],
)
def test_resolve_executor(executor, processes, expected) -> None:
    name, obj, procs = resolve_executor(executor, processes)
    assert (name, procs) == expected and obj is None


def test_unknown_executor_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown executor 'celery'"):
        resolve_executor("celery", 1)


def test_fleet_executor_names(fleet_files) -> None:
    clouds, secure = fleet_files
    fleet = edgeshade.connect("all", config_file=clouds, use_state=False, executor="processes",
                              processes=2)
    assert fleet.executor_name == "processes" and fleet.processes == 2
    sibling = fleet.with_sites(fleet.sites[:1], processes=1, executor="threads")
    assert sibling.executor_name == "threads"
    dask = fleet.with_sites(fleet.sites, executor="dask", scheduler="tcp://127.0.0.1:1")
    assert dask.executor_name == "dask" and dask.scheduler == "tcp://127.0.0.1:1"


@pytest.mark.parametrize(
    ("sites", "workers", "requested", "size"),
    [(2000, 2, None, 250), (200, 2, None, 25), (10, 8, None, 1), (100, 2, 7, 7), (0, 2, None, 1)],
)
def test_shard_size(sites, workers, requested, size) -> None:
    assert shard_size(sites, workers, requested) == size


def test_shards_keep_regions_together_and_hold_only_their_clouds(fleet_files) -> None:
    clouds, secure = fleet_files
    fleet = edgeshade.connect("all", config_file=clouds, use_state=False)
    shards = make_shards(fleet, "status", {"checks": "image"}, size=1)
    assert [[s.name for s in shard.sites] for shard in shards] == [
        ["dc-west/RegionOne", "dc-west/RegionTwo"],
        ["edge-berlin"],
        ["edge-paris"],
    ]
    assert [list(shard.clouds) for shard in shards] == [["dc-west"], ["edge-berlin"],
                                                        ["edge-paris"]]
    assert shards[0].clouds["dc-west"]["auth"]["password"] == "dc-secret-pw"
    assert "dc-secret-pw" not in repr(shards[0])
    assert shards[1].params == {"checks": "image"} and shards[1].concurrency == 1


def test_shard_config_loads_without_the_workers_own_files(fleet_files, tmp_path) -> None:
    clouds, _secure = fleet_files
    fleet = edgeshade.connect("all", config_file=clouds, use_state=False)
    shard = make_shards(fleet, "status", {}, size=1)[2]
    config = load_shard_config(shard.clouds)
    assert [s.name for s in config.sites] == ["edge-paris"]
    region = config.cloud_region(config.sites[0])
    assert region.config["auth"]["application_credential_secret"] == "paris-app-secret"
    assert not os.path.exists(os.path.dirname(config.path))  # the private copy is gone


def test_a_broken_shard_ends_its_sites_error_without_leaking(fleet_files) -> None:
    clouds, _secure = fleet_files
    fleet = edgeshade.connect("all", config_file=clouds, use_state=False)
    shard = make_shards(fleet, "no-such-task", {}, size=10)[0]
    pairs = run_shard(shard)
    assert [pos for pos, _ in pairs] == [0, 1, 2, 3]
    for _pos, data in pairs:
        assert data["state"] == "error"
        assert data["reason"].startswith("shard 0 failed on its worker: TaskError")
        assert "secret-pw" not in data["reason"]
