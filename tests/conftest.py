"""Shared fixtures: a small fleet config on disk, isolated from the user's own files."""

from __future__ import annotations

import os
import textwrap

import pytest

#: Clouds deliberately not in alphabetical order (core-east is declared last), so
#: a test of "clouds.yaml order" fails if sites ever get sorted.
CLOUDS = """
edgeshade:
  groups:
    datacenters:
      sites: ["dc-*", "core-*"]
    eu:
      sites: ["edge-ber*", "dc-west:RegionTwo"]
      vars: {ntp: 10.0.0.1, zone: eu, tier: from-eu}
    late:
      sites: [edge-berlin]
      vars: {tier: from-late}
clouds:
  dc-west:
    auth:
      auth_url: http://dc-west.example:5000/v3
      username: admin
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    regions: [RegionOne, RegionTwo]
  edge-berlin:
    auth:
      auth_url: http://edge-berlin.example:5000/v3
      username: admin
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    edgeshade:
      groups: [pilot]
      vars: {zone: berlin, cidr: 10.1.0.0/24}
  edge-paris:
    auth_type: v3applicationcredential
    auth:
      auth_url: http://edge-paris.example:5000/v3
      application_credential_id: abc123
    region_name: RegionOne
  core-east:
    auth:
      auth_url: https://core-east.example/identity/v3
      username: admin
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
"""

SECURE = """
clouds:
  dc-west:
    auth: {password: dc-secret-pw}
  edge-berlin:
    auth: {password: berlin-secret-pw}
  edge-paris:
    auth: {application_credential_secret: paris-app-secret}
  core-east:
    auth: {password: core-secret-pw}
"""

#: Site names of CLOUDS in clouds.yaml order.
ALL_SITES = ["dc-west/RegionOne", "dc-west/RegionTwo", "edge-berlin", "edge-paris", "core-east"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Never read the developer's ~/.config/openstack, ./clouds.yaml or state.

    openstack.config computes its search paths at import time, so a new HOME is
    not enough: the module-level lists are pointed at the temporary home too.
    """
    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("EDGESHADE_STATE_DIR", str(tmp_path / "state"))

    from openstack.config import loader

    config_dir = home / ".config" / "openstack"
    monkeypatch.setattr(
        loader, "CONFIG_FILES", [str(config_dir / f"clouds.{ext}") for ext in ("yaml", "yml")]
    )
    monkeypatch.setattr(
        loader, "SECURE_FILES", [str(config_dir / f"secure.{ext}") for ext in ("yaml", "yml")]
    )


@pytest.fixture
def fleet_files(tmp_path):
    """(clouds.yaml, secure.yaml) paths; secure.yaml is 0600 next to clouds.yaml.

    Four clouds, five sites: a two-region cloud (dc-west), groups declared in the
    top-level ``edgeshade:`` section and on a cloud itself (edge-berlin), an
    application-credential cloud, and every password only in secure.yaml.
    """
    directory = tmp_path / "fleet"
    directory.mkdir()
    clouds = directory / "clouds.yaml"
    secure = directory / "secure.yaml"
    clouds.write_text(textwrap.dedent(CLOUDS))
    secure.write_text(textwrap.dedent(SECURE))
    secure.chmod(0o600)
    return str(clouds), str(secure)


@pytest.fixture
def write_clouds(tmp_path):
    """Write a clouds.yaml (dedented) to a fresh file and return its path."""
    counter = [0]

    def write(text: str, name: str = "clouds.yaml") -> str:
        counter[0] += 1
        directory = tmp_path / f"cfg{counter[0]}"
        directory.mkdir()
        path = directory / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    return write
