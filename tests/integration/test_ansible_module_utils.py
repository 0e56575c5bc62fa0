"""The collection's module_utils and argument handling, in-process (no ansible-playbook).

Why here rather than tests/unit: these import the plugins as Ansible does
(``ansible_collections.edgeshade.cloud...``) and need ansible-core, an optional extra; a few run
against a small in-process simulator. They take about a second.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ansible", reason="needs the 'ansible' extra: pip install -e '.[ansible]'")

import edgeshade  # noqa: E402 - after the skip
from edgeshade.sim import SimFleet, SimServer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The repository importable as ``ansible_collections.edgeshade.cloud``."""
    root = tmp_path_factory.mktemp("collections")
    (root / "ansible_collections" / "edgeshade").mkdir(parents=True)
    (root / "ansible_collections" / "edgeshade" / "cloud").symlink_to(REPO)
    sys.path.insert(0, str(root))
    try:
        from ansible_collections.edgeshade.cloud.plugins.module_utils import fleet

        yield fleet
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.startswith("ansible_collections.edgeshade")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("sim")
    fleet = SimFleet(sites=12, seed=3, faults="refused=edge-00001,500@compute=edge-00002")
    with SimServer(fleet) as server:
        clouds, secure = server.write_config(str(tmp))
        yield {"config": clouds, "secure": secure, "state_dir": str(tmp / "state")}


def _sites(*states: str) -> list[dict[str, Any]]:
    return [{"site": f"s{i}", "state": state, "data": {}} for i, state in enumerate(states)]


# -- pure helpers ----------------------------------------------------------------------


def test_connect_kwargs_leave_unset_options_to_the_library(plugins) -> None:
    params = {
        "config_file": "/c.yaml",
        "secure_file": None,
        "use_state": True,
        "token_cache": False,
        "concurrency": None,
        "timeout": 5.0,
        "retries": None,
        "state_dir": None,
    }
    assert plugins.connect_kwargs(params) == {
        "config_file": "/c.yaml",
        "secure_file": None,
        "use_state": True,
        "token_cache": False,
        "timeout": 5.0,
    }
    assert plugins.connect_kwargs(params, "/tmp/s.yaml")["secure_file"] == "/tmp/s.yaml"


def test_fail_policy_is_data_unless_the_limit_is_exceeded(plugins) -> None:
    sites = _sites("ok", "critical", *["ok"] * 8)  # 10 %
    assert plugins.fail_policy(sites, None)[:3] == (False, ["s1"], 10.0)
    assert plugins.fail_policy(sites, 10)[0] is False  # exceeded, not reached
    failed, names, pct, msg = plugins.fail_policy(sites, 9.5)
    assert failed and names == ["s1"] and pct == 10.0
    assert msg == "1 of 10 sites failed (10% > max_fail_percentage 9.5): s1"
    assert plugins.fail_policy(sites, 0)[0] is True
    assert plugins.fail_policy(_sites("ok", "ok"), 0)[0] is False
    assert plugins.fail_policy([], 0)[:3] == (False, [], 0.0)


def test_fail_states_choose_what_counts(plugins) -> None:
    sites = _sites("warning", "unreachable", "ok")
    assert plugins.fail_policy(sites, 0, ["warning"])[1] == ["s0"]
    assert plugins.fail_policy(sites, None)[1] == ["s1"]
    assert set(plugins.DEFAULT_FAIL_STATES) <= set(plugins.STATES)
    assert set(plugins.STATES) == {str(s) for s in edgeshade.State}


def test_site_diffs_are_headed_by_site(plugins) -> None:
    sites = [
        {"site": "a", "data": {"diff": {"before": "x\n", "after": "y\n"}}},
        {"site": "b", "data": {}},
        {"site": "c", "data": {"diff": "not a diff"}},
    ]
    assert plugins.site_diffs(sites) == [
        {
            "before_header": "a (before)",
            "after_header": "a (after)",
            "before": "x\n",
            "after": "y\n",
        }
    ]


def test_accepts_dry_run(plugins) -> None:
    def plans(conn, site, dry_run=False):
        return None

    def does(conn, site, **params):
        return None

    assert plugins.accepts_dry_run(plans)
    assert not plugins.accepts_dry_run(does)


def test_inline_secrets_live_in_a_private_file_for_the_run(plugins) -> None:
    with plugins._secure_file({"edge-1": {"auth": {"password": "s3cret"}}}) as path:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert "clouds:" in Path(path).read_text()
    assert not os.path.exists(path)
    with plugins._secure_file(None) as nothing:
        assert nothing is None


# -- modules in-process --------------------------------------------------------------


