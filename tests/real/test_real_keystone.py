"""edgeshade against real OpenStack Keystone (three instances = three clouds).

Keystone serves identity only, so every other service is absent from the
catalog: status must say so and still call the site ok.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import edgeshade

pytestmark = pytest.mark.timeout(180)


def cli(clouds: str, secure: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "edgeshade",
        "--os-config-file", clouds, "--os-secure-file", secure, *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=dict(os.environ))


@pytest.fixture(scope="module")
def files(real_clouds):
    return real_clouds.write("good")


def test_password_and_application_credential_auth(real_clouds, files, tmp_path) -> None:
    clouds, secure = files
    fleet = edgeshade.connect(
        ["ks-b", "ks-b-app"], config_file=clouds, secure_file=secure,
        state_dir=str(tmp_path / "state"),
    )
    result = fleet.run("status")
    by_site = {r.site: r for r in result}
    assert set(by_site) == {"ks-b", "ks-b-app"}
    for r in result:
        assert r.state == "ok", (r.site, r.reason)
        assert r.data.auth_ms > 0
    # The application credential is scoped to the demo project, the password to admin:
    # two different tokens from the same Keystone.
    assert real_clouds.keystones["ks-b"].token_requests() >= 2


def test_status_all_clouds_identity_only_catalog(real_clouds, files) -> None:
    clouds, secure = files
    out = cli(clouds, secure, "--no-state", "--cloud", "all", "status", "-f", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    sites = {s["site"]: s for s in data["sites"]}
    assert set(sites) == {"ks-a/RegionOne", "ks-a/RegionTwo", "ks-b", "ks-c", "ks-b-app"}
    for name, site in sites.items():
        assert site["state"] == "ok", (name, site["reason"])
        services = site["data"]["services"]
        assert services == dict.fromkeys(("compute", "network", "volume", "image"), "absent")
        assert site["reason"].startswith("Keystone ok; not in the catalog: compute")
        assert site["data"]["auth_ms"] > 0
        assert site["data"]["checks"] == {}


def test_two_regions_are_two_sites_sharing_one_token(real_clouds, files, tmp_path) -> None:
    clouds, secure = files
    ks_a = real_clouds.keystones["ks-a"]
    before = ks_a.token_requests()
    fleet = edgeshade.connect(
        "ks-a", config_file=clouds, secure_file=secure, state_dir=str(tmp_path / "state")
    )
    assert [s.name for s in fleet.sites] == ["ks-a/RegionOne", "ks-a/RegionTwo"]
    result = fleet.run("status")
    assert [(r.site, r.state, r.region) for r in result] == [
        ("ks-a/RegionOne", "ok", "RegionOne"),
        ("ks-a/RegionTwo", "ok", "RegionTwo"),
    ]
    assert ks_a.token_requests() - before == 1  # one token for both regions in a run


def test_wrong_password_is_auth_failed_with_hint(real_clouds) -> None:
    clouds, secure = real_clouds.write("bad", bad_password_for="ks-c")
    out = cli(clouds, secure, "--no-state", "--cloud", "ks-c,ks-b", "status", "-f", "json")
    assert out.returncode == 2, out.stderr
    sites = {s["site"]: s for s in json.loads(out.stdout)["sites"]}
    assert sites["ks-b"]["state"] == "ok"
    bad = sites["ks-c"]
    assert bad["state"] == "auth_failed"
    assert "401" in bad["reason"] and "\n" not in bad["reason"]
    assert "credentials" in bad["hint"]
    assert "wrong-password" not in out.stdout + out.stderr


def test_stopped_instance_is_unreachable_others_ok(real_clouds, files, tmp_path) -> None:
    clouds, secure = files
    ks_c = real_clouds.keystones["ks-c"]
    ks_c.stop()
    try:
        result = edgeshade.connect(
            "all", config_file=clouds, secure_file=secure, timeout=20, use_state=False
        ).run("status")
    finally:
        ks_c.start()
        ks_c.wait_ready()
    states = {r.site: r.state for r in result}
    assert states.pop("ks-c") == "unreachable"
    assert set(states.values()) == {"ok"}, states
    down = result["ks-c"]
    assert "connection refused" in down.reason and str(ks_c.port) in down.reason
    assert down.hint


def test_http_debug_shows_no_secret(real_clouds, files) -> None:
    clouds, secure = files
    out = cli(clouds, secure, "--http-debug", "--no-state", "--cloud", "all", "status", "-f",
              "json")
    assert out.returncode == 0, out.stderr
    assert "POST" in out.stderr and "/v3/auth/tokens" in out.stderr  # exchanges were logged
    text = out.stdout + out.stderr
    leaked = [s for s in real_clouds.secrets() if s in text]
    assert not leaked
    assert "gAAAAA" not in text  # every fernet token starts so


def test_site_facts_reads_the_real_catalog_per_region(real_clouds, files) -> None:
    clouds, secure = files
    result = edgeshade.connect(
        ["ks-a", "ks-b", "ks-b-app"], config_file=clouds, secure_file=secure, use_state=False
    ).run("site_facts")
    assert {r.site: r.state for r in result} == dict.fromkeys(
        ["ks-a/RegionOne", "ks-a/RegionTwo", "ks-b", "ks-b-app"], "ok"
    )
    for r in result:  # bootstrap's RegionOne endpoint and the RegionTwo one added over the API
        ks = real_clouds.keystones[r.cloud.removesuffix("-app")]
        assert r.data.endpoints.identity == ks.url
        assert r.data.services.identity == "present" and r.data.services.compute == "absent"
    # the application credential is scoped to the demo project, the password to admin
    assert result["ks-b"].data.project_id != result["ks-b-app"].data.project_id
