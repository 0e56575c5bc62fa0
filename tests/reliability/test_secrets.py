"""No secret in any output channel of a run, and warnings for readable secret files.

Known secrets: every password and application credential secret of the
simulated fleet's secure.yaml, a token given in secure.yaml (a ``v3token``
cloud), and every token the simulated Keystones issued during the runs. The
runs include sites that fail (refused, 401, a rotated password, a malformed
answer, TLS), because error paths are where secrets leak. Channels: stdout
and stderr of ``edgeshade status`` with ``--debug --http-debug`` in every
format, the library's own log records at DEBUG (keystoneauth included, without
the CLI's redacting filter), the text and traceback of every exception raised
at a site, the results, the state store files, and the Ansible modules'
argument specs (``no_log``).
"""

from __future__ import annotations

import ast
import json
import logging
import stat
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import yaml

import edgeshade
from edgeshade.sim import SimFleet, SimServer
from edgeshade.tasks.status import status

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
FAULTS = "refused=1,401=1,rotated=1,expire=1,malformed=1,tls=1,500@compute=1"


def _leaves(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _leaves(value)
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value)
    elif node is not None:
        yield str(node)


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("secrets")
    fleet = SimFleet(sites=16, seed=5, latency_ms=2, faults=FAULTS)
    token_cloud = next(c.name for c in fleet.clouds.values()
                       if not c.core and not c.app_cred_id and fleet.fault_of(c.name) is None)
    with SimServer(fleet) as server:
        clouds_path, secure_path = server.write_config(str(tmp))
        # One cloud authenticates with a token given in secure.yaml (v3token).
        given_token, _info = server.call_in_loop(
            lambda: server.app.tokens.issue(token_cloud, None, ["password"])
        )
        clouds = yaml.safe_load(open(clouds_path))
        secure = yaml.safe_load(open(secure_path))
        auth = clouds["clouds"][token_cloud]["auth"]
        clouds["clouds"][token_cloud]["auth_type"] = "v3token"
        clouds["clouds"][token_cloud]["auth"] = {
            "auth_url": auth["auth_url"], "project_name": "admin",
            "project_domain_name": "Default"}
        secure["clouds"][token_cloud] = {"auth": {"token": given_token}}
        Path(clouds_path).write_text(yaml.safe_dump(clouds))
        Path(secure_path).write_text(yaml.safe_dump(secure))
        secure_values = set(_leaves(secure))
        assert given_token in secure_values and len(secure_values) == len(fleet.clouds)

        state_dir = tmp / "state"
        outputs = {}
        base = [sys.executable, "-m", "edgeshade", "--os-config-file", clouds_path,
                "--state-dir", str(state_dir), "--timeout", "4", "--debug", "--http-debug"]
        runs = {"json": ([], ["-f", "json"]), "yaml": ([], ["-f", "yaml"]),
                "table": (["--token-cache"], [])}
        for name, (global_opts, command_opts) in runs.items():
            proc = subprocess.run([*base, *global_opts, "status", *command_opts],
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 2, proc.stderr[-2000:]
            outputs[name] = proc

        # In-process: raw library logs and every exception raised at a site.
        records: list[str] = []

        class Keep(logging.Handler):
            def emit(self, record):
                records.append(self.format(record))

        handler = Keep(level=logging.DEBUG)
        handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        levels = {n: logging.getLogger(n).level for n in ("keystoneauth", "urllib3", "edgeshade")}
        for name in levels:
            logging.getLogger(name).setLevel(logging.DEBUG)
        raised: list[str] = []

        def watched(conn, site, **params):
            try:
                return status(conn, site, **params)
            except Exception as exc:
                raised.append(repr(exc) + str(exc) + "".join(traceback.format_exception(exc)))
                raise

        try:
            result = edgeshade.connect("all", config_file=clouds_path, timeout=4,
                                       use_state=False).run(watched)
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
        issued = set(server.call_in_loop(lambda: list(server.app.tokens._tokens)))
    return {
        "secure_values": secure_values, "tokens": issued | {given_token},
        "outputs": outputs, "records": records, "raised": raised, "result": result,
        "token_cloud": token_cloud, "state_dir": state_dir, "secure_path": secure_path,
        "clouds_path": clouds_path,
    }


def _leaks(secrets, text: str) -> list[str]:
    return sorted(s[:6] + "..." for s in secrets if s in text)


def test_cli_output_in_every_format_with_debug_has_no_secret(fleet_run) -> None:
    secrets = fleet_run["secure_values"] | fleet_run["tokens"]
    for name, proc in fleet_run["outputs"].items():
        assert "X-Auth-Token" in proc.stderr  # the debug output is really there
        assert not _leaks(secrets, proc.stdout), (name, "stdout")
        assert not _leaks(secrets, proc.stderr), (name, "stderr")
        assert "Traceback" not in proc.stderr
    data = json.loads(fleet_run["outputs"]["json"].stdout)
    states = {s["site"]: s["state"] for s in data["sites"]}
    assert states[fleet_run["token_cloud"]] == "ok"  # the token cloud really authenticated
    assert {"unreachable", "auth_failed", "error", "critical"} <= set(states.values())


def test_library_logs_exceptions_and_results_have_no_secret(fleet_run) -> None:
    secrets = fleet_run["secure_values"] | fleet_run["tokens"]
    assert len(fleet_run["records"]) > 100 and fleet_run["raised"]
    assert not _leaks(secrets, "\n".join(fleet_run["records"]))
    assert not _leaks(secrets, "\n".join(fleet_run["raised"]))
    result = fleet_run["result"]
    assert not _leaks(secrets, json.dumps(result.to_dict(), default=str))
    assert not _leaks(secrets, yaml.safe_dump(json.loads(json.dumps(result.to_dict()))))


def test_state_store_holds_no_secret_and_no_token(fleet_run) -> None:
    state_dir = fleet_run["state_dir"]
    secrets = fleet_run["secure_values"] | fleet_run["tokens"]
    files = [p for p in state_dir.iterdir() if p.name.startswith("state.db")]
    assert files
    for path in files:
        blob = path.read_bytes().decode("latin-1")
        assert not _leaks(secrets, blob), path.name
    db = state_dir / "state.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    # Tokens live only in the opt-in token cache, which is private.
    tokens = state_dir / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600


def _edgeshade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeshade", *args], capture_output=True,
                          text=True, timeout=60)


