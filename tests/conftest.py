"""Shared fixtures: a small fleet config on disk, isolated from the user's own files."""

from __future__ import annotations

import logging
import os
import textwrap

import pytest

CLOUDS = """
edgeshade:
  groups:
    datacenters:
      sites: ["dc-*"]
    eu:
      sites: ["edge-ber*", "dc-west:RegionTwo"]
      vars: {ntp: 10.0.0.1, zone: eu}
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
"""

SECURE = """
clouds:
  dc-west:
    auth: {password: dc-secret-pw}
  edge-berlin:
    auth: {password: berlin-secret-pw}
  edge-paris:
    auth: {application_credential_secret: paris-app-secret}
"""


@pytest.fixture(autouse=True)
def _restore_logging():
    """In-process CLI runs reconfigure logging (root handler, library levels): undo it."""
    def ours(handlers):  # pytest's capture handlers come and go per phase: not ours to keep
        return [h for h in handlers if not type(h).__module__.startswith("_pytest")]

    root = logging.getLogger()
    handlers, level = ours(root.handlers), root.level
    names = ("edgeshade", "keystoneauth", "keystoneauth.session", "openstack", "urllib3",
             "stevedore", "py.warnings")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    logging.captureWarnings(False)
    root.handlers[:] = [h for h in root.handlers if h not in ours(root.handlers)] + handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Never read the developer's ~/.config/openstack or state."""
    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("EDGESHADE_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def fleet_files(tmp_path):
    """(clouds.yaml, secure.yaml) paths; secure.yaml is 0600 next to clouds.yaml."""
    clouds = tmp_path / "clouds.yaml"
    secure = tmp_path / "secure.yaml"
    clouds.write_text(textwrap.dedent(CLOUDS))
    secure.write_text(textwrap.dedent(SECURE))
    secure.chmod(0o600)
    return str(clouds), str(secure)
