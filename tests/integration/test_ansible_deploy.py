"""The edgeshade.cloud.deploy module through real ``ansible-playbook`` against the simulator.

The playbook (``targets/deploy/tasks/main.yml``) asserts what the module returns; this driver
checks what the playbook cannot see: the servers the simulator holds and the diff output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("ansible", reason="needs the 'ansible' extra: pip install -e '.[ansible]'")

from edgeshade.sim import SimFleet, SimServer  # noqa: E402
from edgeshade.sim.workloads import workloads  # noqa: E402
from tests.integration.test_ansible_collection import (  # noqa: E402, F401 - fixtures
    _extra_vars,
    _playbook,
    collections_path,
    env,
)

pytestmark = pytest.mark.timeout(240)

SPEC = {
    "deployment": "ansible-web",
    "version": "1",
    "sites": ["edge-*"],
    "servers": [{"name": "web-{{ site.name }}-{{ index }}", "count": 2,
                 "image": "cirros-0.6.2-x86_64-disk", "flavor": "m1.small"}],
    "rollout": {"canary": 1, "batch": "50%"},
    "poll": 0.05,
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("deploy-sim")
    fleet = SimFleet(sites=20, seed=7)
    workloads(fleet).build_seconds = 0.05
    with SimServer(fleet) as server:
        clouds, secure = server.write_config(str(tmp / "config"))
        yield {"server": server, "fleet": fleet, "config": clouds, "secure": secure, "dir": tmp}


def test_deploy_target_check_apply_idempotent_absent(env, sim, tmp_path: Path) -> None:  # noqa: F811
    spec = tmp_path / "web.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    fleet = sim["fleet"]
    sites = [s for s in fleet.sites if s.startswith("edge-0000")]
    playbook = tmp_path / "deploy.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "target deploy", "hosts": "localhost", "connection": "local",
        "gather_facts": False, "tasks": [{"ansible.builtin.include_role": {"name": "deploy"}}],
    }]))
    extra = {**_extra_vars(sim, tmp_path / "state", tmp_path),
             "es_spec": str(spec), "es_site_count": len(sites)}
    proc = _playbook(env, playbook, "localhost,", extra)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "failed=0" in proc.stdout
    # diff mode: the plan per site, headed by the site's name
    assert "edge-00001 (after)" in proc.stdout
    assert "server web-edge-00001-1: create" in proc.stdout
    owned = [s for site in sites for s in fleet.contents(site).servers
             if s.metadata.get("edgeshade.deployment") == "ansible-web"]
    assert owned == []  # state=absent removed them all
