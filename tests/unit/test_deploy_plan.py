"""Plans: owned servers and stacks against the wanted ones, change kinds and reasons."""

from __future__ import annotations

from edgeshade.config import Site
from edgeshade.deploy.plan import Observed, diff, server_metadata, stack_tags
from edgeshade.deploy.spec import Spec, render_site

SITE = Site("edge-1", "RegionOne", "edge-1")
IMAGES = {"id-a": "img-a", "id-b": "img-b"}


def make_spec(**server):
    base = {"name": "web", "count": 1, "image": "img-a", "flavor": "m1.small",
            "networks": ["private"], "metadata": {"role": "web"}}
    base.update(server)
    return Spec.from_mapping({"deployment": "web", "version": "1", "servers": [base]}, "w.yaml")


def server(spec, wanted, *, sid="s1", image="id-a", flavor="m1.small", status="ACTIVE",
           created="2026-01-01T00:00:00Z", **meta):
    metadata = server_metadata(spec, wanted)
    metadata.update(meta)
    return {"id": sid, "name": wanted.name, "status": status, "image": {"id": image},
            "flavor": {"original_name": flavor}, "addresses": {"private": []},
            "metadata": metadata, "created": created}


def observed(servers, stacks=()):
    return Observed(servers=list(servers), stacks=list(stacks), images=IMAGES,
                    image_ids={v: k for k, v in IMAGES.items()},
                    flavors={"m1.small": "2", "m1.large": "4"}, networks={"private": "n1"})


def plan(spec, servers, stacks=()):
    wanted = render_site(spec, SITE)
    return diff(spec, wanted, observed(servers, stacks))


def test_missing_is_create_and_identical_is_unchanged():
    spec = make_spec()
    (ch,) = plan(spec, [])
    assert (ch.action, ch.name) == ("create", "web")
    w = render_site(spec, SITE).servers[0]
    (ch,) = plan(spec, [server(spec, w)])
    assert ch.action == "unchanged" and ch.id == "s1"


def test_change_kinds_and_reasons():
    old = make_spec()
    w = render_site(old, SITE).servers[0]
    current = server(old, w)
    (ch,) = plan(make_spec(image="img-b"), [current])
    assert (ch.action, ch.kind) == ("change", "rebuild")
    assert ch.reason == "image img-a -> img-b"
    (ch,) = plan(make_spec(image="img-b", on_change={"image": "replace"}), [current])
    assert ch.kind == "replace"
    (ch,) = plan(make_spec(metadata={"role": "api"}), [current])
    assert (ch.kind, ch.reason) == ("in_place", "metadata role")
    (ch,) = plan(make_spec(user_data="#cloud-config"), [current])
    assert (ch.kind, ch.reason) == ("in_place", "user_data changed")
    (ch,) = plan(make_spec(flavor="m1.large", metadata={"role": "api"}), [current])
    assert ch.kind == "replace"  # the strongest kind wins
    assert "flavor m1.small -> m1.large" in ch.reason and "metadata role" in ch.reason


def test_a_version_bump_alone_touches_nothing():
    old = make_spec()
    w = render_site(old, SITE).servers[0]
    bumped = Spec.from_mapping({**old.raw, "version": "2"}, "w.yaml")
    (ch,) = plan(bumped, [server(old, w)])
    assert ch.action == "unchanged"


def test_error_servers_are_replaced_and_duplicates_deleted():
    spec = make_spec()
    w = render_site(spec, SITE).servers[0]
    (ch,) = plan(spec, [server(spec, w, status="ERROR")])
    assert (ch.action, ch.kind) == ("change", "replace") and "ERROR" in ch.reason
    # An interrupted replace left the old server (old image) and the new one (right image).
    old = server(spec, w, sid="old", image="id-b", created="2026-01-01T00:00:00Z")
    new = server(spec, w, sid="new", created="2026-01-02T00:00:00Z")
    changes = plan(spec, [old, new])
    assert sorted((c.action, c.id) for c in changes) == [("delete", "old"), ("unchanged", "new")]


