"""Render once: shared values rendered a single time, site fields per site; hashes; errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from jinja2.nativetypes import NativeEnvironment

from edgeshade.baseline import store as config_store
from edgeshade.config import Site
from edgeshade.errors import ConfigError
from edgeshade.render import Baseline, BaselineError, SecretRef
from edgeshade.state import StateStore

BASELINE = """\
name: unit
vars:
  dns: [10.0.0.2, 10.0.0.3]
  env: prod
  admin: 192.0.2.0/24
resources:
  flavors:
    - {name: "e1.{{ env }}", vcpus: 2, ram: 2048, disk: 20}
  networks:
    - name: "{{ site.name }}-net"
      mtu: "{{ site.vars.mtu | default(1450) }}"
  subnets:
    - name: mgmt
      network: "{{ site.name }}-net"
      cidr: "{{ site.vars.cidr }}"
      dns_nameservers: "{{ dns }}"
  security_groups:
    - name: base
      rules:
        - {protocol: tcp, port: 22, remote_ip_prefix: "{{ admin }}"}
  users:
    - name: agent
      password: "{{ secret('agent_pw') }}"
"""
SHARED_TEMPLATES = 3  # e1.{{ env }}, {{ dns }}, {{ admin }}
SITE_FIELDS = 5  # network name, mtu, subnet network, cidr, password


def write(tmp_path: Path, text: str, name: str = "baseline.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def sites(n: int) -> list[Site]:
    return [Site(f"edge-{i:05d}", "RegionOne", f"edge-{i:05d}",
                 vars={"cidr": f"10.{i // 250}.{i % 250}.0/24", **({"mtu": 1400} if i % 2 else {})})
            for i in range(n)]


def test_shared_part_renders_once_site_fields_per_site(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = NativeEnvironment.concat

    def counting(values):  # every evaluation of a native template ends here, exactly once
        calls["n"] += 1
        return original(values)

    monkeypatch.setattr(NativeEnvironment, "concat", staticmethod(counting))
    base = Baseline.load(write(tmp_path, BASELINE))
    assert calls["n"] == SHARED_TEMPLATES
    assert base.stats["shared_renders"] == SHARED_TEMPLATES
    fleet = sites(300)
    rendered = base.render(fleet, lambda site: ["agent_pw"])
    assert calls["n"] == SHARED_TEMPLATES + 300 * SITE_FIELDS
    assert base.stats == {"shared_renders": SHARED_TEMPLATES, "site_renders": 300 * SITE_FIELDS,
                          "sites": 300}
    assert len(rendered) == 300


def test_render_once_equals_full_render_per_site(tmp_path: Path) -> None:
    base = Baseline.load(write(tmp_path, BASELINE))
    for site in sites(7):
        once = base.render_site(site, ["agent_pw"]).resources
        assert once == base.render_naive(site)
        assert once["subnets"][0]["cidr"] == site.vars["cidr"]
        assert once["networks"][0]["mtu"] == site.vars.get("mtu", 1450)  # native int
        assert once["subnets"][0]["dns_nameservers"] == ["10.0.0.2", "10.0.0.3"]
        assert once["users"][0]["password"] == SecretRef("agent_pw")


def test_hashes_follow_content_not_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, BASELINE)
    a, b = Baseline.load(path), Baseline.load(path)
    s0, s1 = sites(2)
    assert a.render_site(s0, ["agent_pw"]).hash == b.render_site(s0, ["agent_pw"]).hash
    assert a.render_site(s0, ["agent_pw"]).hash != a.render_site(s1, ["agent_pw"]).hash
    same_values = Site("edge-00000", "RegionOne", "edge-00000", vars=dict(s0.vars))
    assert a.render_site(same_values, ["agent_pw", "other"]).hash == \
        a.render_site(s0, ["agent_pw"]).hash
    changed = Path(path).read_text().replace("env: prod", "env: test")
    c = Baseline(path, changed)
    assert c.file_hash != a.file_hash
    assert c.render_site(s0, ["agent_pw"]).hash != a.render_site(s0, ["agent_pw"]).hash


def test_versions_only_go_up(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state") as store:
        assert config_store.register(store, "unit", "h1") == 1
        assert config_store.register(store, "unit", "h1") == 1
        assert config_store.register(store, "unit", "h2") == 2
        assert config_store.register(store, "unit", "h1") == 3  # a revert is a new version
        assert config_store.register(store, "other", "h1") == 1
        assert [v.version for v in config_store.versions(store, "unit")] == [1, 2, 3]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("resources:\n  flavors:\n    - name: x\n      vcpus: 1\n      ram: 1\n"
         "      disk: '{{ site.vars.x | bad( }}'\n",
         ":6: Jinja syntax error: unexpected"),
        ("resources:\n  flavours:\n    - {name: x}\n", ":3: unknown resource type 'flavours'"),
        ("resources:\n  flavors:\n    - {name: x, vcpus: 1, ram: 1, disk: 1, color: red}\n",
         ":3: resources.flavors[0]: unknown field 'color'"),
        ("resources:\n  keypairs:\n    - {name: x}\n",
         ":3: resources.keypairs[0]: missing field 'public_key'"),
        ("resources:\n  networks:\n    - {name: '{{ region }}'}\n",
         ":3: undefined variable 'region'"),
        ("resources:\n  networks:\n    - {name: '{{ site.zone }}'}\n",
         ":3: unknown site value 'site.zone'"),
        ("resources:\n  networks:\n    - {name: {{ site.name }}}\n", ":3: a key that is not a"),
        ("resources:\n  networks: [\n", ": YAML syntax error"),
        ("colour: blue\nresources: {}\n", "unknown top-level key 'colour'"),
    ],
)
def test_bad_baselines_are_one_line_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        Baseline.load(path)
    message = str(err.value)
    assert message.startswith(path) and expected in message
    assert "\n" not in message


def test_missing_site_var_names_site_and_var(tmp_path: Path) -> None:
    base = Baseline.load(write(tmp_path, BASELINE))
    bare = Site("edge-bare", "RegionOne", "edge-bare")
    with pytest.raises(BaselineError) as err:
        base.render(sites(3) + [bare], lambda s: ["agent_pw"])
    message = str(err.value)
    assert ":15: site 'edge-bare': undefined site value 'site.vars.cidr'" in message
    assert "\n" not in message


def test_missing_secret_is_named_never_valued(tmp_path: Path) -> None:
    base = Baseline.load(write(tmp_path, BASELINE))
    with pytest.raises(BaselineError) as err:
        base.render_site(sites(1)[0], ["something-else"])
    assert ":23: site 'edge-00000': secret 'agent_pw' is not defined in secure.yaml" in str(
        err.value)


def test_secret_inside_a_string_is_refused(tmp_path: Path) -> None:
    base = Baseline.load(write(tmp_path, """\
        resources:
          users:
            - {name: a, password: "pre-{{ secret('pw') }}"}
        """))
    with pytest.raises(ConfigError, match="whole value"):
        base.render_site(sites(1)[0], ["pw"])
