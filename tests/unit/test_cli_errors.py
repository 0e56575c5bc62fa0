"""The CLI's input errors: exit code 3, one line on stderr, nothing contacted.

``edgeshade.cli.main(argv)`` returns the exit code instead of exiting, so the
commands run in-process; a socket guard proves no site is contacted.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from edgeshade.cli import main


@pytest.fixture
def no_network(monkeypatch) -> list:
    """Every attempt to open a connection is recorded and refused."""
    attempts: list = []

    def guarded(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network access in a unit test")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded)
    monkeypatch.setattr(socket, "create_connection", lambda addr, *a, **k: guarded(None, addr))
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: guarded(None, host))
    return attempts


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, *fragments: str) -> None:
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("edgeshade: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], err


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--cloud", "nope", "status"], ["unknown cloud or group 'nope'"]),
        (["--cloud", "zz-*", "status"], ["selector 'zz-*' matches no site"]),
        (["status", "--cloud", "@nogroup"], ["unknown group 'nogroup'"]),
        (["clouds", "dc-west:Nowhere"], ["matches no site"]),
    ],
)
def test_bad_selector_exits_3_with_one_line(capsys, fleet_files, no_network, args,
                                            fragments) -> None:
    code, out, err = run_cli(capsys, "--os-config-file", fleet_files[0], *args)
    assert code == 3
    assert_one_error_line(err, fleet_files[0], *fragments)
    assert out == "" and no_network == []


def test_missing_config_file_exits_3(capsys, tmp_path, no_network) -> None:
    missing = str(tmp_path / "missing.yaml")
    code, out, err = run_cli(capsys, "--os-config-file", missing, "status")
    assert code == 3
    assert_one_error_line(err, missing, "no such file")


def test_no_config_anywhere_exits_3(capsys, no_network) -> None:
    code, _out, err = run_cli(capsys, "clouds")
    assert code == 3
    assert_one_error_line(err, "no clouds.yaml found")


def test_yaml_error_exits_3_naming_the_line(capsys, write_clouds, no_network) -> None:
    path = write_clouds("clouds:\n  a:\n    auth:\n      auth_url: http://x\n     bad: 1\n")
    code, _out, err = run_cli(capsys, "--os-config-file", path, "status")
    assert code == 3
    assert_one_error_line(err, f"{path}:5: YAML syntax error")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--threshold", "nonsense"], ["--threshold 'nonsense': expected KEY=VALUE"]),
        (["-t", "=5"], ["expected KEY=VALUE"]),
        (["--threshold", "bogus=1"], ["unknown threshold 'bogus'"]),
        (["--threshold", "quota_warning_percent=lots"], ["'lots' is not a number"]),
        (["--checks", "compute,bogus"], ["unknown check(s) bogus"]),
        (["-c", "bogus"], ["unknown column 'bogus'"]),
    ],
)
def test_bad_status_options_exit_3_before_contacting_any_site(
    capsys, fleet_files, no_network, tmp_path, args, fragments
) -> None:
    state_dir = tmp_path / "state-dir"
    code, out, err = run_cli(capsys, "--os-config-file", fleet_files[0],
                             "--state-dir", str(state_dir), "status", *args)
    assert code == 3
    assert_one_error_line(err, *fragments)
    assert out == ""
    assert no_network == []  # exit 3 means nothing was checked
    assert not (state_dir / "state.db").exists()  # and nothing was recorded


@pytest.mark.parametrize(
    "args",
    [["--no-such-option"], ["status", "--no-such-option"], ["--timeout", "abc", "status"],
     ["--format", "xml", "status"], ["no-such-command"]],
)
def test_usage_errors_exit_3_not_2(capsys, fleet_files, args) -> None:
    code, out, err = run_cli(capsys, "--os-config-file", fleet_files[0], *args)
    assert code == 3
    assert_one_error_line(err)
    assert out == ""


def test_clouds_lists_sites_as_json_without_network(capsys, fleet_files, no_network) -> None:
    code, out, err = run_cli(capsys, "--os-config-file", fleet_files[0], "clouds", "-f", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["site"] for r in rows] == [
        "dc-west/RegionOne", "dc-west/RegionTwo", "edge-berlin", "edge-paris"
    ]
    assert rows[1] == {
        "site": "dc-west/RegionTwo", "cloud": "dc-west", "region": "RegionTwo",
        "groups": ["datacenters", "eu"], "auth_url": "http://dc-west.example:5000/v3",
        "auth_type": "password", "vars": {"ntp": "10.0.0.1", "zone": "eu"},
    }
    for secret in ("dc-secret-pw", "berlin-secret-pw", "paris-app-secret"):
        assert secret not in out
    assert no_network == [] and err == ""


def test_clouds_selectors_as_arguments_and_options(capsys, fleet_files, no_network) -> None:
    code, out, _err = run_cli(capsys, "--os-config-file", fleet_files[0], "clouds", "@eu",
                              "-f", "yaml")
    assert code == 0
    assert "site: dc-west/RegionTwo" in out and "site: edge-berlin" in out
    assert "edge-paris" not in out
    code, out, _err = run_cli(capsys, "--os-config-file", fleet_files[0], "-C", "edge-*",
                              "clouds", "-C", "!edge-paris", "-f", "json")
    assert [r["site"] for r in json.loads(out)] == ["edge-berlin"]


def test_clouds_table_ends_with_the_count(capsys, fleet_files, no_network) -> None:
    code, out, _err = run_cli(capsys, "--os-config-file", fleet_files[0], "clouds")
    assert code == 0
    assert out.rstrip().splitlines()[-1] == f"4 sites from {fleet_files[0]}"


def test_os_client_config_file_env_reaches_the_cli(capsys, fleet_files, monkeypatch,
                                                   no_network) -> None:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", fleet_files[0])
    code, out, _err = run_cli(capsys, "clouds", "-f", "json", "edge-paris")
    assert code == 0 and [r["site"] for r in json.loads(out)] == ["edge-paris"]


def test_world_readable_secure_yaml_warns_on_stderr(capsys, fleet_files, no_network) -> None:
    Path(fleet_files[1]).chmod(0o644)
    code, _out, err = run_cli(capsys, "--os-config-file", fleet_files[0], "clouds", "-f", "json")
    assert code == 0
    assert err.startswith("edgeshade: warning: ") and "chmod 600" in err


def test_the_network_guard_sees_a_real_run(capsys, fleet_files, no_network) -> None:
    """Proves the 'nothing contacted' assertions above can fail: a valid run does connect."""
    code, out, _err = run_cli(capsys, "--os-config-file", fleet_files[0], "--no-state",
                              "--timeout", "5", "status", "-C", "edge-berlin", "-f", "json")
    assert code == 2
    assert json.loads(out)["sites"][0]["state"] == "unreachable"
    assert no_network
