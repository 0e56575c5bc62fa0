"""The status task's exact request shapes and states, openstacksdk style.

Every test registers the URIs a site serves, runs ``status`` through a real
Fleet (keystoneauth, SiteSession, Connector) and asserts which requests were
made, in which order, how many and with which query parameters.
"""

from __future__ import annotations

import urllib.parse

import pytest

import edgeshade
from edgeshade.config import FleetConfig
from edgeshade.tasks.status import Thresholds

AUTH_URL = "http://fake.example:5000/v3"
TOKENS = AUTH_URL + "/auth/tokens"
COMPUTE = "http://fake.example:8774/v2.1"
NETWORK = "http://fake.example:9696"  # unversioned in the catalog, as usual
IMAGE = "http://fake.example:9292"
VOLUME = "http://fake.example:8776/v3/p1"

HYPERVISORS = COMPUTE + "/os-hypervisors/detail"
SERVERS = COMPUTE + "/servers"
LIMITS = COMPUTE + "/limits"
AGENTS = NETWORK + "/v2.0/agents"
VOLUME_SERVICES = VOLUME + "/os-services"
IMAGES = IMAGE + "/v2/images"

#: The six checks as (method, URL, query) in the task's check order.
CHECK_CALLS = {
    "compute": ("GET", HYPERVISORS, {}),
    "servers": ("GET", SERVERS, {"status": ["ERROR"], "all_tenants": ["1"]}),
    "limits": ("GET", LIMITS, {}),
    "network": ("GET", AGENTS, {}),
    "volume": ("GET", VOLUME_SERVICES, {}),
    "image": ("GET", IMAGES, {"limit": ["1"]}),
}
AUTH_CALLS = [("GET", AUTH_URL, {}), ("POST", TOKENS, {})]


def hypervisor(name: str, state: str = "up") -> dict:
    return {"hypervisor_hostname": name, "state": state, "status": "enabled", "vcpus": 8,
            "vcpus_used": 2, "memory_mb": 1000, "memory_mb_used": 100}


def catalog(volume_type: str | None) -> list[dict]:
    entries = [("compute", COMPUTE), ("network", NETWORK), ("image", IMAGE)]
    if volume_type:
        entries.append((volume_type, VOLUME))
    return [
        {"type": stype, "name": stype, "id": stype,
         "endpoints": [{"interface": "public", "region": "R1", "region_id": "R1", "url": url,
                        "id": stype + "-public"},
                       {"interface": "internal", "region": "R1", "region_id": "R1",
                        "url": "http://internal.invalid/" + stype, "id": stype + "-internal"}]}
        for stype, url in entries
    ]


def site_uris(*, volume_type: str | None = "block-storage", **overrides: dict) -> list[dict]:
    """One healthy site's URIs; ``overrides`` replace a check's response by check name."""
    responses = {
        "compute": {"json": {"hypervisors": [hypervisor("h1"), hypervisor("h2")]}},
        "servers": {"json": {"servers": []}},
        "limits": {"json": {"limits": {"absolute": {
            "maxTotalCores": 100, "totalCoresUsed": 10, "maxTotalRAMSize": 1000,
            "totalRAMUsed": 0, "maxTotalInstances": -1, "totalInstancesUsed": 5}}}},
        "network": {"json": {"agents": [
            {"binary": "neutron-dhcp-agent", "host": "h1", "alive": True},
            {"binary": "neutron-l3-agent", "host": "h1", "alive": True},
            {"binary": "neutron-l3-agent", "host": "h2", "alive": True}]}},
        "volume": {"json": {"services": [{"binary": "cinder-volume", "state": "up"},
                                         {"binary": "cinder-scheduler", "state": "up"}]}},
        "image": {"json": {"images": [{"id": "i1"}]}},
    }
    responses.update(overrides)
    token = {"token": {
        "expires_at": "2999-01-01T00:00:00.000000Z", "methods": ["password"],
        "project": {"id": "p1", "name": "p", "domain": {"id": "default", "name": "Default"}},
        "user": {"id": "u1", "name": "u", "domain": {"id": "default", "name": "Default"}},
        "roles": [{"id": "r", "name": "admin"}], "catalog": catalog(volume_type)}}
    uris = [
        {"method": "GET", "uri": AUTH_URL, "json": {"version": {
            "id": "v3.14", "status": "stable",
            "links": [{"rel": "self", "href": AUTH_URL + "/"}]}}},
        {"method": "POST", "uri": TOKENS, "status_code": 201, "json": token,
         "headers": {"X-Subject-Token": "tok-123"}},
    ]
    for name, (method, uri, _query) in CHECK_CALLS.items():
        uris.append({"method": method, "uri": uri, **responses[name]})
    return uris


def register_uris(m, uris: list[dict]) -> None:
    for spec in uris:
        spec = dict(spec)
        m.register_uri(spec.pop("method"), spec.pop("uri"), **spec)


