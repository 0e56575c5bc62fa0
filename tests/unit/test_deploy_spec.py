"""Deployment specs: validation errors (one line, file and field) and per-site rendering."""

from __future__ import annotations

import pytest

from edgeshade.config import Site
from edgeshade.deploy.spec import Spec, render_site
from edgeshade.errors import ConfigError

BASE = {
    "deployment": "web",
    "servers": [{"name": "web-{{ site.name }}", "image": "img", "flavor": "m1.small"}],
}


def spec(**over):
    data = {**BASE, **over}
    return Spec.from_mapping(data, "web.yaml")


def test_minimal_spec_defaults():
    s = spec()
    assert s.op == "deploy:web"
    assert s.sites == ("all",)
    assert s.servers[0].count == 1
    assert s.servers[0].kind_of("image") == "rebuild"
    assert s.servers[0].kind_of("flavor") == "replace"
    assert len(s.version) == 8  # a digest when no version is given
    assert spec().version == s.version
    changed = spec(servers=[{**BASE["servers"][0], "image": "other"}])
    assert changed.version != s.version


@pytest.mark.parametrize("data, message", [
    ({"servers": [{"name": "a", "image": "i", "flavor": "f", "imagee": "x"}]},
     "web.yaml: servers[0].imagee: unknown key"),
    ({"servers": [{"name": "a", "flavor": "f"}]},
     "web.yaml: servers[0]: missing required field 'image'"),
    ({"rollout": {"batch": "lots"}}, "web.yaml: rollout.batch: expected a count"),
    ({"rollout": {"batch": [1, "150%"]}}, "web.yaml: rollout.batch[1]"),
    ({"rollout": {"max_failures": -1}}, "web.yaml: rollout.max_failures"),
    ({"colour": 1}, "web.yaml: colour: unknown key"),
    ({"deployment": "a b"}, "web.yaml: deployment: expected a name"),
    ({"servers": [], "stacks": []}, "web.yaml: nothing to deploy"),
    ({"servers": [{"name": "a", "image": "i", "flavor": "f", "count": -1}]},
     "servers[0].count: expected a count"),
    ({"servers": [{"name": "a", "image": "i", "flavor": "f", "metadata": {"edgeshade.x": "1"}}]},
     "reserved"),
    ({"servers": [{"name": "a", "image": "i", "flavor": "f", "on_change": {"flavor": "rebuild"}}]},
     "servers[0].on_change.flavor: a flavor change needs 'replace'"),
    ({"servers": [{"name": "a {{ site.name", "image": "i", "flavor": "f"}]},
     "servers[0].name: template error"),
    ({"servers": [{"name": "a", "image": "i", "flavor": "f", "floating_ip": "yes"}]},
     "servers[0].floating_ip: expected true or false"),
    ({"servers": [{"name": "a", "image": "i", "flavor": "f", "floating_network": "public"}]},
     "servers[0].floating_network: needs 'floating_ip: true'"),
    ({"stacks": [{"name": "s", "template": "missing.yaml"}]}, "stacks[0].template: cannot read"),
    ({"health": {"status_checks": "bogus"}}, "health.status_checks"),
    ({"timeout": "soon"}, "timeout: expected seconds"),
])
def test_bad_specs_are_one_line_errors_naming_file_and_field(data, message):
    with pytest.raises(ConfigError) as err:
        spec(**data)
    text = str(err.value)
    assert message in text
    assert text.startswith("web.yaml")
    assert "\n" not in text


def test_stack_parameters_must_be_declared(tmp_path):
    template = tmp_path / "t.yaml"
    template.write_text("heat_template_version: 2021-04-16\nparameters:\n  ntp: {type: string}\n")
    path = tmp_path / "s.yaml"
    good = {"deployment": "m", "stacks": [{"name": "m", "template": "t.yaml",
                                           "parameters": {"ntp": "{{ site.vars.ntp }}"}}]}
    s = Spec.from_mapping(good, str(path))
    assert s.stacks[0].template["heat_template_version"] == "2021-04-16"  # a string, as Heat
    bad = {"deployment": "m", "stacks": [{"name": "m", "template": "t.yaml",
                                          "parameters": {"nope": 1}}]}
    with pytest.raises(ConfigError, match=r"stacks\[0\]\.parameters\.nope: not a parameter"):
        Spec.from_mapping(bad, str(path))


def test_render_site_values_index_and_defaults():
    s = spec(vars={"role": "pos", "ntp": "10.0.0.1"}, servers=[{
        "name": "pos-{{ site.name }}", "count": 2, "image": "img-{{ site.region }}",
        "flavor": "m1.small", "metadata": {"role": "{{ site.vars.role }}"},
        "user_data": "ntp={{ site.vars.ntp }}"}])
    site = Site("edge-1", "RegionOne", "edge-1", ("pilot",), {"ntp": "10.9.9.9"})
    wanted = render_site(s, site)
    assert [w.name for w in wanted.servers] == ["pos-edge-1-1", "pos-edge-1-2"]
    assert wanted.servers[0].image == "img-RegionOne"
    assert wanted.servers[0].metadata == {"role": "pos"}
    assert wanted.servers[0].user_data == "ntp=10.9.9.9"  # the site's own vars win


def test_render_errors_name_the_field_and_site():
    s = spec(servers=[{"name": "web-{{ site.vars.nope }}", "image": "i", "flavor": "f"}])
    with pytest.raises(ConfigError, match=r"servers\[0\]\.name: at site edge-1: .*nope"):
        render_site(s, Site("edge-1", "RegionOne", "edge-1"))


def test_rendering_is_sandboxed():
    s = spec(servers=[{"name": "{{ site.__class__.__mro__ }}", "image": "i", "flavor": "f"}])
    with pytest.raises(ConfigError, match="at site edge-1"):
        render_site(s, Site("edge-1", "RegionOne", "edge-1"))


def test_duplicate_names_at_a_site_are_an_error():
    s = spec(servers=[{"name": "web", "image": "i", "flavor": "f"},
                      {"name": "web2", "image": "i", "flavor": "f"}])
    render_site(s, Site("e", "R", "e"))
    dup = Spec.from_mapping({"deployment": "w", "servers": [
        {"name": "{{ site.cloud }}", "image": "i", "flavor": "f"},
        {"name": "{{ site.name }}", "image": "i", "flavor": "f"}]}, "w.yaml")
    with pytest.raises(ConfigError, match="two servers at e are named 'e'"):
        render_site(dup, Site("e", "R", "e"))