def test_readable_secure_yaml_and_state_db_are_warned_about(fleet_run, tmp_path) -> None:
    secure = Path(fleet_run["secure_path"])
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    db = state_dir / "state.db"
    db.touch()
    try:
        secure.chmod(0o644)
        db.chmod(0o640)
        proc = _edgeshade("--os-config-file", fleet_run["clouds_path"], "--state-dir",
                          str(state_dir), "--timeout", "2", "status", "-C", "edge-00002",
                          "-f", "json")
    finally:
        secure.chmod(0o600)
    warnings = [line for line in proc.stderr.splitlines() if "readable by group/others" in line]
    assert any(str(secure) in w and "chmod 600" in w for w in warnings), proc.stderr
    assert any(str(db) in w for w in warnings), proc.stderr
    assert not _leaks(fleet_run["secure_values"], proc.stderr)


def _option_specs(tree: ast.AST):
    """(option name, its dict(...) keywords) for every ``name=dict(type=...)`` in a file."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dict":
            for kw in node.keywords:
                value = kw.value
                if (kw.arg and isinstance(value, ast.Call)
                        and getattr(value.func, "id", None) == "dict"
                        and any(k.arg == "type" for k in value.keywords)):
                    yield kw.arg, {k.arg: ast.literal_eval(k.value) for k in value.keywords
                                   if k.arg in ("type", "no_log")}


def test_ansible_secret_options_are_no_log() -> None:
    secret_like = ("password", "secret", "token", "credential", "passcode", "key")
    checked = []
    for path in sorted((REPO / "plugins").rglob("*.py")):
        for name, spec in _option_specs(ast.parse(path.read_text())):
            if not any(word in name for word in secret_like):
                continue
            checked.append(name)
            if spec.get("type") == "bool":  # a flag such as token_cache carries no secret
                assert spec.get("no_log") is False, (path.name, name)
            else:
                assert spec.get("no_log") is True, f"{path.name}: option {name} needs no_log"
    assert "secrets" in checked and "token_cache" in checked
