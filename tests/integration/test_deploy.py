"""Deployments against the simulated fleet over real HTTP: waves, budget, rollback, resume.

One 200-site simulator serves the module; each test uses its own deployment
name (servers are told apart by their ownership metadata) and its own state
directory. Server state is checked in the simulator's own contents (what a
``GET /servers`` would list), never in what edgeshade reports about itself.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import edgeshade
from edgeshade.errors import ConfigError
from edgeshade.journal import Journal
from edgeshade.sim import SimFleet, SimServer
from edgeshade.sim.workloads import workloads

SEED = 5
IMAGE_A = "cirros-0.6.2-x86_64-disk"
IMAGE_B = "ubuntu-22.04-server-cloudimg-amd64"


class Sim:
    def __init__(self, tmp: Path) -> None:
        self.fleet = SimFleet(sites=200, seed=SEED, latency_ms=0)
        w = workloads(self.fleet)
        w.build_seconds = 0.05
        w.stack_seconds = 0.05
        self.server = SimServer(self.fleet).start()
        self.clouds, self.secure = self.server.write_config(str(tmp))
        self.tmp = tmp

    def owned(self, site: str, deployment: str) -> list:
        return [s for s in self.fleet.contents(site).servers
                if s.metadata.get("edgeshade.deployment") == deployment]

    def image_id(self, site: str, name: str) -> str:
        return next(i.id for i in self.fleet.contents(site).images if i.name == name)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    s = Sim(tmp_path_factory.mktemp("deploy"))
    yield s
    s.server.stop()


def spec_of(name: str, **over) -> dict:
    server = {"name": "web-{{ site.name }}", "count": 2, "image": IMAGE_A, "flavor": "m1.small",
              "networks": ["private"], "metadata": {"role": "web"}}
    server.update(over.pop("server", {}))
    spec = {"deployment": name, "version": "1", "sites": ["edge-*"], "servers": [server],
            "poll": 0.05, "timeout": 60, "rollout": {"max_parallel": 50}}
    spec.update(over)
    return spec


def connect(sim: Sim, state: Path, selectors: str | list[str] = "all", **kw):
    return edgeshade.connect(selectors, config_file=sim.clouds, secure_file=sim.secure,
                             state_dir=str(state), **kw)


def test_200_sites_canary_and_percentage_waves_then_plan_is_empty(sim: Sim, tmp_path: Path):
    fleet = connect(sim, tmp_path, "all")
    spec = spec_of("wave", sites=["all"], server={"count": 1},
                   rollout={"canary": 2, "batch": ["5%", "25%", "100%"], "max_parallel": 64})
    d = fleet.deploy(spec)
    assert len(d.fleet) == 200
    before = sim.server.stats()["total"]
    plan = d.plan()
    assert plan.summary == {"ok": 200}
    assert all(r.data.create == 1 and not r.data.delete for r in plan)
    assert sum(len(sim.owned(s, "wave")) for s in sim.fleet.sites) == 0  # a plan changes nothing
    assert sim.server.stats()["total"] > before

    result = d.apply()
    assert result.summary == {"ok": 200}, [(r.site, r.reason) for r in result if r.state != "ok"]
    assert [w["sites"] for w in result.waves] == [2, 10, 50, 138]
    assert all(w.get("gate") == {"ok": w["sites"]} for w in result.waves)
    for site in sim.fleet.sites:
        owned = sim.owned(site, "wave")
        assert [s.name for s in owned] == [f"web-{site}"]
        assert {s.status for s in owned} == {"ACTIVE"}
        assert {s.image_id for s in owned} == {sim.image_id(site, IMAGE_A)}
        assert all(s.metadata["edgeshade.version"] == "1" for s in owned)

    again = d.plan()  # idempotence: a successful apply leaves nothing to do
    assert sum(r.data.create + r.data.change + r.data.delete for r in again) == 0
    assert sum(r.data.unchanged for r in again) == 200


def test_failure_budget_stops_new_sites_and_lets_in_flight_finish(sim: Sim, tmp_path: Path):
    fleet = connect(sim, tmp_path, "edge-0000*,edge-0001*")
    sites = [s.name for s in fleet.sites]
    # Waves (max_parallel 1, so sites run one after another): [2] [6] [6]...
    bad = [sites[3], sites[5]]  # the 2nd and 4th sites of wave 1
    for name in bad:
        workloads(sim.fleet).fail_builds(name)
    try:
        d = fleet.deploy(spec_of("budget", server={"count": 1}, rollout={
            "canary": 2, "batch": 6, "max_parallel": 1, "max_failures": 1}))
        result = d.apply()
    finally:
        workloads(sim.fleet).heal()
    states = {r.site: r.state for r in result}
    assert states[bad[0]] == "critical" and states[bad[1]] == "critical"
    assert "ERROR" in next(r.reason for r in result if r.site == bad[1])
    assert [states[s] for s in sites[:5]] == ["ok", "ok", "ok", "critical", "ok"]
    # The second failure exceeds the budget of 1: nothing after it starts.
    assert all(states[s] == "skipped" for s in sites[6:]), states
    assert "failure budget exceeded (2 failed, 1 allowed)" in result.stopped
    assert result.exit_code == 2
    assert all(len(sim.owned(s, "budget")) == 0 for s in sites[6:])
    d.destroy()


def test_image_update_rebuilds_only_changed_servers_and_rollback_restores(sim: Sim,
                                                                          tmp_path: Path):
    fleet = connect(sim, tmp_path, "edge-0002*")
    v1 = spec_of("upd", rollout={"batch": "50%"})
    assert fleet.deploy(v1).apply().summary == {"ok": 10}
    sites = [s.name for s in fleet.sites]
    before = {site: {s.name: (s.id, s.image_id) for s in sim.owned(site, "upd")}
              for site in sites}
    # v2: new image on the servers, one more server; metadata change is in place.
    v2 = spec_of("upd", version="2", server={"image": IMAGE_B, "count": 3,
                                               "metadata": {"role": "web", "tier": "front"}})
    d2 = fleet.deploy(v2)
    plan = d2.plan()
    first = plan.sites[0]
    kinds = sorted((c.action, c.get("kind", "")) for c in first.data.changes)
    assert kinds == [("change", "rebuild"), ("change", "rebuild"), ("create", "")]
    assert f"image {IMAGE_A} -> {IMAGE_B}" in first.data.changes[0].reason
    assert d2.apply().summary == {"ok": 10}
    for site in sites:
        owned = {s.name: s for s in sim.owned(site, "upd")}
        assert len(owned) == 3
        for name, (sid, _image) in before[site].items():
            assert owned[name].id == sid  # rebuilt, not replaced
            assert owned[name].image_id == sim.image_id(site, IMAGE_B)
    # Metadata only: in place, the image and server ids stay.
    v3 = spec_of("upd", version="3", server={"image": IMAGE_B, "count": 3,
                                               "metadata": {"role": "api", "tier": "front"}})
    plan3 = fleet.deploy(v3).plan()
    assert {(c.action, c.kind) for r in plan3 for c in r.data.changes} == {("change", "in_place")}

    rb = d2.rollback()
    assert rb.summary == {"ok": 10}, [(r.site, r.reason) for r in rb]
    for site in sites:
        owned = sim.owned(site, "upd")
        assert {s.name: (s.id, s.image_id) for s in owned} == before[site]
        assert all(s.metadata["edgeshade.version"] == "1" for s in owned)
        assert all(s.metadata.get("tier") is None for s in owned)
    assert fleet.deploy(v1).plan().summary == {"ok": 10}
    assert sum(len(r.data.changes) for r in fleet.deploy(v1).plan()) == 0
    status = fleet.deploy(v1).status()
    assert {r.data.version for r in status} == {"1"} and status.summary == {"ok": 10}
    history = fleet.deploy(v1).history()
    assert [h.rollback for h in history] == [False, False, True]
    fleet.deploy(v1).destroy()


def test_on_failure_rollback_undoes_the_touched_sites(sim: Sim, tmp_path: Path):
    fleet = connect(sim, tmp_path, "edge-0003*")
    sites = [s.name for s in fleet.sites]
    assert fleet.deploy(spec_of("auto", server={"count": 1})).apply().summary == {"ok": 10}
    v1_images = {s: sim.owned(s, "auto")[0].image_id for s in sites}
    workloads(sim.fleet).fail_builds(sites[4])
    try:
        result = fleet.deploy(spec_of("auto", version="2", server={"count": 1, "image": IMAGE_B},
                                      rollout={"canary": 2, "batch": 4, "max_parallel": 4,
                                               "on_failure": "rollback"})).apply()
    finally:
        workloads(sim.fleet).heal()
    assert result.stopped and result.rollback is not None
    assert result.rollback.summary.get("ok", 0) >= 5
    for site in sites:
        (server,) = sim.owned(site, "auto")
        if site != sites[4]:  # the failed site's server is in ERROR: replaced on the next apply
            assert server.image_id == v1_images[site], site
    fleet.deploy(spec_of("auto", server={"count": 1})).destroy()


def test_offline_sites_are_deferred_then_completed_by_a_later_run(sim: Sim, tmp_path: Path):
    fleet = connect(sim, tmp_path, "edge-0004*", retries=0)
    sites = [s.name for s in fleet.sites]
    down = sites[2:4]
    for name in down:
        sim.fleet.set_faults(name, "refused")
    try:
        d = fleet.deploy(spec_of("defer", server={"count": 1}, rollout={"batch": "30%"}))
        result = d.apply()
    finally:
        for name in down:
            sim.fleet.set_faults(name, None)
    assert sorted(result.deferred) == sorted(down)
    assert result.summary == {"ok": 8, "deferred": 2} and not result.stopped
    assert result.exit_code == 1
    with Journal.open(tmp_path) as journal:
        assert sorted(p.site for p in journal.pending("deploy:defer")) == sorted(down)
    resumed = d.apply(resume=True)
    assert sorted(r.site for r in resumed) == sorted(down)  # only the unfinished sites
    assert resumed.summary == {"ok": 2}
    assert all(len(sim.owned(s, "defer")) == 1 for s in sites)
    with Journal.open(tmp_path) as journal:
        assert journal.pending("deploy:defer") == []
    d.destroy()


def test_heat_stack_create_update_failure_and_rollback(sim: Sim, tmp_path: Path):
    template = tmp_path / "mon.yaml"
    template.write_text(textwrap.dedent("""
        heat_template_version: 2021-04-16
        parameters:
          ntp: {type: string}
        outputs:
          ntp: {value: {get_param: ntp}}
    """))
    fleet = connect(sim, tmp_path, "edge-0005*")
    sites = [s.name for s in fleet.sites]

    def spec(version: str, ntp: str) -> dict:
        return {"deployment": "mon", "version": version, "sites": ["edge-*"], "poll": 0.05,
                "vars": {"ntp": ntp},
                "stacks": [{"name": "mon-{{ site.name }}", "template": str(template),
                            "parameters": {"ntp": "{{ site.vars.ntp }}"}}]}

    def stacks(site: str) -> list:
        return workloads(sim.fleet).stacks.get(site, [])

    assert fleet.deploy(spec("1", "10.0.0.1")).apply().summary == {"ok": 10}
    assert all([(s.status, s.parameters["ntp"]) for s in stacks(x)]
               == [("CREATE_COMPLETE", "10.0.0.1")] for x in sites)
    workloads(sim.fleet).fail_stacks(sites[1])
    try:
        d2 = fleet.deploy(spec("2", "10.0.0.2"))
        failed = d2.apply()
    finally:
        workloads(sim.fleet).heal()
    assert {r.site: r.state for r in failed}[sites[1]] == "critical"
    assert "ROLLBACK_COMPLETE" in next(r.reason for r in failed if r.site == sites[1])
    assert stacks(sites[1])[0].parameters["ntp"] == "10.0.0.1"  # Heat rolled it back
    assert d2.apply().summary == {"ok": 10}
    assert all(stacks(x)[0].parameters["ntp"] == "10.0.0.2" for x in sites)
    assert d2.rollback().summary == {"ok": 10}
    assert all(stacks(x)[0].parameters["ntp"] == "10.0.0.1" for x in sites)
    assert d2.destroy().summary == {"ok": 10}
    time.sleep(0.2)
    assert all(stacks(x) == [] for x in sites)


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s["servers"][0].update(imagee="x"), "servers[0].imagee: unknown key"),
    (lambda s: s["servers"][0].pop("image"), "servers[0]: missing required field 'image'"),
    (lambda s: s["rollout"].update(batch="ten"), "rollout.batch: expected a count"),
    (lambda s: s["rollout"].update(batch="0%"), "rollout.batch: '0%' must be above 0%"),
    (lambda s: s.update(colour="blue"), "colour: unknown key"),
    (lambda s: s["servers"][0].update(name="web-{{ site.vars.nope }}"),
     "servers[0].name: at site edge-"),
    (lambda s: s["servers"][0].update(name="web-{{ site.name "), "template error"),
])
def test_bad_specs_fail_in_one_line_before_any_request(sim: Sim, tmp_path: Path, capsys,
                                                       mutate, message):
    spec = spec_of("bad")
    mutate(spec)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    before = sim.server.stats()["total"]
    with pytest.raises(ConfigError) as err:
        connect(sim, tmp_path).deploy(str(path))
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)
    from edgeshade.cli import main

    code = main(["--os-config-file", sim.clouds, "--state-dir", str(tmp_path / "st"),
                 "deploy", "apply", str(path)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert err.count("\n") == 1 and message in err and err.startswith("edgeshade: error: ")
    assert "Traceback" not in err
    assert sim.server.stats()["total"] == before  # no site was contacted


def _journal_rows(state: Path, action: str) -> int:
    db = state / "state.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=5) as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM journal WHERE action = ?",
                                (action,)).fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def test_sigkill_mid_rollout_then_resume_leaves_exactly_the_wanted_servers(sim: Sim,
                                                                          tmp_path: Path):
    workloads(sim.fleet).build_seconds = 0.3
    spec = spec_of("crash", server={"count": 2}, rollout={"canary": 2, "batch": 8,
                                                          "max_parallel": 4})
    spec["sites"] = ["edge-0006*", "edge-0007*"]
    path = tmp_path / "crash.yaml"
    path.write_text(yaml.safe_dump(spec))
    state = tmp_path / "state"
    cmd = [sys.executable, "-m", "edgeshade", "--os-config-file", sim.clouds,
           "--state-dir", str(state), "deploy"]
    try:
        proc = subprocess.Popen([*cmd, "apply", str(path)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 60
        while _journal_rows(state, "create") < 10 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        time.sleep(0.4)  # builds started before the kill finish in the cloud
        sites = [s for s in sim.fleet.sites if s.startswith(("edge-0006", "edge-0007"))]
        created_before = sum(len(sim.owned(s, "crash")) for s in sites)
        assert 0 < created_before < 2 * len(sites)  # killed mid-rollout
        with Journal.open(state) as journal:
            complete_before = len(journal.site_versions("deploy:crash"))
        assert complete_before < len(sites)

        resumed = subprocess.run([*cmd, "resume", str(path), "-f", "json"], capture_output=True,
                                 text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    finally:
        workloads(sim.fleet).build_seconds = 0.05
    for site in sites:
        owned = sim.owned(site, "crash")
        assert sorted(s.name for s in owned) == [f"web-{site}-1", f"web-{site}-2"], site
        assert {s.status for s in owned} == {"ACTIVE"}
    with Journal.open(state) as journal:
        assert journal.open_steps("deploy:crash") == []  # the crash's open steps were closed
        versions = journal.site_versions("deploy:crash")
        assert sorted(versions) == sorted(sites) and {v.version for v in versions.values()} == {
            "1"}
        creates = [s for s in journal.steps("deploy:crash") if s.action == "create"]
        # One create per server; an open create left by the kill may be adopted, not repeated.
        assert len({(s.site, s.resource) for s in creates}) == 2 * len(sites)  # by name
        ids = {s.id for site in sites for s in sim.owned(site, "crash")}
        done_ids = {s.after["id"] for s in creates if s.phase == "done" and s.after
                    and "id" in s.after}
        assert done_ids <= ids
    status = subprocess.run([*cmd, "status", str(path)], capture_output=True, text=True,
                            timeout=60)
    assert status.returncode == 0, status.stdout
    history = subprocess.run([*cmd, "history", str(path), "-f", "yaml"], capture_output=True,
                             text=True, timeout=60)
    runs = yaml.safe_load(history.stdout)
    assert len(runs) == 2 and runs[1]["open"] == 0
    destroyed = subprocess.run([*cmd, "destroy", str(path)], capture_output=True, text=True,
                               timeout=60)
    assert destroyed.returncode == 0
    assert sum(len(sim.owned(s, "crash")) for s in sites) == 0


def test_second_writer_is_refused_while_apply_holds_the_lock(sim: Sim, tmp_path: Path):
    fleet = connect(sim, tmp_path, "edge-0009*")
    d = fleet.deploy(spec_of("locked", server={"count": 1}))
    with Journal.open(tmp_path) as journal, journal.lock(d.op):
        with pytest.raises(edgeshade.EdgeshadeError, match="another edgeshade process"):
            d.apply()
    assert all(len(sim.owned(s.name, "locked")) == 0 for s in fleet.sites)


def _fips(sim: Sim, site: str, deployment: str | None = None) -> list:
    """Floating IPs allocated at a site (owned by ``deployment`` if given), from the simulator."""
    every = workloads(sim.fleet).floating_ips.get(site, [])
    if deployment is None:
        return list(every)
    return [f for f in every if f.description == f"edgeshade.deployment={deployment}"]


def _attached(sim: Sim, site: str, server) -> list:
    from edgeshade.sim.config_state import site_state

    ports = {pid for pid, p in site_state(sim.fleet, site).ports.items()
             if p["device_id"] == server.id}
    return [f for f in _fips(sim, site) if f.port_id in ports and f.fixed_ip == server.ip]


def test_floating_ips_one_per_server_replan_clean_replace_and_destroy_release(sim: Sim,
                                                                           tmp_path: Path):
    fleet = connect(sim, tmp_path, "edge-0010*")
    sites = [s.name for s in fleet.sites]
    d = fleet.deploy(spec_of("fip", server={"count": 2, "floating_ip": True},
                             rollout={"batch": "50%"}))
    assert all(r.data.create == 2 for r in d.plan())
    result = d.apply()
    assert result.summary == {"ok": 10}, [(r.site, r.reason) for r in result if r.state != "ok"]
    for r in result:
        owned = sim.owned(r.site, "fip")
        assert len(owned) == 2 and {s.status for s in owned} == {"ACTIVE"}
        for server in owned:
            (fip,) = _attached(sim, r.site, server)  # exactly one, on the server's own port
            assert fip.description == "edgeshade.deployment=fip"
            assert r.data.floating_ips[server.name] == fip.address
        assert len(_fips(sim, r.site)) == 2  # nothing else allocated
    again = d.plan()
    assert sum(r.data.create + r.data.change + r.data.delete for r in again) == 0
    assert sum(r.data.unchanged for r in again) == 20

    # A flavor change replaces the servers: the old servers' addresses are released,
    # the new servers get one each.
    v2 = fleet.deploy(spec_of("fip", version="2", rollout={"batch": "50%"},
                              server={"count": 2, "floating_ip": True, "flavor": "m1.medium"}))
    assert v2.apply().summary == {"ok": 10}
    for site in sites:
        owned = sim.owned(site, "fip")
        assert {s.flavor.name for s in owned} == {"m1.medium"}
        assert all(len(_attached(sim, site, s)) == 1 for s in owned)
        assert len(_fips(sim, site)) == 2, site  # none leaked by the replace
    assert sum(len(r.data.changes) for r in v2.plan()) == 0

    destroyed = v2.destroy()
    assert destroyed.summary == {"ok": 10}
    assert {r.data.released_floating_ips for r in destroyed} == {2}
    time.sleep(0.1)
    assert all(sim.owned(s, "fip") == [] and _fips(sim, s) == [] for s in sites)


def test_exhausted_floating_ip_pool_fails_the_site_with_a_clear_reason(sim: Sim,
                                                                       tmp_path: Path):
    fleet = connect(sim, tmp_path, "edge-0011*")
    sites = [s.name for s in fleet.sites]
    full = sites[-1]
    workloads(sim.fleet).limit_floating_ips(full, 1)  # two servers, one address
    try:
        d = fleet.deploy(spec_of("pool", server={"count": 2, "floating_ip": True},
                                 rollout={"max_failures": 1}))
        result = d.apply()
    finally:
        workloads(sim.fleet).heal()
    states = {r.site: r for r in result}
    assert states[full].state == "critical"
    assert "no floating IP for web-" in states[full].reason
    assert "No more IP addresses available" in states[full].reason
    assert all(states[s].state == "ok" for s in sites[:-1])
    with Journal.open(tmp_path) as journal:
        failed = [s for s in journal.steps("deploy:pool", full)
                  if s.action == "floating_ip_create" and s.phase == "failed"]
    assert len(failed) == 1 and "No more IP addresses" in failed[0].error
    # With room in the pool again, the next apply gives the bare server its address.
    plan = {r.site: r for r in d.plan()}
    assert [c.reason for c in plan[full].data.changes] == ["floating IP missing"]
    assert d.apply().summary == {"ok": 10}
    assert all(len(_attached(sim, full, s)) == 1 for s in sim.owned(full, "pool"))
    # Rolling the first version back deletes its servers and releases their addresses.
    rb = d.rollback()
    assert rb.summary == {"ok": 10}, [(r.site, r.reason) for r in rb if r.state != "ok"]
    time.sleep(0.1)
    assert all(sim.owned(s, "pool") == [] and _fips(sim, s) == [] for s in sites)
