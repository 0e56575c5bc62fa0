"""Session fixture: three real Keystone instances on 127.0.0.1 acting as three clouds.

``EDGESHADE_SKIP_REAL=1`` skips these tests; otherwise a missing Keystone venv
is a failure (``scripts/test.sh`` installs it), never a silent skip.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import realkeystone
import yaml

NAMES = ["ks-a", "ks-b", "ks-c"]


@dataclass
class RealClouds:
    keystones: dict[str, realkeystone.Keystone]
    directory: Path
    setup_seconds: float

    def write(self, name: str, *, bad_password_for: str | None = None) -> tuple[str, str]:
        """clouds.yaml (no secrets) + secure.yaml (0600) for every instance.

        Clouds: ``ks-a`` (admin, two regions: two sites), ``ks-b`` and ``ks-c``
        (admin, RegionOne), ``ks-b-app`` (the demo user's application credential).
        """
        clouds: dict = {}
        secure: dict = {}
        for ks_name, ks in self.keystones.items():
            cloud: dict = {
                "auth": {
                    "auth_url": ks.url,
                    "username": "admin",
                    "project_name": "admin",
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                },
                "identity_api_version": 3,
            }
            if ks_name == "ks-a":
                cloud["regions"] = ["RegionOne", "RegionTwo"]
            else:
                cloud["region_name"] = "RegionOne"
            clouds[ks_name] = cloud
            password = "wrong-password" if bad_password_for == ks_name else ks.admin_password
            secure[ks_name] = {"auth": {"password": password}}
        app_id, app_secret = self.keystones["ks-b"].app_credential or ("", "")
        clouds["ks-b-app"] = {
            "auth_type": "v3applicationcredential",
            "auth": {"auth_url": self.keystones["ks-b"].url, "application_credential_id": app_id},
            "region_name": "RegionOne",
        }
        secure["ks-b-app"] = {"auth": {"application_credential_secret": app_secret}}
        directory = self.directory / name
        directory.mkdir(exist_ok=True)
        clouds_path = directory / "clouds.yaml"
        secure_path = directory / "secure.yaml"
        clouds_path.write_text(yaml.safe_dump({"clouds": clouds}))
        fd = os.open(secure_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(yaml.safe_dump({"clouds": secure}))
        return str(clouds_path), str(secure_path)

    def secrets(self) -> list[str]:
        out = []
        for ks in self.keystones.values():
            out += [ks.admin_password, ks.demo_password]
            if ks.app_credential:
                out.append(ks.app_credential[1])
        return out


@pytest.fixture(scope="session")
def real_clouds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealClouds]:
    if os.environ.get("EDGESHADE_SKIP_REAL") == "1":
        pytest.skip("real Keystone tests skipped: EDGESHADE_SKIP_REAL=1")
    reason = realkeystone.missing()
    if reason:
        pytest.fail(f"real Keystone not installed ({reason}); set EDGESHADE_SKIP_REAL=1 to skip")
    base = tmp_path_factory.mktemp("keystone")
    started = time.monotonic()
    instances = realkeystone.prepare(base, NAMES)
    try:
        for ks in instances:
            ks.start()
        for ks in instances:
            ks.wait_ready()
        with ThreadPoolExecutor(len(instances)) as pool:  # one API client per instance
            list(pool.map(realkeystone.provision, instances))
        clouds = RealClouds(
            {ks.name: ks for ks in instances}, base, time.monotonic() - started
        )
        print(f"\nreal Keystone: {len(instances)} instances ready in {clouds.setup_seconds:.1f} s")
        yield clouds
    finally:
        for ks in instances:
            ks.stop()
