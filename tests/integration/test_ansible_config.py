"""The ``edgeshade.cloud.config`` module under a real ``ansible-playbook`` against the simulator.

The collection is linked into a temporary collections path (building and installing the
tarball is what test_ansible_collection.py proves); the playbook is the amazon.aws-style target
``targets/config``, whose asserts are the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("ansible", reason="needs the 'ansible' extra: pip install -e '.[ansible]'")

from edgeshade.sim import SimFleet, SimServer  # noqa: E402

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
TARGETS = REPO / "tests" / "integration" / "targets"
BASELINE = REPO / "tests" / "integration" / "data" / "fleet_baseline.yaml"
BIN = Path(sys.executable).parent
SITES = 8


def test_config_target(tmp_path: Path) -> None:
    collections = tmp_path / "collections" / "ansible_collections" / "edgeshade"
    collections.mkdir(parents=True)
    (collections / "cloud").symlink_to(REPO)
    home = tmp_path / "ansible-home"
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    with SimServer(SimFleet(sites=SITES, seed=12)) as server:
        clouds, _secure = server.write_config(str(tmp_path / "config"))
        doc = yaml.safe_load(Path(clouds).read_text())
        for i, cloud in enumerate(doc["clouds"].values()):
            cloud["edgeshade"] = {"vars": {"mgmt_cidr": f"10.7.{i}.0/24"}}
        Path(clouds).write_text(yaml.safe_dump(doc))
        playbook = tmp_path / "config.yml"
        playbook.write_text(yaml.safe_dump([{
            "name": "target config", "hosts": "localhost", "connection": "local",
            "gather_facts": False, "tasks": [{"ansible.builtin.include_role": {"name": "config"}}],
        }]))
        extra = tmp_path / "vars.json"
        extra.write_text(json.dumps({
            "es_config": clouds, "es_state_dir": str(tmp_path / "state"), "es_timeout": 30,
            "es_sites": SITES, "es_baseline": str(BASELINE),
        }))
        env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
            "ANSIBLE_HOME": str(home),
            "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
            "ANSIBLE_ROLES_PATH": str(TARGETS),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
        }
        tool = BIN / "ansible-playbook"
        proc = subprocess.run(
            [str(tool) if tool.exists() else "ansible-playbook", "-i", "localhost,",
             str(playbook), "-e", f"@{extra}", "--diff"],
            capture_output=True, text=True, env=env, check=False, timeout=200,
        )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "failed=0" in proc.stdout
    # diff mode: each site's planned changes, headed by the site's name
    assert "edge-00001 (after)" in proc.stdout
    assert "security_groups/edge-base" in proc.stdout