def calls(m) -> list[tuple[str, str, dict]]:
    out = []
    for r in m.request_history:
        parts = urllib.parse.urlsplit(r.url)
        base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        out.append((r.method, base.rstrip("/"), urllib.parse.parse_qs(parts.query)))
    return out


def assert_calls(m, checks: tuple[str, ...] = tuple(CHECK_CALLS)) -> None:
    """Discovery then token, in that order; then exactly one call per check.

    The checks run at once, so their order is free; their number is not.
    """
    made = calls(m)
    assert made[:2] == AUTH_CALLS
    expected = sorted((CHECK_CALLS[c] for c in checks), key=repr)
    assert sorted(made[2:], key=repr) == expected
    assert len(made) == 2 + len(checks)


@pytest.fixture
def config(write_clouds) -> FleetConfig:
    """Cloud ``x`` against the fake site; the password only in the sibling secure.yaml."""
    path = write_clouds(f"""
        clouds:
          x:
            auth: {{auth_url: {AUTH_URL}, username: u, project_name: p,
                    user_domain_name: Default, project_domain_name: Default}}
            region_name: R1
    """)
    secure = path.replace("clouds.yaml", "secure.yaml")
    with open(secure, "w") as fh:
        fh.write("clouds:\n  x:\n    auth: {password: pw-from-secure}\n")
    return FleetConfig(path)


def run(config: FleetConfig, **params):
    fleet = edgeshade.Fleet(config, config.select("x"), use_state=False, timeout=10)
    return fleet.run("status", **params)[0]


def test_request_order_shapes_and_count(requests_mock, config) -> None:
    register_uris(requests_mock, site_uris())
    result = run(config)
    assert result.state == "ok", result.reason
    assert_calls(requests_mock)
    assert result.requests == 8  # discovery, token, six checks
    history = requests_mock.request_history
    body = history[1].json()["auth"]["identity"]["password"]["user"]
    assert body["name"] == "u" and body["password"] == "pw-from-secure"
    assert history[1].json()["auth"]["scope"]["project"]["name"] == "p"
    assert "X-Auth-Token" not in history[0].headers and "X-Auth-Token" not in history[1].headers
    assert all(r.headers["X-Auth-Token"] == "tok-123" for r in history[2:])
    assert not [r for r in history if "internal.invalid" in r.url]  # the public interface


def test_result_data(requests_mock, config) -> None:
    register_uris(requests_mock, site_uris())
    data = run(config).data
    assert data.services == {"compute": "ok", "network": "ok", "volume": "ok", "image": "ok"}
    assert data.compute.hypervisors == 2 and data.compute.up == 2 and data.compute.vcpus == 16
    assert data.limits.usage_percent == {"cores": 10.0, "ram": 0.0}  # -1 means unlimited
    assert data.network.alive == 3 and data.servers.count == 0 and data.image.reachable
    assert set(data.checks) == set(CHECK_CALLS)
    assert isinstance(data.auth_ms, int)


def test_missing_cinder_is_absent_and_never_called(requests_mock, config) -> None:
    register_uris(requests_mock, site_uris(volume_type=None))
    result = run(config)
    assert result.state == "ok", result.reason
    assert result.data.services.volume == "absent"
    assert "volume" not in result.data.checks
    assert_calls(requests_mock, ("compute", "servers", "limits", "network", "image"))
    assert result.requests == 7


@pytest.mark.parametrize("volume_type", ["volumev3", "volume"])
def test_cinder_found_under_its_older_service_types(requests_mock, config, volume_type) -> None:
    register_uris(requests_mock, site_uris(volume_type=volume_type))
    result = run(config)
    assert result.data.services.volume == "ok"
    assert_calls(requests_mock)


@pytest.mark.parametrize(
    ("override", "state", "reason"),
    [
        ({"compute": {"json": {"hypervisors": [hypervisor("h1", "down"), hypervisor("h2")]}}},
         "warning", "compute: 1/2 nova-compute down (h1)"),
        ({"compute": {"json": {"hypervisors": [hypervisor("h1", "down"),
                                               hypervisor("h2", "down")]}}},
         "critical", "compute: all 2 nova-compute down"),
        ({"limits": {"json": {"limits": {"absolute": {"maxTotalCores": 100,
                                                      "totalCoresUsed": 95}}}}},
         "warning", "limits: quota cores at 95%"),
        ({"network": {"json": {"agents": [
            {"binary": "neutron-l3-agent", "host": "h1", "alive": False},
            {"binary": "neutron-l3-agent", "host": "h2", "alive": True}]}}},
         "warning", "network: 1 neutron agent dead"),
        ({"network": {"json": {"agents": [
            {"binary": "neutron-dhcp-agent", "host": "h1", "alive": False}]}}},
         "critical", "network: every neutron-dhcp-agent agent dead"),
        ({"servers": {"json": {"servers": [{"id": "s1", "name": "web-1"}]}}},
         "warning", "servers: 1 server in ERROR"),
        ({"volume": {"json": {"services": [{"binary": "cinder-volume", "state": "down"}]}}},
         "critical", "volume: every cinder-volume down"),
        ({"limits": {"status_code": 500, "json": {}}},
         "critical", "limits: HTTP 500 from fake.example:8774/v2.1/limits"),
        ({"image": {"text": "<html>oops</html>"}},
         "error", "image: malformed JSON from image /images"),
        ({"compute": {"json": {"hypervisors": {"not": "a list"}}}},
         "error", "compute: os-hypervisors: expected a list in 'hypervisors'"),
        ({"limits": {"json": {"limits": ["not", "a", "mapping"]}}},
         "error", "limits: limits: expected 'limits.absolute'"),
    ],
)
def test_state_from_data(requests_mock, config, override, state, reason) -> None:
    register_uris(requests_mock, site_uris(**override))
    result = run(config)
    assert (result.state, result.reason) == (state, reason)
    assert_calls(requests_mock)  # one failing check never stops the others


