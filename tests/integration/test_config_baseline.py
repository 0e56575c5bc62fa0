"""Configuration baselines end to end on 300 simulated sites over real HTTP.

One fleet, in order: apply with 20 sites cut off (deferred and queued), the
cut-off sites seen twice more (offline), brought back and replayed by
``edgeshade sync`` (nothing applied twice), live status all in sync, drift
injected through the API on 10 sites (diff names exactly those fields), a
second apply that fixes only those. The sites are real round trips through
openstacksdk and the simulator's Nova/Neutron APIs.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import edgeshade
from edgeshade.baseline import api
from edgeshade.cli import main
from edgeshade.journal import Journal
from edgeshade.sim import SimFleet, SimServer

pytestmark = pytest.mark.timeout(300)

DATA = Path(__file__).parent / "data"
BASELINE = str(DATA / "fleet_baseline.yaml")
SITES = 300
#: Changes a fresh site needs: quota, flavor, key pair, network, subnet, group (with rules).
FRESH_CHANGES = 6


def write_config(server: SimServer, directory: Path, secrets: dict[str, str] | None = None
                 ) -> str:
    """The sim's clouds.yaml plus per-cloud ``mgmt_cidr`` vars and fleet-wide secrets."""
    clouds, secure = server.write_config(str(directory))
    doc = yaml.safe_load(Path(clouds).read_text())
    for i, cloud in enumerate(doc["clouds"].values()):
        cloud.setdefault("edgeshade", {})["vars"] = {
            "mgmt_cidr": f"10.{i // 250}.{i % 250}.0/24"
        }
    Path(clouds).write_text(yaml.safe_dump(doc))
    if secrets:
        sdoc = yaml.safe_load(Path(secure).read_text())
        sdoc["edgeshade"] = {"secrets": secrets}
        Path(secure).write_text(yaml.safe_dump(sdoc))
    return clouds


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("config300")
    sim = SimFleet(sites=SITES, seed=6)
    with SimServer(sim) as server:
        clouds = write_config(server, tmp / "config")
        state = str(tmp / "state")
        edge = [s for s in sim.sites if s.startswith("edge-")]
        down = edge[3::14][:20]
        yield {"sim": sim, "server": server, "clouds": clouds, "state": state, "down": down}


def fleet(world: dict[str, Any], selector: str = "all") -> edgeshade.Fleet:
    return edgeshade.connect(selector, config_file=world["clouds"], state_dir=world["state"],
                             timeout=20, retries=0)


def steps_by_site(state: str, op: str) -> dict[str, list[Any]]:
    with Journal.open(state) as journal:
        out: dict[str, list[Any]] = collections.defaultdict(list)
        for step in journal.steps(op):
            out[step.site].append(step)
        return out


def test_apply_defers_unreachable_sites(world: dict[str, Any]) -> None:
    sim, down = world["sim"], world["down"]
    for site in down:
        sim.set_faults(site, "refused")
    result = api.apply(fleet(world), BASELINE)
    assert sorted(result.deferred) == sorted(down)
    assert result.summary == {"deferred": 20, "ok": SITES - 20}
    for r in result:
        if r.site not in down:
            assert r.data.applied == FRESH_CHANGES, (r.site, r.reason)
    with Journal.open(world["state"]) as journal:
        queued = journal.pending("config:fleet-test")
    assert sorted(p.site for p in queued) == sorted(down)
    assert {p.version for p in queued} == {"1"}
    # no secret, no rendered values beyond names/hashes in the queue
    assert all(set(p.payload) == {"path", "baseline", "version", "hash", "file_hash"}
               for p in queued)


def test_offline_after_two_failed_contacts_with_cached_view(world: dict[str, Any]) -> None:
    down = world["down"]
    cached = api.status(fleet(world), BASELINE, cached=True)
    for site in down:  # one failed contact so far: unreachable, not offline
        assert cached[site].data.contact == "unreachable"
        assert cached[site].data.pending is True
        assert cached[site].data.status == "behind"
    live = api.status(fleet(world, ",".join(down[:5])), BASELINE)
    for r in live:
        assert r.data.status == "unknown"
        assert r.data.contact == "offline" and r.data.failures == 2
    assert api.status(fleet(world), BASELINE, cached=True)[down[6]].data.contact == "unreachable"
    # replaying while the sites are still down backs off: nothing is due right after
    tried = api.sync(fleet(world))
    assert sorted(r.site for r in tried) == sorted(down)
    assert {r.state for r in tried} == {"unreachable"}
    with Journal.open(world["state"]) as journal:
        queued = journal.pending("config:fleet-test")
        assert {p.attempts for p in queued} == {1}
        assert journal.due("config:fleet-test") == []
    assert len(api.sync(fleet(world))) == 0


