"""Unit-test fixtures on top of tests/conftest.py (fleet_files, the isolated environment)."""

from __future__ import annotations

import textwrap

import pytest


@pytest.fixture(autouse=True)
def _isolated_search_path(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Point openstack.config's search lists at the temporary HOME.

    openstack.config computes them (./clouds.yaml, ~/.config/openstack/...) when
    it is imported, so the new HOME set by tests/conftest.py alone does not stop
    it from reading the developer's own files.
    """
    from openstack.config import loader

    config_dir = tmp_path / "home" / ".config" / "openstack"
    monkeypatch.setattr(
        loader, "CONFIG_FILES", [str(config_dir / f"clouds.{ext}") for ext in ("yaml", "yml")]
    )
    monkeypatch.setattr(
        loader, "SECURE_FILES", [str(config_dir / f"secure.{ext}") for ext in ("yaml", "yml")]
    )


@pytest.fixture
def write_clouds(tmp_path):
    """``write(text, name='clouds.yaml') -> path``: dedented text in a fresh directory."""
    counter = [0]

    def write(text: str, name: str = "clouds.yaml") -> str:
        counter[0] += 1
        directory = tmp_path / f"cfg{counter[0]}"
        directory.mkdir()
        path = directory / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    return write


@pytest.fixture
def private_registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A copy of the task registry for this test, so tasks it registers do not leak.

    The built-in task modules are imported first: imported while the copy is in
    place, they would register into the copy only and vanish with it.
    """
    from edgeshade import tasks

    tasks._load_builtins()
    registry = dict(tasks._REGISTRY)
    monkeypatch.setattr(tasks, "_REGISTRY", registry)
    return registry