def test_a_failing_check_marks_its_service(requests_mock, config) -> None:
    register_uris(requests_mock, site_uris(
        image={"status_code": 503, "json": {}, "headers": {"Retry-After": "0"}}))
    result = run(config)
    assert result.state == "critical"
    assert result.data.services.image == "critical"
    assert result.data.checks.image.state == "critical"
    assert result.data.services.compute == "ok"


def test_worst_problems_first_in_the_reason(requests_mock, config) -> None:
    register_uris(requests_mock, site_uris(
        servers={"json": {"servers": [{"id": "s1"}, {"id": "s2"}]}},
        limits={"status_code": 500, "json": {}},
        network={"json": {"agents": [{"binary": "a", "alive": False},
                                     {"binary": "a", "alive": True}]}},
    ))
    result = run(config)
    assert result.state == "critical"
    assert result.reason.startswith("limits: HTTP 500")
    assert result.reason.endswith("(+1 more)")


def test_keystone_failing_is_critical_and_no_check_runs(requests_mock, config) -> None:
    uris = site_uris()
    uris[1] = {"method": "POST", "uri": TOKENS, "status_code": 500, "json": {}}
    register_uris(requests_mock, uris)
    result = run(config)
    assert result.state == "critical" and result.reason.startswith("Keystone failing")
    assert [c[:2] for c in calls(requests_mock)] == [c[:2] for c in AUTH_CALLS]


def test_rejected_credentials_are_auth_failed(requests_mock, config) -> None:
    uris = site_uris()
    uris[1] = {"method": "POST", "uri": TOKENS, "status_code": 401, "json": {}}
    register_uris(requests_mock, uris)
    result = run(config)
    assert result.state == "auth_failed" and "credentials" in result.hint
    assert len(requests_mock.request_history) == 2


def test_thresholds_override(requests_mock, config) -> None:
    warm = {"limits": {"json": {"limits": {"absolute": {"maxTotalCores": 100,
                                                        "totalCoresUsed": 95}}}}}
    register_uris(requests_mock, site_uris(**warm))
    assert run(config).state == "warning"
    assert run(config, thresholds={"quota_warning_percent": 99}).state == "ok"
    assert run(config, thresholds={"quota_critical_percent": "95"}).state == "critical"
    assert run(config, thresholds=Thresholds(quota_warning_percent=None)).state == "ok"


def test_unknown_threshold_is_a_task_error_before_any_request(requests_mock, config) -> None:
    with pytest.raises(edgeshade.TaskError, match="unknown threshold 'nope'"):
        Thresholds.from_params({"nope": 1})
    with pytest.raises(edgeshade.TaskError, match="'abc' is not a number"):
        Thresholds.from_params({"quota_warning_percent": "abc"})
    register_uris(requests_mock, site_uris())
    result = run(config, thresholds={"nope": 1})
    assert result.state == "error" and "unknown threshold 'nope'" in result.reason
    assert requests_mock.call_count == 0


def test_thresholds_parse_types_and_off() -> None:
    th = Thresholds.from_params({"quota_warning_percent": "80.5", "error_servers_warning": "3",
                                 "agents_dead_warning": "off"})
    assert th.quota_warning_percent == 80.5 and th.error_servers_warning == 3
    assert th.agents_dead_warning is None


def test_checks_subset_only_calls_those(requests_mock, config) -> None:
    register_uris(requests_mock, site_uris())
    result = run(config, checks="compute,image")
    assert result.state == "ok"
    assert_calls(requests_mock, ("compute", "image"))
    assert set(result.data.checks) == {"compute", "image"}
    assert result.data.services == {"compute": "ok", "image": "ok"}


def test_unknown_check_is_an_error_before_any_request(requests_mock, config) -> None:
    register_uris(requests_mock, site_uris())
    result = run(config, checks="compute,bogus")
    assert result.state == "error" and "unknown check(s) bogus" in result.reason
    assert requests_mock.call_count == 0
