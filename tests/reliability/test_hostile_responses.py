"""Garbage from a site's APIs: the site ends in a documented state with a reason, the
fleet goes on, and another site's result is untouched.

Each API the status task reads (hypervisors, servers in ERROR, limits, Neutron
agents, Cinder services, Glance images) answers with hypothesis-drawn bodies:
random JSON shapes, the right keys with wrong types, non-finite numbers, huge
values, invalid JSON. requests-mock serves them (only here: the transport under
test is still keystoneauth's session). A reason naming a Python exception
(``TypeError: ...``) means edgeshade tripped over the shape itself: a bug.
"""

from __future__ import annotations

import json
import re
import textwrap
from io import StringIO

import pytest
import requests_mock
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import edgeshade
from edgeshade.output import render
from edgeshade.results import State
from edgeshade.tasks.status import status

pytestmark = pytest.mark.timeout(240)

PROJECT = "p" * 32
APIS = {  # check -> (path under the service root, the key the task reads)
    "compute": ("compute/v2.1/os-hypervisors/detail", "hypervisors"),
    "servers": ("compute/v2.1/servers", "servers"),
    "limits": ("compute/v2.1/limits", "limits"),
    "network": ("network/v2.0/agents", "agents"),
    "volume": (f"volume/v3/{PROJECT}/os-services", "services"),
    "image": ("image/v2/images", "images"),
}
GOOD = {
    "compute": {"hypervisors": [{"hypervisor_hostname": "h1", "state": "up", "status": "enabled",
                                 "vcpus": 8, "vcpus_used": 2, "memory_mb": 4096,
                                 "memory_mb_used": 1024}]},
    "servers": {"servers": []},
    "limits": {"limits": {"absolute": {"maxTotalCores": 20, "totalCoresUsed": 2,
                                       "maxTotalRAMSize": -1, "totalRAMUsed": 0}}},
    "network": {"agents": [{"binary": "neutron-dhcp-agent", "host": "h1", "alive": True}]},
    "volume": {"services": [{"binary": "cinder-volume", "host": "h1", "state": "up"}]},
    "image": {"images": [{"id": "i1"}]},
}
#: A reason naming a Python exception: edgeshade did not handle the shape.
BUG = re.compile(r"\b(TypeError|KeyError|AttributeError|ValueError|OverflowError|IndexError|"
                 r"ZeroDivisionError|RecursionError|UnicodeError|JSONDecodeError)\b")
KEYS = ["hypervisor_hostname", "state", "status", "vcpus", "vcpus_used", "memory_mb",
        "memory_mb_used", "name", "id", "alive", "binary", "host", "absolute",
        "maxTotalCores", "totalCoresUsed", "maxTotalRAMSize", "totalRAMUsed",
        "maxTotalInstances", "totalInstancesUsed", "up", "down", ""]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["up", "down", "enabled", "disabled", "x" * 5000]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)),
    max_leaves=15)


def _shaped(key: str):
    """The key the task reads, holding lists of objects with the right keys, wrong values."""
    obj = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)
    inner = st.one_of(st.lists(obj, max_size=4), values,
                      st.fixed_dictionaries({"absolute": obj}))
    return st.dictionaries(st.sampled_from([key, *KEYS[:3]]), inner, min_size=1, max_size=3)


def body(key: str):
    return st.one_of(
        _shaped(key).map(lambda v: json.dumps(v)),  # NaN/Infinity included: Python's json
        values.map(json.dumps),
        st.sampled_from(["", "[", "{", "null", "Infinity", '{"' + key + '": 1e999}',
                         '{"' + key + '": [' + ",".join(["{}"] * 5000) + "]}", "\x00\xff",
                         '{"' + key + '": ' + "[" * 100_000 + "]" * 100_000 + "}"]),
        st.text(max_size=50),
    )


bodies = st.fixed_dictionaries({check: body(key) for check, (_path, key) in APIS.items()})

CLOUDS = textwrap.dedent("""
    clouds:
      {name}:
        auth: {{auth_url: "http://{name}.test/identity", username: admin, project_name: admin,
                user_domain_name: Default, project_domain_name: Default}}
        region_name: RegionOne
""")


