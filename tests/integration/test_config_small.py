"""Baselines on a small mixed fleet (multi-region core clouds + edge clouds): the full
example baseline, secrets, dry run, prune, bad baselines and configuration bundles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import edgeshade
from edgeshade.baseline import api, bundle
from edgeshade.cli import main
from edgeshade.journal import Journal
from edgeshade.sim import SimFleet, SimServer
from edgeshade.sim.config_state import identity_state, site_state

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = str(REPO / "examples" / "baseline.yaml")
SECRET = "agent-s3cret-value-9f2"


def _write_config(server: SimServer, directory: Path) -> str:
    clouds, secure = server.write_config(str(directory))
    doc = yaml.safe_load(Path(clouds).read_text())
    for i, cloud in enumerate(doc["clouds"].values()):
        cloud.setdefault("edgeshade", {})["vars"] = {"mgmt_cidr": f"10.9.{i}.0/24",
                                                     "agent_port": 8000 + i}
    Path(clouds).write_text(yaml.safe_dump(doc))
    sdoc = yaml.safe_load(Path(secure).read_text())
    sdoc["edgeshade"] = {"secrets": {"agent_password": SECRET}}
    Path(secure).write_text(yaml.safe_dump(sdoc))
    return clouds


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("config12")
    sim = SimFleet(sites=12, seed=9)
    with SimServer(sim) as server:
        clouds = _write_config(server, tmp / "config")
        yield {"sim": sim, "server": server, "clouds": clouds, "state": str(tmp / "state"),
               "tmp": tmp}


def _fleet(small: dict[str, Any], selector: str = "all") -> edgeshade.Fleet:
    return edgeshade.connect(selector, config_file=small["clouds"], state_dir=small["state"],
                             timeout=30)


def _cli(small: dict[str, Any], *args: str) -> int:
    return main(["--os-config-file", small["clouds"], "--state-dir", small["state"], *args])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("resources:\n  flavors:\n    - {name: '{{ site.name ', vcpus: 1, ram: 1, disk: 1}\n",
         "bad.yaml:3: Jinja syntax error"),
        ("resources:\n  flavours: []\n", "bad.yaml:2: unknown resource type 'flavours'"),
        ("resources:\n  subnets:\n    - {name: s, network: n, cidr: '{{ site.vars.nope }}'}\n",
         "bad.yaml:3: site 'core-a/RegionOne': undefined site value 'site.vars.nope'"),
    ],
)
def test_bad_baseline_is_one_line_and_contacts_nobody(small: dict[str, Any], capsys: Any,
                                                      text: str, message: str) -> None:
    bad = small["tmp"] / "bad.yaml"
    bad.write_text(text)
    small["server"].reset_stats()
    code = _cli(small, "config", "apply", str(bad))
    err = capsys.readouterr().err.strip()
    assert code == 3
    assert len(err.splitlines()) == 1 and message in err, err
    assert small["server"].stats()["total"] == 0


def test_dry_run_plans_and_changes_nothing(small: dict[str, Any], capsys: Any) -> None:
    small["server"].reset_stats()
    assert _cli(small, "-f", "json", "config", "apply", "--dry-run", EXAMPLE) == 0
    out = json.loads(capsys.readouterr().out)
    methods = {k.split()[0] for k in small["server"].stats()["by_kind"]}
    assert methods <= {"GET", "POST"}  # POST: token requests only
    assert small["server"].stats()["by_kind"].get("POST identity /v3/auth/tokens")
    assert all(s["data"]["changed"] for s in out["sites"])
    owner = next(s for s in out["sites"] if s["site"] == "core-a/RegionOne")
    other = next(s for s in out["sites"] if s["site"] == "core-a/RegionTwo")
    assert "users/edge-agent: missing" in [c["text"] for c in owner["data"]["changes"]]
    assert not [c for c in other["data"]["changes"] if c["type"] == "users"]
    # the plan names the secret, never its value, in every format
    assert _cli(small, "-f", "yaml", "-C", "edge-00001", "config", "apply", "--dry-run",
                EXAMPLE) == 0
    text = capsys.readouterr().out
    assert "secret('agent_password')" in text and SECRET not in text
    assert yaml.safe_load(text)["sites"][0]["data"]["changed"] is True


def test_example_baseline_converges_mixed_fleet(small: dict[str, Any], capsys: Any) -> None:
    # one site with every HTTP exchange logged: the user's password is sent, never shown
    assert _cli(small, "--http-debug", "-C", "edge-00001", "config", "apply", EXAMPLE) == 0
    logged = capsys.readouterr()
    assert "POST" in logged.err and "/v3/users" in logged.err
    assert SECRET not in logged.err and SECRET not in logged.out
    assert _cli(small, "-f", "json", "config", "apply", EXAMPLE) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    result = json.loads(out)
    assert {s["state"] for s in result["sites"]} == {"ok"}
    # every region of a cloud shares one Keystone: the user exists once, with the secret
    ks = identity_state(small["sim"], "core-a")
    assert [u["name"] for u in ks.users.values()].count("edge-agent") == 1
    import hashlib

    agent = next(u for u in ks.users.values() if u["name"] == "edge-agent")
    assert ks.passwords[agent["id"]] == hashlib.sha256(SECRET.encode()).hexdigest()
    assert agent["email"] == "agent+core-a/RegionOne@example.com"
    # the secret is nowhere on disk: state.db (journal, pending, versions), WAL
    for path in Path(small["state"]).rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert _cli(small, "config", "status", EXAMPLE) == 0
    assert "12 sites: 12 ok" in capsys.readouterr().out
    again = api.apply(_fleet(small), EXAMPLE)
    assert {r.data.applied for r in again} == {0}


def test_unreachable_site_keeps_last_known_status_with_age(small: dict[str, Any]) -> None:
    site = "edge-00005"
    assert api.apply(_fleet(small, site), EXAMPLE)[site].state == "ok"  # known in sync
    small["sim"].set_faults(site, "refused")
    try:
        first = api.status(_fleet(small, site), EXAMPLE)[site]
        second = api.status(_fleet(small, site), EXAMPLE)[site]
    finally:
        small["sim"].set_faults(site, "")
    assert first.state == "unreachable" and first.data.status == "unknown"
    assert first.data.contact == "unreachable" and second.data.contact == "offline"
    assert second.data.last_known == "in_sync"
    assert second.data.age.endswith("s") or second.data.age.endswith("m")
    assert api.status(_fleet(small, site), EXAMPLE)[site].data.contact == "online"


def test_prune_deletes_extras_only_when_asked(small: dict[str, Any], capsys: Any) -> None:
    site = "edge-00003"
    _fleet(small, site).run(
        lambda conn, s: {"id": conn.cloud.compute.create_flavor(
            name="stray", vcpus=1, ram=512, disk=1).id}, record=False)
    plain = small["tmp"] / "plain.yaml"
    plain.write_text("name: prune-test\nresources:\n  flavors:\n"
                     "    - {name: m1.tiny, vcpus: 1, ram: 512, disk: 1}\n")  # seeded everywhere
    assert api.diff(_fleet(small, site), str(plain))[site].data.differences == 0
    pruning = small["tmp"] / "prune.yaml"
    pruning.write_text(plain.read_text().replace("name: prune-test",
                                                 "name: prune-test\nprune: true"))
    assert _cli(small, "-C", site, "config", "diff", str(plain)) == 0  # in sync: exit 0
    assert _cli(small, "-C", site, "config", "diff", str(pruning)) == 1  # differences: exit 1
    texts = [c["text"] for c in api.diff(_fleet(small, site), str(pruning))[site].data.changes]
    assert "flavors/stray: extra (prune)" in texts
    assert "flavors/m1.small: extra (prune)" in texts  # prune means every unlisted flavor
    api.apply(_fleet(small, site), str(pruning))
    names = {f.name for f in small["sim"].contents(site).flavors}
    assert names == {"m1.tiny"}


def test_bundle_push_sends_nothing_when_unchanged(small: dict[str, Any], capsys: Any) -> None:
    template = small["tmp"] / "agent.conf.j2"
    template.write_text("[agent]\nsite = {{ site.name }}\nport = {{ site.vars.agent_port }}\n"
                        "password = {{ secret('agent_password') }}\n")
    server = small["server"]
    server.reset_stats()
    first = bundle.push(_fleet(small), str(template))
    assert {r.data.uploaded for r in first} == {1}
    sent = server.stats()["object_bytes_in"]
    assert sent == sum(r.data.bytes_sent for r in first) > 0
    obj = small["sim"]  # the site's object holds its own rendering
    data = site_state(obj, "edge-00002").objects["edgeshade-config"]["agent.conf"]["data"]
    assert b"site = edge-00002\n" in data and SECRET.encode() in data

    server.reset_stats()
    assert _cli(small, "-f", "json", "config", "push", str(template)) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    second = json.loads(out)
    assert {s["data"]["unchanged"] for s in second["sites"]} == {1}
    assert server.stats()["object_bytes_in"] == 0
    assert not [k for k in server.stats()["by_kind"] if k.startswith("PUT")]

    doc = yaml.safe_load(Path(small["clouds"]).read_text())
    doc["clouds"]["edge-00004"]["edgeshade"]["vars"]["agent_port"] = 9999
    Path(small["clouds"]).write_text(yaml.safe_dump(doc))
    third = bundle.push(_fleet(small), str(template))
    assert [r.site for r in third if r.data.uploaded] == ["edge-00004"]


def test_offline_site_gets_the_newest_version_only(small: dict[str, Any]) -> None:
    site = "edge-00006"
    path = small["tmp"] / "versions.yaml"
    path.write_text("name: versions\nresources:\n  keypairs:\n"
                    "    - {name: v, public_key: 'ssh-ed25519 AAAA one'}\n")
    small["sim"].set_faults(site, "refused")
    try:
        first = api.apply(_fleet(small, site), str(path))
        assert first[site].state == "deferred" and first[site].data == {}
        path.write_text(path.read_text().replace("one", "two"))
        second = api.apply(_fleet(small, site), str(path))
        assert second[site].state == "deferred"
    finally:
        small["sim"].set_faults(site, "")
    with Journal.open(small["state"]) as journal:
        assert [(p.site, p.version) for p in journal.pending("config:versions")] == [(site, "2")]
        # a crash left a step open: the next run closes it (and re-reads the site)
        journal.begin("config:versions", site, "create keypairs", resource="keypairs/v",
                      version="2")
    replay = api.sync(_fleet(small, site), force=True)
    assert replay[site].state == "ok" and replay[site].data.version == 2
    keys = site_state(small["sim"], site).keypairs
    assert keys["v"]["public_key"] == "ssh-ed25519 AAAA two"
    with Journal.open(small["state"]) as journal:
        assert journal.open_steps("config:versions") == []
        done = [s for s in journal.steps("config:versions", site) if s.phase == "done"]
        assert [(s.action, s.version) for s in done] == [("create keypairs", "2"),
                                                         ("complete", "2")]
        assert journal.pending("config:versions") == []