def _run_module(module_name: str, args: dict[str, Any], capsys) -> tuple[int, dict[str, Any]]:
    """Run a module's main() with ``args`` as Ansible would pass them; (exit code, result)."""
    import importlib

    from ansible.module_utils import basic

    module = importlib.import_module(
        f"ansible_collections.edgeshade.cloud.plugins.modules.{module_name}"
    )
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core < 2.19
        from unittest import mock

        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
        patcher = mock.patch.object(basic, "_ANSIBLE_ARGS", payload)
    else:
        patcher = patch_module_args(args)
    with patcher, pytest.raises(SystemExit) as exit_info:
        module.main()
    out = capsys.readouterr().out
    return int(exit_info.value.code or 0), json.loads(out)


def _base(sim: dict[str, str], **more: Any) -> dict[str, Any]:
    return {"config_file": sim["config"], "state_dir": sim["state_dir"], "timeout": 5, **more}


def test_fleet_status_module_returns_plain_per_site_data(plugins, sim, capsys) -> None:
    code, result = _run_module("fleet_status", _base(sim, sites=["edge-0000[1-3]"]), capsys)
    assert code == 0 and not result.get("failed") and result["changed"] is False
    assert [s["site"] for s in result["sites"]] == ["edge-00001", "edge-00002", "edge-00003"]
    assert result["failed_sites"] == ["edge-00001", "edge-00002"]
    assert result["sites"][0]["state"] == "unreachable"
    assert result["sites"][1]["state"] == "critical"
    assert result["fail_percentage"] == pytest.approx(66.67)
    assert result["msg"].startswith("3 sites: ")


def test_processes_give_the_same_per_site_states(plugins, sim, capsys) -> None:
    _, one = _run_module("fleet_status", _base(sim), capsys)
    _, two = _run_module("fleet_status", _base(sim, processes=2), capsys)
    assert [(s["site"], s["state"]) for s in two["sites"]] == [
        (s["site"], s["state"]) for s in one["sites"]
    ]


def test_failure_policy_fails_with_the_sites_attached(plugins, sim, capsys) -> None:
    args = _base(sim, sites=["edge-0000[1-3]"], checks=["image"], max_fail_percentage=20)
    code, result = _run_module("fleet_status", args, capsys)
    assert code == 1 and result["failed"] is True
    assert "max_fail_percentage 20" in result["msg"] and len(result["sites"]) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"checks": ["cpu"]}, "value of checks must be one or more of"),
        ({"thresholds": {"nope": 1}}, "unknown threshold 'nope'"),
        ({"thresholds": {"quota_warning_percent": "high"}}, "'high' is not a number"),
        ({"sites": ["nowhere"]}, "unknown cloud or group 'nowhere'"),
        ({"secure_file": "/x", "secrets": {"clouds": {}}}, "mutually exclusive"),
        ({"fail_states": ["bad"]}, "value of fail_states must be one or more of"),
    ],
)
def test_argument_errors_fail_the_task_once(plugins, sim, capsys, args, message) -> None:
    code, result = _run_module("fleet_status", _base(sim, **args), capsys)
    assert code == 1 and result["failed"] is True
    assert message in result["msg"]
    assert "sites" not in result


def test_missing_library_names_the_interpreter(plugins, sim, capsys, monkeypatch) -> None:
    monkeypatch.setattr(plugins, "HAS_EDGESHADE", False)
    code, result = _run_module("fleet_status", _base(sim), capsys)
    assert code == 1
    assert "Failed to import the required Python library (edgeshade)" in result["msg"]
    assert "ansible_python_interpreter" in result["msg"]


def test_site_info_module_one_site(plugins, sim, capsys) -> None:
    code, result = _run_module("site_info", _base(sim, site="core-a/RegionTwo"), capsys)
    assert code == 0
    facts = result["site"]
    assert facts["state"] == "ok" and facts["services"]["compute"] == "present"
    assert facts["capacity"]["vcpus"] > 0 and facts["config"]["groups"] == ["core"]


def test_site_facts_task_reports_failed_reads(plugins, sim) -> None:
    from edgeshade.tasks.info import site_facts

    fleet = edgeshade.connect(
        ["edge-00002", "edge-00003"],
        config_file=sim["config"],
        state_dir=sim["state_dir"],
        timeout=5,
    )
    broken, healthy = fleet.run(site_facts)
    assert broken.state == "critical"
    assert "capacity:" in broken.reason and "compute:" in broken.reason
    assert broken.data.endpoints.compute and broken.data.capacity == {}
    assert healthy.state == "ok" and healthy.data.capacity.hypervisors > 0
