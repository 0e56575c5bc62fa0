"""The edgeshade.cloud collection end to end against the built-in simulator.

Why real ``ansible-playbook`` and ``ansible-inventory`` subprocesses: the modules then run as
Ansible runs them (AnsiballZ payloads, the venv's Python as ``ansible_python_interpreter``,
module_defaults resolved through meta/runtime.yml's action group), from the tarball that
``ansible-galaxy collection build`` made and ``ansible-galaxy collection install`` accepted, so
packaging, import, argument and JSON problems show up here rather than on a user's controller.

The playbooks are the amazon.aws-style targets in ``tests/integration/targets/<name>/``; their
asserts are the test, this driver only starts things and checks what a playbook cannot see (the
output, the secrets, the inventory listing).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("ansible", reason="needs the 'ansible' extra: pip install -e '.[ansible]'")

import edgeshade  # noqa: E402 - after the skip
from edgeshade.sim import SimFleet, SimServer  # noqa: E402

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
TARGETS = REPO / "tests" / "integration" / "targets"
BIN = Path(sys.executable).parent

SITES = 100
TIMEOUT = 5  # per-site deadline: the hanging site costs this much per full-fleet run
HANG = "edge-00084"
REFUSED = ["edge-00081", "edge-00082", "edge-00083"]
#: Faults on named sites, and the state each one must end in.
EXPECTED = {
    **{site: "unreachable" for site in REFUSED},
    HANG: "timed_out",
    "edge-00085": "auth_failed",
    "edge-00086": "critical",
    "edge-00087": "critical",
}
FAULTS = "refused=edge-0008[1-3],hang=edge-00084,401=edge-00085,500@compute=edge-0008[6-7]"


def _tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else name


@pytest.fixture(scope="module")
def collections_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collection as users get it: built to a tarball, installed from it."""
    tmp = tmp_path_factory.mktemp("collection")
    build = subprocess.run(
        [_tool("ansible-galaxy"), "collection", "build", "--output-path", str(tmp), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr + build.stdout
    tarball = next(tmp.glob("edgeshade-cloud-*.tar.gz"))
    dest = tmp / "collections"
    install = subprocess.run(
        [_tool("ansible-galaxy"), "collection", "install", str(tarball), "-p", str(dest)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ANSIBLE_HOME": str(tmp / "ansible-home")},
    )
    assert install.returncode == 0, install.stderr + install.stdout
    installed = dest / "ansible_collections" / "edgeshade" / "cloud"
    assert (installed / "meta" / "runtime.yml").exists()
    assert not (installed / "edgeshade").exists(), "the library must not be in the collection"
    return dest


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("sim")
    with SimServer(SimFleet(sites=SITES, seed=5, faults=FAULTS)) as server:
        clouds, secure = server.write_config(str(tmp / "config"))
        yield {"server": server, "config": clouds, "secure": secure, "dir": tmp}


@pytest.fixture(scope="module")
def env(collections_path: Path, sim: dict[str, Any]) -> dict[str, str]:
    """Ansible confined to temporary directories; nothing written to ~/.ansible."""
    home = sim["dir"] / "ansible-home"
    config = sim["dir"] / "ansible.cfg"  # empty: no ansible.cfg of the user's or the cwd's
    config.write_text("[defaults]\n")
    return {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(home / "remote-tmp"),
        "ANSIBLE_ROLES_PATH": str(TARGETS),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_CONFIG": str(config),
        "EDGESHADE_STATE_DIR": str(sim["dir"] / "default-state"),
    }


@pytest.fixture(scope="module")
def reference(sim: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The library's own status run: what the modules must agree with.

    It skips the hanging site (its state is known: timed_out) and leaves a state store with
    last-known states for the inventory tests, where that site is the one no run has seen.
    """
    state_dir = tmp_path_factory.mktemp("reference-state")
    fleet = edgeshade.connect(
        ["all", f"!{HANG}"], config_file=sim["config"], state_dir=str(state_dir), timeout=TIMEOUT
    )
    states = {r.site: r.state for r in fleet.run("status")}
    assert len(states) == SITES - 1
    states[HANG] = "timed_out"
    for site, state in EXPECTED.items():
        assert states[site] == state, site
    return {"state_dir": state_dir, "states": states}


def _extra_vars(
    sim: dict[str, Any], state_dir: Path, work_dir: Path, reference: dict[str, Any] | None = None
) -> dict[str, Any]:
    states = reference["states"] if reference else {}
    failed = ("critical", "unreachable", "auth_failed", "timed_out", "error")
    return {
        "es_config": sim["config"],
        "es_secure": sim["secure"],
        "es_state_dir": str(state_dir),
        "es_work_dir": str(work_dir),
        "es_timeout": TIMEOUT,
        "es_sites": SITES,
        "es_expected": EXPECTED,
        "es_reference": states,
        "es_failed_sites": [site for site, state in states.items() if state in failed],
        "es_hang_site": HANG,
        "es_refused_site": REFUSED[0],
    }


def _playbook(
    env: dict[str, str], playbook: Path, inventory: str, extra: dict[str, Any], *args: str
) -> subprocess.CompletedProcess[str]:
    vars_file = playbook.parent / f"{playbook.stem}-vars.json"
    vars_file.write_text(json.dumps(extra))
    return subprocess.run(
        [_tool("ansible-playbook"), "-i", inventory, str(playbook), "-e", f"@{vars_file}", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=200,
    )


def run_target(
    name: str,
    env: dict[str, str],
    sim: dict[str, Any],
    tmp_path: Path,
    *args: str,
    reference: dict[str, Any] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``targets/<name>/tasks/main.yml`` on localhost, as ansible-test would."""
    playbook = tmp_path / f"{name}.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": f"target {name}",
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "tasks": [{"ansible.builtin.include_role": {"name": name}}],
                }
            ]
        )
    )
    (tmp_path / "work").mkdir(exist_ok=True)
    extra = _extra_vars(sim, tmp_path / "state", tmp_path / "work", reference)
    proc = _playbook(env, playbook, "localhost,", extra, *args)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc


