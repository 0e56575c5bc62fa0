"""The simulated APIs over raw HTTP: discovery documents, Keystone, shapes, faults, stats."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml
from keystoneauth1 import discover
from keystoneauth1 import session as ks_session

from edgeshade.sim import SimFleet, SimServer

pytestmark = pytest.mark.timeout(60)

FAULTS = (
    "refused=edge-00001,hang=edge-00002,500=edge-00003,503:4=edge-00004,flaky:2=edge-00005,"
    "401=edge-00013,malformed=edge-00007,404@volume=edge-00009,slow:300=edge-00010,"
    "401=core-b/RegionTwo,refused@compute=core-b/RegionThree,500@network=edge-00011"
)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    fleet = SimFleet(sites=40, seed=1, faults=FAULTS)
    assert fleet.site("edge-00009").has_volume  # the 404@volume site must have Cinder
    with SimServer(fleet) as server:
        clouds_path, secure_path = server.write_config(str(tmp_path_factory.mktemp("sim-http")))
        yield {
            "server": server,
            "fleet": fleet,
            "clouds": yaml.safe_load(open(clouds_path))["clouds"],
            "secure": yaml.safe_load(open(secure_path))["clouds"],
        }


def _token_request(sim: dict[str, Any], cloud: str, project: str = "admin", **kw: Any):
    auth = sim["clouds"][cloud]["auth"]
    secret = sim["secure"][cloud]["auth"]
    if "password" in secret:
        body: dict[str, Any] = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": auth["username"], "domain": {"name": "Default"},
                "password": kw.pop("password", secret["password"])}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }}
    else:
        body = {"auth": {"identity": {
            "methods": ["application_credential"],
            "application_credential": {"id": auth["application_credential_id"],
                                       "secret": secret["application_credential_secret"]},
        }}}
    return requests.post(auth["auth_url"] + "/v3/auth/tokens", json=body, timeout=5, **kw)


def _login(sim: dict[str, Any], cloud: str, region: str = "RegionOne"
           ) -> tuple[str, dict[str, str]]:
    resp = _token_request(sim, cloud)
    assert resp.status_code == 201, resp.text
    endpoints = {
        entry["type"]: next(e["url"] for e in entry["endpoints"] if e["region"] == region)
        for entry in resp.json()["token"]["catalog"]
    }
    return resp.headers["X-Subject-Token"], endpoints


def _get(url: str, token: str | None = None, **kw: Any) -> requests.Response:
    headers = kw.pop("headers", {})
    if token:
        headers["X-Auth-Token"] = token
    return requests.get(url, headers=headers, timeout=kw.pop("timeout", 5), **kw)


# -- discovery and Keystone --------------------------------------------------------------------


def test_discovery_documents_parse_with_keystoneauth(sim) -> None:
    base = sim["server"].url
    sess = ks_session.Session()
    identity = _get(f"{base}/core-a/identity")
    assert identity.status_code == 300
    assert identity.json()["versions"]["values"][0]["id"] == "v3.14"
    assert _get(f"{base}/core-a/identity/v3/").json()["version"]["status"] == "stable"
    roots = {
        "compute": (f"{base}/core-a/RegionOne/compute/", 200, "2.96"),
        "network": (f"{base}/core-a/RegionOne/network/", 200, None),
        "volume": (f"{base}/core-a/RegionOne/volume/", 300, "3.71"),
        "image": (f"{base}/core-a/RegionOne/image/", 300, None),
    }
    for name, (url, status, max_version) in roots.items():
        assert _get(url).status_code == status, name
        data = discover.get_version_data(sess, url)
        self_link = next(link["href"] for link in data[0]["links"] if link["rel"] == "self")
        assert self_link.startswith(url.rstrip("/")), name
        if max_version:
            assert data[0]["version"] == max_version
    assert _get(f"{base}/core-a/RegionOne/compute/v2.1").json()["version"]["min_version"] == "2.1"
    assert _get(f"{base}/core-a/RegionOne/volume/v3/").json()["versions"][0]["id"] == "v3.0"
    assert _get(f"{base}/core-a/RegionOne/image/versions").status_code == 200
    assert "resources" in _get(f"{base}/core-a/RegionOne/network/v2.0").json()


def test_token_catalog_and_validation(sim) -> None:
    fleet = sim["fleet"]
    resp = _token_request(sim, "core-a")
    assert resp.status_code == 201
    token = resp.json()["token"]
    assert token["project"]["id"] == fleet.clouds["core-a"].project_id
    assert {r["name"] for r in token["roles"]} >= {"admin"}
    issued = time.strptime(token["issued_at"][:19], "%Y-%m-%dT%H:%M:%S")
    expires = time.strptime(token["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")
    assert time.mktime(expires) - time.mktime(issued) == 3600
    types = {e["type"]: {x["region"] for x in e["endpoints"]} for e in token["catalog"]}
    regions = {"RegionOne", "RegionTwo", "RegionThree"}
    assert types == {t: regions for t in ("identity", "compute", "network", "block-storage",
                                          "volumev3", "image", "object-store", "orchestration")}
    bare = next(s for s in fleet.sites if not fleet.site(s).has_volume and not fleet.faults_of(s))
    bare_types = {e["type"] for e in _token_request(sim, bare).json()["token"]["catalog"]}
    assert "block-storage" not in bare_types and "volumev3" not in bare_types

    subject = resp.headers["X-Subject-Token"]
    check = _get(f"{sim['server'].url}/core-a/identity/v3/auth/tokens", subject,
                 headers={"X-Subject-Token": subject})
    assert check.status_code == 200 and check.json()["token"]["audit_ids"] == token["audit_ids"]
    bare_check = _get(f"{sim['server'].url}/core-a/identity/v3/auth/tokens?nocatalog", subject,
                      headers={"X-Subject-Token": subject})
    assert "catalog" not in bare_check.json()["token"]
    gone = _get(f"{sim['server'].url}/core-a/identity/v3/auth/tokens", subject,
                headers={"X-Subject-Token": "nope"})
    assert gone.status_code == 404

    workloads = _token_request(sim, "core-a", project="workloads").json()["token"]
    assert workloads["project"]["id"] == fleet.clouds["core-a"].workload_project_id
    assert _token_request(sim, "core-a", project="other").status_code == 401


def test_wrong_credentials_and_tokens(sim) -> None:
    bad = _token_request(sim, "edge-00008", password="wrong")
    assert bad.status_code == 401
    message = "The request you have made requires authentication."
    assert bad.json() == {"error": {"code": 401, "title": "Unauthorized", "message": message}}
    token, eps = _login(sim, "edge-00008")
    assert _get(eps["compute"] + "/os-services").status_code == 401  # no token
    other, _ = _login(sim, "edge-00012")
    assert _get(eps["compute"] + "/os-services", other).status_code == 401  # another cloud's
    assert _get(eps["compute"] + "/os-services", token).status_code == 200


def test_application_credential_auth(sim) -> None:
    cloud = next(c for c in sim["fleet"].clouds.values() if c.app_cred_id)
    assert not sim["fleet"].faults_of(cloud.name)
    resp = _token_request(sim, cloud.name)
    assert resp.status_code == 201
    token = resp.json()["token"]
    assert token["methods"] == ["application_credential"]
    assert token["application_credential"]["id"] == cloud.app_cred_id


# -- API shapes --------------------------------------------------------------------------------


def test_compute_microversions_and_paging(sim) -> None:
    token, eps = _login(sim, "core-a", "RegionTwo")
    compute = eps["compute"]
    plain = _get(compute + "/os-hypervisors/detail", token).json()["hypervisors"][0]
    assert isinstance(plain["id"], int) and plain["vcpus"] > 0 and "memory_mb_used" in plain
    assert isinstance(plain["cpu_info"], str)
    mv = _get(compute + "/os-hypervisors/detail", token,
              headers={"OpenStack-API-Version": "compute 2.88"})
    assert mv.headers["OpenStack-API-Version"] == "compute 2.88"
    newer = mv.json()["hypervisors"][0]
    assert isinstance(newer["id"], str) and "vcpus" not in newer and newer["state"] == "up"
    assert _get(compute + "/os-services", token,
                headers={"X-OpenStack-Nova-API-Version": "2.100"}).status_code == 406

    everything = _get(compute + "/servers/detail?all_tenants=1", token).json()["servers"]
    assert len(everything) == len(sim["fleet"].contents("core-a/RegionTwo").servers)
    page = _get(compute + "/servers/detail?all_tenants=1&limit=5", token).json()
    assert [s["id"] for s in page["servers"]] == [s["id"] for s in everything[:5]]
    nxt = page["servers_links"][0]["href"]
    assert "marker=" + everything[4]["id"] in nxt and "all_tenants=1" in nxt
    second = _get(nxt, token).json()["servers"]
    assert [s["id"] for s in second] == [s["id"] for s in everything[5:10]]
    assert _get(compute + "/servers?marker=nope", token).status_code == 400
    names = _get(compute + "/servers", token).json()["servers"][0]
    assert set(names) == {"id", "name", "links"}

    limits = _get(compute + "/limits", token).json()["limits"]["absolute"]
    assert {"maxTotalCores", "totalCoresUsed", "maxTotalRAMSize", "totalRAMUsed",
            "maxTotalInstances", "totalInstancesUsed"} <= set(limits)
    flavors = _get(compute + "/flavors/detail", token).json()["flavors"]
    assert flavors[0]["name"] == "m1.tiny" and flavors[0]["vcpus"] == 1
    missing = _get(compute + "/servers/does-not-exist", token)
    assert missing.status_code == 404 and "itemNotFound" in missing.json()


def test_network_volume_image_shapes(sim) -> None:
    token, eps = _login(sim, "core-a")
    agents = _get(eps["network"] + "/v2.0/agents", token).json()["agents"]
    assert {"agent_type", "binary", "host", "alive", "admin_state_up"} <= set(agents[0])
    some = agents[0]["binary"]
    filtered = _get(eps["network"] + f"/v2.0/agents?binary={some}", token).json()["agents"]
    assert filtered and all(a["binary"] == some for a in filtered)
    nets = _get(eps["network"] + "/v2.0/networks", token).json()["networks"]
    assert sorted(n["name"] for n in nets) == ["private", "public"]
    services = _get(eps["block-storage"] + "/os-services", token).json()["services"]
    assert {s["binary"] for s in services} == {"cinder-scheduler", "cinder-volume"}
    first = _get(eps["image"] + "/v2/images?limit=1", token).json()
    assert len(first["images"]) == 1 and first["next"].startswith("/v2/images?marker=")
    image = first["images"][0]
    assert image["status"] == "active" and image["os_hash_algo"] == "sha512"
    assert len(image["os_hash_value"]) == 128 and image["size"] > 0


# -- faults ------------------------------------------------------------------------------------


def test_refused(sim) -> None:
    with pytest.raises(requests.ConnectionError, match="refused"):
        _token_request(sim, "edge-00001")
    token, eps = _login(sim, "core-b", "RegionThree")
    assert eps["compute"].startswith(sim["server"].refused_url)
    with pytest.raises(requests.ConnectionError, match="refused"):
        _get(eps["compute"] + "/os-services", token)
    assert _get(eps["network"] + "/v2.0/agents", token).status_code == 200


def test_hang_times_out_and_is_released(sim) -> None:
    server = sim["server"]
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{server.url}/edge-00002/identity", timeout=0.5)
    assert time.monotonic() - started < 2
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the handler is cancelled once the client is gone
        if server.stats()["hanging"] == 0:
            break
        time.sleep(0.05)
    assert server.stats()["hanging"] == 0


def test_500_and_503(sim) -> None:
    resp = _token_request(sim, "edge-00003")
    assert resp.status_code == 500 and resp.json()["error"]["code"] == 500
    resp = _token_request(sim, "edge-00004")
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "4"
    token, eps = _login(sim, "edge-00011")  # 500@network: the rest works
    assert _get(eps["compute"] + "/os-services", token).status_code == 200
    broken = _get(eps["network"] + "/v2.0/agents", token)
    assert broken.status_code == 500 and "NeutronError" in broken.json()


def test_flaky(sim) -> None:
    sim["server"].reset_stats()  # also refills the flaky budget
    first = _token_request(sim, "edge-00005")
    second = _token_request(sim, "edge-00005")
    assert (first.status_code, second.status_code) == (503, 503)
    assert first.headers["Retry-After"] == "0"
    resp = _token_request(sim, "edge-00005")
    assert resp.status_code == 201
    url = sim["fleet"].endpoint(sim["fleet"].site("edge-00005"), "compute") + "/os-services"
    token = resp.headers["X-Subject-Token"]
    assert [_get(url, token).status_code for _ in range(3)] == [503, 503, 200]


def test_401(sim) -> None:
    assert _token_request(sim, "edge-00013").status_code == 401
    base = sim["server"].url
    assert _get(f"{base}/edge-00013/identity").status_code == 300  # discovery still works
    token, eps = _login(sim, "core-b", "RegionTwo")  # Keystone fine, region's services 401
    resp = _get(eps["compute"] + "/os-hypervisors/detail", token)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Keystone")
    token, eps = _login(sim, "core-b", "RegionOne")
    assert _get(eps["compute"] + "/os-hypervisors/detail", token).status_code == 200


def test_malformed(sim) -> None:
    token, eps = _login(sim, "edge-00007")  # Keystone keeps working
    resp = _get(eps["compute"] + "/os-hypervisors/detail", token)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        json.loads(resp.content)


def test_404_scoped_to_volume(sim) -> None:
    token, eps = _login(sim, "edge-00009")
    assert "block-storage" in eps
    resp = _get(eps["block-storage"] + "/os-services", token)
    assert resp.status_code == 404 and "itemNotFound" in resp.json()
    assert _get(eps["compute"] + "/os-services", token).status_code == 200


def test_slow(sim) -> None:
    started = time.monotonic()
    assert _get(f"{sim['server'].url}/edge-00010/identity").status_code == 300
    assert time.monotonic() - started >= 0.3


def test_unknown_paths(sim) -> None:
    base = sim["server"].url
    assert _get(f"{base}/").status_code == 404
    assert _get(f"{base}/no-such-cloud/identity").status_code == 404
    assert _get(f"{base}/core-a/RegionNine/compute/v2.1").status_code == 404
    bare = next(s for s in sim["fleet"].sites if not sim["fleet"].site(s).has_volume)
    assert _get(f"{base}/{bare}/RegionOne/volume/").status_code == 404


# -- stats and lifecycle -------------------------------------------------------------------------


def test_stats_in_process_and_over_http(sim) -> None:
    server = sim["server"]
    server.reset_stats()
    token, eps = _login(sim, "edge-00012")
    _get(eps["compute"] + "/os-hypervisors/detail", token)
    _get(eps["image"] + "/v2/images?limit=1", token)
    _get(f"{server.url}/core-a/identity")
    stats = server.stats()
    assert stats["total"] == 4
    assert stats["by_site"] == {"edge-00012": 3, "core-a": 1}
    assert stats["by_kind"]["GET compute /v2.1/os-hypervisors/detail"] == 1
    assert stats["by_kind"]["POST identity /v3/auth/tokens"] == 1
    assert stats["by_status"] == {"200": 2, "201": 1, "300": 1}
    over_http = requests.get(f"{server.url}/_sim/stats", timeout=5).json()
    assert over_http["total"] == 4 and over_http["by_site"]["edge-00012"] == 3
    assert requests.post(f"{server.url}/_sim/reset", timeout=5).json() == {"reset": True}
    assert server.stats()["total"] == 0
    info = requests.get(f"{server.url}/_sim/fleet", timeout=5).json()
    assert info["sites"] == 40 and info["faults"]["edge-00002"] == ["hang=edge-00002"]


def test_stop_does_not_wait_for_hanging_requests() -> None:
    fleet = SimFleet(sites=3, faults="hang=edge-00001")
    server = SimServer(fleet).start()
    errors: list[BaseException] = []

    def hang() -> None:
        try:
            requests.get(f"{server.url}/edge-00001/identity", timeout=30)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=hang, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while server.stats()["hanging"] != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.stats()["hanging"] == 1
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3
    thread.join(5)
    assert errors and not server.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/edge-00001/identity", timeout=2)


def test_port_in_use_fails_in_start() -> None:
    with SimServer(SimFleet(sites=2)) as first:
        with pytest.raises(OSError):
            SimServer(SimFleet(sites=2), port=first.port).start()