def _catalog(host: str) -> list[dict]:
    def entry(kind: str, url: str) -> dict:
        return {"type": kind, "name": kind, "id": kind,
                "endpoints": [{"interface": "public", "region": "RegionOne",
                               "region_id": "RegionOne", "url": url, "id": kind}]}

    base = f"http://{host}"
    return [entry("identity", f"{base}/identity"), entry("compute", f"{base}/compute/v2.1"),
            entry("network", f"{base}/network"),
            entry("block-storage", f"{base}/volume/v3/{PROJECT}"),
            entry("image", f"{base}/image")]


def _register(mock: requests_mock.Mocker, host: str, answers: dict[str, str]) -> None:
    base = f"http://{host}"
    mock.get(f"{base}/identity", status_code=300, json={"versions": {"values": [{
        "id": "v3.14", "status": "stable", "links": [{"rel": "self",
                                                      "href": f"{base}/identity/v3/"}]}]}})
    mock.post(f"{base}/identity/v3/auth/tokens", status_code=201,
              headers={"X-Subject-Token": "tok-" + host},
              json={"token": {"methods": ["password"], "expires_at": "2099-01-01T00:00:00Z",
                              "user": {"id": "u", "name": "admin",
                                       "domain": {"id": "default", "name": "Default"}},
                              "project": {"id": PROJECT, "name": "admin",
                                          "domain": {"id": "default", "name": "Default"}},
                              "catalog": _catalog(host)}})
    for check, (path, _key) in APIS.items():
        mock.get(re.compile(re.escape(f"{base}/{path}") + r"(\?.*)?$"),
                 text=answers[check], headers={"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("responses")
    clouds = tmp / "clouds.yaml"
    clouds.write_text(CLOUDS.format(name="fuzz") + CLOUDS.format(name="good").split("\n", 2)[2])
    secure = tmp / "secure.yaml"
    secure.write_text("clouds: {fuzz: {auth: {password: pw1}}, good: {auth: {password: pw2}}}\n")
    secure.chmod(0o600)
    return str(clouds)


def _run(config: str, answers: dict[str, str]):
    with requests_mock.Mocker() as mock:
        _register(mock, "fuzz.test", answers)
        _register(mock, "good.test", {c: json.dumps(b) for c, b in GOOD.items()})
        return edgeshade.connect("all", config_file=config, timeout=5, use_state=False,
                                 retries=0).run(status)


@pytest.fixture(scope="module")
def reference(config):
    result = _run(config, {c: json.dumps(b) for c, b in GOOD.items()})
    assert [r.state for r in result] == ["ok", "ok"], [(r.state, r.reason) for r in result]
    return result["good"]


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(bodies)
@example({**{c: json.dumps(b) for c, b in GOOD.items()},
          "compute": '{"hypervisors": [{"state": "up"}, {"state": "down", '
                     '"hypervisor_hostname": 5}]}'})
@example({**{c: json.dumps(b) for c, b in GOOD.items()},
          "compute": '{"hypervisors": [{"state": "up", "vcpus": NaN, "memory_mb": Infinity}]}',
          "limits": '{"limits": {"absolute": {"maxTotalCores": 1e999, "totalCoresUsed": NaN}}}'})
@example({**{c: json.dumps(b) for c, b in GOOD.items()},
          "limits": '{"limits": {"absolute": {"maxTotalCores": 1e-320, "totalCoresUsed": 1e308}}}',
          "servers": '{"servers": [{"name": {"a": 1}}, {"id": [1]}]}'})
def test_garbage_answers_end_in_a_state_with_a_reason(config, reference, answers) -> None:
    result = _run(config, answers)
    fuzz, good = result["fuzz"], result["good"]
    event(f"site {fuzz.state}")
    for name, check in (fuzz.data.get("checks") or {}).items():
        event(f"{name} {check['state']}")
    assert fuzz.state in set(State)
    if fuzz.state != State.OK:
        assert fuzz.reason and "\n" not in fuzz.reason
    for name, check in (fuzz.data.get("checks") or {}).items():
        assert not BUG.search(check["reason"]), (name, check["reason"], answers[name][:200])
    assert not BUG.search(fuzz.reason), fuzz.reason
    # the other site of the same run is unaffected
    assert (good.state, good.reason, good.data.get("compute")) == (
        reference.state, reference.reason, reference.data.get("compute"))
    # and every output format still renders (strict JSON: no NaN/Infinity)
    for fmt in ("json", "yaml", "table"):
        out = StringIO()
        render(result, fmt, columns=status.columns, stream=out)
        if fmt == "json":
            json.loads(out.getvalue(), parse_constant=lambda c: pytest.fail(f"JSON has {c}"))
