"""Exact request shapes of the status task, openstacksdk-style: register URIs, assert calls."""

from __future__ import annotations

import textwrap

import pytest

import edgeshade
from edgeshade.config import FleetConfig

AUTH = "http://fake.example:5000"
COMPUTE = "http://fake.example:8774/v2.1"
NETWORK = "http://fake.example:9696"
IMAGE = "http://fake.example:9292"
VOLUME = "http://fake.example:8776/v3/p1"


def catalog(with_volume: bool) -> list[dict]:
    entries = [("compute", COMPUTE), ("network", NETWORK), ("image", IMAGE)]
    if with_volume:
        entries.append(("block-storage", VOLUME))
    return [
        {"type": t, "name": t, "id": t,
         "endpoints": [{"interface": "public", "region": "R1", "region_id": "R1", "url": u,
                        "id": t + "-e"}]}
        for t, u in entries
    ]


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "clouds.yaml"
    path.write_text(textwrap.dedent(f"""
        clouds:
          x:
            auth: {{auth_url: {AUTH}, username: u, password: p, project_name: p,
                    user_domain_name: Default, project_domain_name: Default}}
            region_name: R1
    """))
    config = FleetConfig(str(path))
    return config


def register(m, *, with_volume=True, hypervisors=None, limits_used=10, agents_alive=True,
             limits_status=200, limits_body=None):
    m.get(AUTH, json={"versions": {"values": [
        {"id": "v3.14", "status": "stable", "links": [{"rel": "self", "href": AUTH + "/v3/"}]}]}})
    m.post(AUTH + "/v3/auth/tokens", status_code=201, headers={"X-Subject-Token": "tok"},
           json={"token": {"expires_at": "2999-01-01T00:00:00.000000Z",
                           "project": {"id": "p1", "name": "p", "domain": {"id": "default"}},
                           "user": {"id": "u1", "name": "u", "domain": {"id": "default"}},
                           "roles": [{"id": "r", "name": "admin"}],
                           "catalog": catalog(with_volume), "methods": ["password"]}})
    hyps = hypervisors if hypervisors is not None else [
        {"hypervisor_hostname": "h1", "state": "up", "status": "enabled", "vcpus": 8,
         "vcpus_used": 2, "memory_mb": 1000, "memory_mb_used": 100}]
    m.get(COMPUTE + "/os-hypervisors/detail", json={"hypervisors": hyps})
    m.get(COMPUTE + "/servers", json={"servers": []})
    m.get(COMPUTE + "/limits", status_code=limits_status, text=limits_body, json=None) \
        if limits_body is not None or limits_status != 200 else m.get(
        COMPUTE + "/limits", json={"limits": {"absolute": {
            "maxTotalCores": 100, "totalCoresUsed": limits_used,
            "maxTotalRAMSize": 1000, "totalRAMUsed": 0}}})
    m.get(NETWORK + "/v2.0/agents", json={"agents": [
        {"binary": "neutron-dhcp-agent", "host": "h1", "alive": True},
        {"binary": "neutron-l3-agent", "host": "h1", "alive": agents_alive},
        {"binary": "neutron-l3-agent", "host": "h2", "alive": True}]})
    m.get(VOLUME + "/os-services", json={"services": [
        {"binary": "cinder-volume", "state": "up"}]})
    m.get(IMAGE + "/v2/images", json={"images": []})


def run(config, **params):
    fleet = edgeshade.Fleet(config, config.select("x"), use_state=False)
    return fleet.run("status", **params)[0]


def test_request_order_and_shapes(requests_mock, site) -> None:
    register(requests_mock)
    result = run(site)
    assert result.state == "ok", result.reason
    calls = [(r.method, r.url.split("?")[0]) for r in requests_mock.request_history]
    assert calls[:2] == [("GET", AUTH + "/"), ("POST", AUTH + "/v3/auth/tokens")]
    assert sorted(calls[2:]) == sorted([
        ("GET", COMPUTE + "/os-hypervisors/detail"), ("GET", COMPUTE + "/servers"),
        ("GET", COMPUTE + "/limits"), ("GET", NETWORK + "/v2.0/agents"),
        ("GET", VOLUME + "/os-services"), ("GET", IMAGE + "/v2/images")])
    queries = {r.url.split("?")[0]: r.qs for r in requests_mock.request_history}
    assert queries[COMPUTE + "/servers"] == {"status": ["error"], "all_tenants": ["1"]}
    assert queries[IMAGE + "/v2/images"] == {"limit": ["1"]}
    assert all(r.headers.get("X-Auth-Token") == "tok" for r in requests_mock.request_history[2:])
    assert result.requests == 8


def test_missing_cinder_is_absent_and_not_called(requests_mock, site) -> None:
    register(requests_mock, with_volume=False)
    result = run(site)
    assert result.state == "ok" and result.data.services.volume == "absent"
    assert not [r for r in requests_mock.request_history if "8776" in r.url]


@pytest.mark.parametrize(
    ("kwargs", "state", "reason"),
    [
        ({"hypervisors": [{"hypervisor_hostname": "h1", "state": "down"},
                          {"hypervisor_hostname": "h2", "state": "up"}]},
         "warning", "1/2 nova-compute down (h1)"),
        ({"hypervisors": [{"hypervisor_hostname": "h1", "state": "down"}]}, "critical",
         "all 1 nova-compute down"),
        ({"limits_used": 95}, "warning", "quota cores at 95%"),
        ({"agents_alive": False}, "warning", "1 neutron agent dead"),
        ({"limits_status": 500, "limits_body": "{}"}, "critical", "HTTP 500"),
        ({"limits_body": "{not json"}, "error", "malformed JSON"),
    ],
)
def test_classification_from_data(requests_mock, site, kwargs, state, reason) -> None:
    register(requests_mock, **kwargs)
    result = run(site)
    assert result.state == state and reason in result.reason, result.reason


def test_thresholds_and_checks(requests_mock, site) -> None:
    register(requests_mock, limits_used=95)
    assert run(site, thresholds={"quota_warning_percent": 99}).state == "ok"
    requests_mock.reset_mock()
    result = run(site, checks="compute,image")
    urls = {r.url.split("?")[0] for r in requests_mock.request_history}
    assert COMPUTE + "/limits" not in urls and NETWORK + "/v2.0/agents" not in urls
    assert set(result.data.checks) == {"compute", "image"}


def test_unknown_threshold_is_an_error(requests_mock, site) -> None:
    with pytest.raises(edgeshade.TaskError, match="unknown threshold 'nope'"):
        edgeshade.tasks.status.Thresholds.from_params({"nope": 1})