def _secrets(sim: dict[str, Any]) -> list[str]:
    with open(sim["secure"], encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    return [v for cloud in doc["clouds"].values() for v in cloud["auth"].values()]


def test_fleet_status_target(env, sim, reference, tmp_path) -> None:
    proc = run_target("fleet_status", env, sim, tmp_path, "-vvv", reference=reference)
    assert "failed=0" in proc.stdout
    # no_log: the inline secrets (and so every password) never reach the output.
    leaked = [s for s in _secrets(sim) if s in proc.stdout or s in proc.stderr]
    assert leaked == []
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in proc.stdout  # the vaulted task's args
    assert "Using module file" in proc.stdout  # -vvv shows module args and results in full
    result = json.loads((tmp_path / "work" / "fleet_status.json").read_text())
    assert len(result["sites"]) == SITES


def test_site_info_target(env, sim, tmp_path) -> None:
    run_target("site_info", env, sim, tmp_path)
    text = (tmp_path / "work" / "site_info.json").read_text()
    assert not [s for s in _secrets(sim) if s in text]


def test_fleet_run_target_check_and_diff(env, sim, tmp_path) -> None:
    proc = run_target("fleet_run", env, sim, tmp_path)
    # diff mode shows each site's plan, headed by the site's name
    assert "edge-00001 (after)" in proc.stdout
    assert '"m1.tiny"' in proc.stdout


def test_check_mode_flag_on_the_command_line(env, sim, tmp_path) -> None:
    """``ansible-playbook --check --diff`` over a fleet_run play plans and writes nothing."""
    playbook = tmp_path / "plan.yml"
    out_dir = tmp_path / "out"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "edgeshade.cloud.fleet_run": {
                                "config_file": "{{ es_config }}",
                                "state_dir": "{{ es_state_dir }}",
                                "sites": ["core-a"],
                                "task": "fleet_tasks:flavor_inventory",
                                "python_path": [str(TARGETS / "fleet_run" / "files")],
                                "params": {"out_dir": str(out_dir)},
                            }
                        }
                    ],
                }
            ]
        )
    )
    extra = _extra_vars(sim, tmp_path / "state", tmp_path)
    proc = _playbook(env, playbook, "localhost,", extra, "--check", "--diff")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "changed=1" in proc.stdout
    assert "core-a/RegionTwo (after)" in proc.stdout
    assert not out_dir.exists()