def test_owned_servers_no_longer_wanted_are_deleted():
    spec = make_spec(count=3)
    ws = render_site(spec, SITE).servers
    current = [server(spec, w, sid=f"s{i}") for i, w in enumerate(ws)]
    smaller = Spec.from_mapping({**spec.raw, "servers": [{**spec.raw["servers"][0],
                                                         "count": 1}]}, "w.yaml")
    changes = plan(smaller, current)
    # count 1 drops the -N suffix: "web" is new, web-1..3 go
    assert sorted((c.action, c.name) for c in changes) == [
        ("create", "web"), ("delete", "web-1"), ("delete", "web-2"), ("delete", "web-3")]


def test_stacks_update_on_digest_or_failure(tmp_path):
    (tmp_path / "t.yaml").write_text(
        "heat_template_version: 2021-04-16\nparameters:\n  ntp: {type: string}\n")
    spec = Spec.from_mapping({"deployment": "m", "version": "1", "stacks": [
        {"name": "mon", "template": "t.yaml", "parameters": {"ntp": "a"}}]},
        str(tmp_path / "s.yaml"))
    wanted = render_site(spec, SITE)
    ok = {"id": "k", "stack_name": "mon", "stack_status": "CREATE_COMPLETE",
          "tags": stack_tags(spec, wanted.stacks[0])}
    (ch,) = diff(spec, wanted, observed([], [ok]))
    assert ch.action == "unchanged"
    (ch,) = diff(spec, wanted, observed([], [{**ok, "stack_status": "UPDATE_FAILED"}]))
    assert (ch.action, ch.kind, ch.reason) == ("change", "update", "stack UPDATE_FAILED")
    (ch,) = diff(spec, wanted, observed([], [{**ok, "tags": ["edgeshade.digest=old"]}]))
    assert ch.reason == "template or parameters changed"
    changes = diff(spec, wanted, observed([], [ok, {**ok, "id": "x", "stack_name": "gone"}]))
    assert sorted((c.action, c.name) for c in changes) == [("delete", "gone"),
                                                           ("unchanged", "mon")]


def _with_ip(srv, ip):
    srv["addresses"] = {"private": [{"addr": ip, "OS-EXT-IPS:type": "fixed"}]}
    return srv


def test_floating_ip_missing_is_in_place_and_detached_ones_are_released():
    spec = make_spec(floating_ip=True)
    w = render_site(spec, SITE).servers[0]
    current = _with_ip(server(spec, w), "192.168.100.5")
    mine = {"id": "f1", "floating_ip_address": "172.24.4.10", "port_id": "p1",
            "fixed_ip_address": "192.168.100.5", "description": "edgeshade.deployment=web"}
    obs = observed([current])
    obs.external, obs.owner = {"public": "ext"}, "edgeshade.deployment=web"
    (ch,) = diff(spec, render_site(spec, SITE), obs)
    assert (ch.action, ch.kind, ch.reason) == ("change", "in_place", "floating IP missing")
    obs.floating_ips = [mine]
    (ch,) = diff(spec, render_site(spec, SITE), obs)
    assert ch.action == "unchanged"  # attached: nothing to do
    # Its server gone, the address stays allocated (Neutron): the plan releases it.
    obs.floating_ips = [dict(mine, port_id=None, fixed_ip_address=None),
                        {"id": "f2", "floating_ip_address": "172.24.4.11", "port_id": None,
                         "description": "someone else"}]
    changes = diff(spec, render_site(spec, SITE), obs)
    assert [(c.action, c.type, c.id) for c in changes if c.type == "floating_ip"] == [
        ("delete", "floating_ip", "f1")]  # never another owner's
    # No longer wanted: released in place; servers without floating IPs keep their digest.
    plain = make_spec()
    obs.floating_ips = [mine]
    (ch,) = diff(plain, render_site(plain, SITE), obs)
    assert (ch.kind, ch.reason) == ("in_place", "floating IP no longer wanted")
    assert "fip" not in server_metadata(plain, render_site(plain, SITE).servers[0])[
        "edgeshade.digest"]
