"""``ansible-test sanity`` on the collection as ``ansible-galaxy collection build`` makes it.

Why from the installed tarball: ansible-test needs the ``ansible_collections/edgeshade/cloud/``
layout, and checking the built artifact also proves that everything sanity needs (the
tests/sanity ignore files) is in it. Why a private HOME: ansible-test keeps its per-test
virtualenvs under ``~/.ansible/test``; they go to ``<venv>/ansible-test-home`` instead (reused
between local runs, fresh in CI's fresh venv), never into the user's ~/.ansible. ansible-test
bootstraps pip in those virtualenvs with a script from a host that is not a package registry; a
stand-in that does the same with ``ensurepip`` and pip from the package index is put in its
cache. The virtualenvs' packages come from the index with ansible-test's own pins.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ansible_test", reason="needs the 'ansible' extra (ansible-core)")

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

GET_PIP_STANDIN = '''\
"""Stand-in for get-pip.py, written by tests/integration/test_ansible_sanity.py."""
import subprocess
import sys

# A process of its own: ensurepip hides pip's configuration (index, certificates) from its env.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
'''


def _pip_version() -> str:
    """The pip version ansible-test bootstraps (its get-pip cache file is named after it)."""
    import ansible_test

    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    found = re.search(r"pip='([0-9.]+)'", source.read_text())
    assert found, f"no pip version in {source}"
    return found.group(1)


def _home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("EDGESHADE_ANSIBLE_TEST_HOME"):
        return Path(os.environ["EDGESHADE_ANSIBLE_TEST_HOME"])
    if sys.prefix != sys.base_prefix and os.access(sys.prefix, os.W_OK):
        return Path(sys.prefix) / "ansible-test-home"
    return tmp_path_factory.mktemp("ansible-test-home")


def test_sanity(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    build = subprocess.run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "build",
            "--output-path",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr + build.stdout
    tarball = next(tmp_path.glob("edgeshade-cloud-*.tar.gz"))
    install = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ANSIBLE_HOME": str(tmp_path / "ansible-home")},
    )
    assert install.returncode == 0, install.stderr + install.stdout
    collection = tmp_path / "ansible_collections" / "edgeshade" / "cloud"

    home = _home(tmp_path_factory)
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"get_pip_{_pip_version().replace('.', '_')}.py").write_text(GET_PIP_STANDIN)

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    proc = subprocess.run(
        [str(BIN / "ansible-test"), "sanity", "--local", "--python", python, "--color", "no"],
        cwd=collection,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HOME": str(home)},
        timeout=840,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-8000:]
    assert "sanity test(s) listed below" not in output