def test_image_sync_target_check_diff_and_idempotence(env, sim, tmp_path) -> None:
    """image_sync: check mode plans (no bytes sent), a run uploads, a second run is in sync."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "app.qcow2").write_bytes(b"QFI\xfb" + bytes(range(256)) * 512)
    before = sim["server"].stats()["images"]["bytes_received"]
    proc = run_target("image_sync", env, sim, tmp_path, "--diff")
    assert "core-a/RegionTwo (after)" in proc.stdout
    received = sim["server"].stats()["images"]["received_by_site"]
    assert sim["server"].stats()["images"]["bytes_received"] - before == 3 * (4 + 256 * 512)
    assert {s for s in received if s.startswith("core-a")} == {
        f"core-a/Region{r}" for r in ("One", "Two", "Three")
    }


def test_ansible_doc_renders_every_plugin(env) -> None:
    """Every module (and the inventory plugin) has docs that ansible-doc can render."""
    listed = subprocess.run(
        [_tool("ansible-doc"), "--list", "--json", "edgeshade.cloud"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    modules = sorted(json.loads(listed.stdout))
    assert modules == [
        f"edgeshade.cloud.{m}"
        for m in ("config", "deploy", "fleet_run", "fleet_status", "image_sync", "site_info")
    ]
    for plugin_type, names in (("module", modules), ("inventory", ["edgeshade.cloud.fleet"])):
        shown = subprocess.run(
            [_tool("ansible-doc"), "--json", "-t", plugin_type, *names],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        docs = json.loads(shown.stdout)
        for name in names:
            assert docs[name]["doc"]["options"], name
            if plugin_type == "module":
                assert docs[name]["return"]["sites"], name
                group = docs[name]["doc"]["attributes"]["action_group"]
                assert group["membership"] == ["edgeshade.cloud.all"]


def test_missing_library_is_a_clear_failure(env, sim, tmp_path) -> None:
    """A Python without the library fails the task with the install hint, not a traceback."""
    base = Path(sys.base_prefix) / "bin" / "python3"
    probe = subprocess.run([str(base), "-c", "import edgeshade"], capture_output=True, check=False)
    if not base.exists() or probe.returncode == 0:
        pytest.skip("no Python without edgeshade on this machine")
    playbook = tmp_path / "nolib.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "tasks": [{"edgeshade.cloud.fleet_status": {"sites": "core-a"}}],
                }
            ]
        )
    )
    proc = _playbook({**env, "ANSIBLE_PYTHON_INTERPRETER": str(base)}, playbook, "localhost,", {})
    assert proc.returncode == 2
    assert "Failed to import the required Python library (edgeshade)" in proc.stdout


# -- inventory plugin -------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """ansible-inventory 2.19+ marks plugin-sourced strings ``{"__ansible_unsafe": ...}``."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _inventory(env: dict[str, str], source: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_tool("ansible-inventory"), "-i", str(source), "--list", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def _write_inventory(path: Path, **options: Any) -> Path:
    path.write_text(yaml.safe_dump({"plugin": "edgeshade.cloud.fleet", **options}))
    return path