def test_sync_replays_deferred_sites_once(world: dict[str, Any], capsys: Any) -> None:
    sim, down, server = world["sim"], world["down"], world["server"]
    for site in down:
        sim.set_faults(site, "")
    server.reset_stats()
    code = main(["--os-config-file", world["clouds"], "--state-dir", world["state"],
                 "-f", "json", "sync", "--force"])  # --force: the backoff has not expired
    out = yaml.safe_load(capsys.readouterr().out)
    assert code == 0
    assert sorted(s["site"] for s in out["sites"]) == sorted(down)
    assert {s["state"] for s in out["sites"]} == {"ok"}
    assert {s["data"]["applied"] for s in out["sites"]} == {FRESH_CHANGES}
    stats = server.stats()
    assert set(stats["by_site"]) <= set(down) | {sim.site(s).cloud for s in down}
    assert "409" not in stats["by_status"]
    with Journal.open(world["state"]) as journal:
        assert journal.pending("config:fleet-test") == []
    # nothing applied twice, anywhere: one done step per change, one 'complete' per site
    for site, steps in steps_by_site(world["state"], "config:fleet-test").items():
        done = [(s.action, s.resource) for s in steps if s.phase == "done"]
        assert len(done) == len(set(done)) == FRESH_CHANGES + 1, site
        assert not [s for s in steps if s.phase != "done"], site
    # a second sync has nothing to do
    assert main(["--os-config-file", world["clouds"], "--state-dir", world["state"],
                 "sync"]) in (0, 3)


def test_status_all_in_sync(world: dict[str, Any]) -> None:
    result = api.status(fleet(world), BASELINE)
    assert collections.Counter(r.data.status for r in result) == {"in_sync": SITES}
    assert {r.data.applied_version for r in result} == {1}


def _drift(conn: Any, site: Any, quota: bool = False) -> dict[str, Any]:
    """What an operator does by hand at a site: drop the HTTPS rule, maybe shrink a quota."""
    net = conn.cloud.network
    group = next(g for g in net.security_groups() if g.name == "edge-base")
    rule = next(r for r in group.security_group_rules if r["port_range_min"] == 443)
    net.delete_security_group_rule(rule["id"])
    if quota:
        conn.cloud.compute.update_quota_set(conn.project_id, cores=10)
    return {}


def test_drift_on_ten_sites_is_named_exactly(world: dict[str, Any]) -> None:
    edge = [s for s in world["sim"].sites if s.startswith("edge-") and s not in world["down"]]
    drifted = edge[5::25][:10]
    quota_too = drifted[:3]
    fleet(world, ",".join(drifted)).run(_drift, record=False)
    fleet(world, ",".join(quota_too)).run(
        lambda conn, site: conn.cloud.compute.update_quota_set(conn.project_id, cores=10)
        and {}, record=False)
    result = api.diff(fleet(world), BASELINE)
    changed = {r.site: [c["text"] for c in r.data.changes] for r in result if r.data.changes}
    assert set(changed) == set(drifted)
    rule = "security_groups/edge-base: rules missing ingress IPv4 tcp 443 from 0.0.0.0/0"
    for site, texts in changed.items():
        expected = [rule]
        if site in quota_too:
            expected.insert(0, "quotas/(login project): compute.cores 10 → 97")
        assert texts == expected, site
    assert result.summary == {"warning": 10, "ok": SITES - 10}

    status = api.status(fleet(world), BASELINE, cached=True)
    assert {r.site for r in status if r.data.status == "drifted"} == set(drifted)
    assert {status[s].data.differences for s in quota_too} == {2}

    before = steps_by_site(world["state"], "config:fleet-test")
    again = api.apply(fleet(world), BASELINE)
    assert again.summary == {"ok": SITES}
    after = steps_by_site(world["state"], "config:fleet-test")
    new = {s: len(after[s]) - len(before.get(s, [])) for s in after}
    assert {s for s, n in new.items() if n} == set(drifted)
    for site in drifted:
        # the rule (and the quota) change, then one 'complete' step
        assert new[site] == (3 if site in quota_too else 2), site
    fixed = api.status(fleet(world, ",".join(drifted)), BASELINE)
    assert collections.Counter(r.data.status for r in fixed) == {"in_sync": 10}


def test_cli_writer_lock_names_the_holder(world: dict[str, Any], capsys: Any) -> None:
    with Journal.open(world["state"]) as journal, journal.lock("config:fleet-test"):
        code = main(["--os-config-file", world["clouds"], "--state-dir", world["state"],
                     "config", "apply", BASELINE])
    err = capsys.readouterr().err
    assert code == 3
    assert f"pid {os.getpid()}" in err and len(err.strip().splitlines()) == 1
