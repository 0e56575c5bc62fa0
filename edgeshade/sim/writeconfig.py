"""Write ``clouds.yaml`` and ``secure.yaml`` for a simulated fleet.

Why two files: as on a real fleet, clouds.yaml holds everything but secrets
and can be shared; passwords and application credential secrets go to
secure.yaml, created with mode 0600 (before any byte is written). Both are
written atomically (temporary file, then rename), so a reader never sees half
a config. A few edge clouds use ``v3applicationcredential``, the rest
``password``, so both keystoneauth paths get exercised.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any

import yaml

from edgeshade.sim.model import DOMAIN, PROJECT_NAME, USER_NAME

if TYPE_CHECKING:
    from edgeshade.sim.model import SimFleet

_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: 10k clouds in ~1 s


def fleet_config(fleet: SimFleet) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (clouds.yaml, secure.yaml) documents for ``fleet`` as it is currently bound."""
    clouds: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for cloud in fleet.clouds.values():
        entry: dict[str, Any] = {}
        if cloud.app_cred_id:
            entry["auth_type"] = "v3applicationcredential"
            entry["auth"] = {"auth_url": fleet.auth_url(cloud.name),
                             "application_credential_id": cloud.app_cred_id}
            secret = {"application_credential_secret": cloud.app_cred_secret}
        else:
            entry["auth"] = {
                "auth_url": fleet.auth_url(cloud.name),
                "username": USER_NAME,
                "project_name": PROJECT_NAME,
                "user_domain_name": DOMAIN["name"],
                "project_domain_name": DOMAIN["name"],
            }
            secret = {"password": cloud.password}
        if cloud.multi_region:
            entry["regions"] = list(cloud.regions)
        else:
            entry["region_name"] = cloud.regions[0]
        entry["identity_api_version"] = 3
        entry["interface"] = "public"
        clouds[cloud.name] = entry
        secrets[cloud.name] = {"auth": secret}
    groups: dict[str, Any] = {}
    if any(c.core for c in fleet.clouds.values()):
        groups["core"] = {"sites": ["core-*"]}
    if any(not c.core for c in fleet.clouds.values()):
        groups["edge"] = {"sites": ["edge-*"]}
    return {"edgeshade": {"groups": groups}, "clouds": clouds}, {"clouds": secrets}


def _write(path: str, text: str, mode: int) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_config(fleet: SimFleet, directory: str) -> tuple[str, str]:
    """Write both files into ``directory`` (created if needed); returns their paths."""
    os.makedirs(directory, exist_ok=True)
    clouds_doc, secure_doc = fleet_config(fleet)
    header = (
        f"# Simulated fleet: {len(fleet.sites)} sites, seed {fleet.seed}, served at "
        f"{fleet.base_url}\n# Written by edgeshade.sim; start it again with the same seed and "
        "port to reuse.\n"
    )
    clouds_path = os.path.join(directory, "clouds.yaml")
    secure_path = os.path.join(directory, "secure.yaml")
    dump = dict(Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
    _write(secure_path, header + yaml.dump(secure_doc, **dump), 0o600)
    _write(clouds_path, header + yaml.dump(clouds_doc, **dump), 0o644)
    return clouds_path, secure_path