def test_inventory_list_groups_and_hostvars(env, sim, reference, tmp_path) -> None:
    source = _write_inventory(
        tmp_path / "fleet.edgeshade.yml",
        config_file=sim["config"],
        state_dir=str(reference["state_dir"]),
        keyed_groups=[{"key": "edgeshade_auth_type", "prefix": "auth"}],
    )
    proc = _inventory(env, source)
    assert proc.returncode == 0, proc.stderr
    inv = _plain(json.loads(proc.stdout))
    hostvars = inv["_meta"]["hostvars"]

    def hosts(group: str) -> set[str]:
        return set(inv.get(group, {}).get("hosts", []))

    assert len(hostvars) == SITES
    assert hosts("cloud_core_a") == {f"core-a/Region{r}" for r in ("One", "Two", "Three")}
    assert hosts("region_RegionTwo") == {"core-a/RegionTwo", "core-b/RegionTwo"}
    assert len(hosts("core")) == 6 and len(hosts("edge")) == SITES - 6
    assert hosts("cloud_edge_00001") == {"edge-00001"}
    assert hosts("state_unreachable") == set(REFUSED)
    assert hosts("state_auth_failed") == {"edge-00085"}
    assert {"edge-00086", "edge-00087"} <= hosts("state_critical")
    assert hosts("state_unknown") == {HANG}  # no run has seen it
    assert hosts("auth_password") and hosts("auth_password") | hosts(
        "auth_v3applicationcredential"
    ) == set(hostvars)

    core = hostvars["core-a/RegionTwo"]
    assert core["edgeshade_cloud"] == "core-a" and core["edgeshade_region"] == "RegionTwo"
    assert core["edgeshade_groups"] == ["core"]
    assert core["edgeshade_state"] in ("ok", "warning")
    assert core["edgeshade_auth_url"].endswith("/core-a/identity")
    assert core["ansible_connection"] == "local"
    # the Python running ansible-inventory: the venv's, which has the library
    assert Path(core["ansible_python_interpreter"]).parent == Path(sys.executable).parent
    down = hostvars[REFUSED[0]]
    assert down["edgeshade_state"] == "unreachable" and down["edgeshade_failures"] == 1
    assert down["edgeshade_state_reason"]
    # auth-free: no secret of secure.yaml anywhere in the listing
    assert not [s for s in _secrets(sim) if s in proc.stdout]


def test_inventory_cache_serves_the_listing(env, sim, reference, tmp_path) -> None:
    config_dir = tmp_path / "config"
    shutil.copytree(Path(sim["config"]).parent, config_dir)
    source = _write_inventory(
        tmp_path / "cached.edgeshade.yml",
        config_file=str(config_dir / "clouds.yaml"),
        state_dir=str(reference["state_dir"]),
        cache=True,
        cache_plugin="ansible.builtin.jsonfile",
        cache_connection=str(tmp_path / "cache"),
        cache_timeout=600,
    )
    first = _inventory(env, source)
    assert first.returncode == 0, first.stderr
    assert any((tmp_path / "cache").iterdir()), "the listing was cached"
    shutil.rmtree(config_dir)  # from now on only the cache knows the fleet
    cached = _inventory(env, source)
    assert cached.returncode == 0, cached.stderr
    assert _plain(json.loads(cached.stdout)) == _plain(json.loads(first.stdout))
    flushed = _inventory(env, source, "--flush-cache")
    assert flushed.returncode != 0
    assert "clouds.yaml: no such file" in flushed.stderr


def test_play_over_inventory_sites(env, sim, reference, tmp_path) -> None:
    source = _write_inventory(
        tmp_path / "fleet.edgeshade.yml",
        config_file=sim["config"],
        state_dir=str(reference["state_dir"]),
    )
    extra = _extra_vars(sim, reference["state_dir"], tmp_path)
    playbook = tmp_path / "playbook.yml"
    shutil.copy(TARGETS / "inventory_fleet" / "playbook.yml", playbook)
    proc = _playbook(env, playbook, str(source), extra)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    for site in ("core-a/RegionOne", "core-a/RegionTwo", "core-a/RegionThree"):
        assert f"{site}" in proc.stdout
    assert "ok=2" in proc.stdout and "failed=0" in proc.stdout
