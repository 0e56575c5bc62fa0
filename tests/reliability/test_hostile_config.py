"""Hostile clouds.yaml / secure.yaml: always a one-line error (exit 3) or a valid run.

Fuzzed with hypothesis: random YAML structures, wrong types in every field of
a valid config, huge values, unicode, syntax garbage, deep nesting and alias
bombs. Never a traceback, never a hang (each example is timed), and a secret
of secure.yaml never appears in an error message.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import socket
import tempfile
import time

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from edgeshade.cli import main

pytestmark = pytest.mark.timeout(240)

MARK = "S3cr3t-Fuzz-"  # every secret of the fuzzed secure.yaml starts with this
#: Seconds one example may take: loading a small file is milliseconds.
SLOW = 10.0
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])



@pytest.fixture
def loopback_only(monkeypatch):
    """A fuzzed auth_url must never make a run resolve a real name (a slow DNS = a hang)."""
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost"):
            raise socket.gaierror(socket.EAI_NONAME, f"not resolving {host!r} in a test")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


names = st.text(alphabet=st.sampled_from("abcXYZ-_./:*é雲0 "), min_size=1, max_size=12)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["", "~", "null", "yes", "0x1F", "1e999", "http://", "::", "@", "!",
                     "x" * 100_000, "é" * 5000, "\u202e\u0000"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(names, st.integers()), inner, max_size=4)),
    max_leaves=12,
)


def _cloud(i: int, app_cred: bool, regions: int) -> dict:
    auth = {"auth_url": "http://127.0.0.1:9/identity"}
    if app_cred:
        entry: dict = {"auth_type": "v3applicationcredential",
                       "auth": {**auth, "application_credential_id": f"id{i}"}}
    else:
        entry = {"auth": {**auth, "username": "admin", "project_name": "admin",
                          "user_domain_name": "Default", "project_domain_name": "Default"}}
    if regions > 1:
        entry["regions"] = [f"R{r}" for r in range(regions)]
    else:
        entry["region_name"] = "RegionOne"
    return entry


@st.composite
def documents(draw) -> tuple[dict, dict]:
    """A valid (clouds, secure) pair, then a few fields replaced by anything at all."""
    count = draw(st.integers(1, 3))
    clouds = {"clouds": {}}
    secure = {"clouds": {}}
    for i in range(count):
        name = draw(names)
        app_cred = draw(st.booleans())
        clouds["clouds"][name] = _cloud(i, app_cred, draw(st.integers(1, 2)))
        key = "application_credential_secret" if app_cred else "password"
        secure["clouds"][name] = {"auth": {key: f"{MARK}{i}-{draw(st.integers(0, 999))}"}}
    if draw(st.booleans()):
        clouds["edgeshade"] = {"groups": {"g": {"sites": ["*"], "vars": {"a": 1}}}}
    for _ in range(draw(st.integers(0, 3))):
        doc = draw(st.sampled_from([clouds, secure]))
        node, path = doc, []
        while isinstance(node, dict) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node, key=str)))
            path.append(key)
            if not isinstance(node[key], dict):
                break
            node = node[key]
        target = doc
        for key in path[:-1]:
            target = target[key]
        if path and isinstance(target, dict):
            target[path[-1]] = draw(values)
        elif draw(st.booleans()):
            doc[draw(names)] = draw(values)
    return clouds, secure


def _bomb(levels: int, width: int, where: str) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    anchors = "\n".join("  " + line for line in lines)
    if where == "top":
        return "\n".join(lines) + "\n"
    return (f"x-anchors:\n{anchors}\nclouds:\n  c:\n    auth:\n      auth_url: http://127.0.0.1:9\n"
            f"      username: *a{levels - 1}\n    region_name: *a{levels - 1}\n")


raw_texts = st.one_of(
    st.text(max_size=300),
    st.builds(lambda t: "clouds:\n  " + t, st.text(max_size=200)),
    st.builds(_bomb, st.integers(2, 12), st.integers(2, 12), st.sampled_from(["top", "cloud"])),
    st.builds(lambda n, open_, close: open_ * n + close * n, st.integers(100, 20000),
              st.sampled_from(["[", "{a: "]), st.sampled_from(["]", "}"])),
    st.builds(lambda n: "clouds:\n" + "".join(" " * (2 * i) + f"k{i}:\n" for i in range(n)),
              st.integers(100, 600)),
    st.just("clouds: !!python/object/apply:os.system ['true']\n"),
    st.just("\ufeffclouds: {c: {auth: {auth_url: http://127.0.0.1:9}}}\n"),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
)


def _dump(doc) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, ValueError, OverflowError):
        return "clouds: {}\n"


def _cli(clouds_text: str, secure_text: str, *args: str) -> tuple[int, str, str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        clouds = os.path.join(tmp, "clouds.yaml")
        secure = os.path.join(tmp, "secure.yaml")
        with open(clouds, "w", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(clouds_text)
        fd = os.open(secure, os.O_CREAT | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(secure_text)
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(["--os-config-file", clouds, "--os-secure-file", secure,
                             "--no-state", *args])
            except BaseException as exc:  # noqa: BLE001 - any escape is the bug we look for
                pytest.fail(f"{type(exc).__name__} escaped: {exc!r}\n{clouds_text[:500]!r}")
        return code, out.getvalue(), err.getvalue(), time.monotonic() - started


def _check(code: int, stdout: str, stderr: str, took: float, allowed: tuple[int, ...]) -> None:
    event(f"exit {code}")
    assert took < SLOW, f"took {took:.1f} s"
    assert code in allowed, (code, stderr[-500:])
    assert "Traceback" not in stderr and "Traceback" not in stdout
    assert MARK not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith("edgeshade: warning:")]
    if code == 3:
        assert len(errors) == 1 and errors[0].startswith("edgeshade: error: "), stderr[-800:]
        assert len(errors[0]) < 2000
    if code in (0, 1, 2):
        assert not errors, stderr[-800:]


@settings(max_examples=150, **SETTINGS)
@given(documents())
def test_fuzzed_config_lists_or_fails_in_one_line(doc) -> None:
    clouds, secure = doc
    code, out, err, took = _cli(_dump(clouds), _dump(secure), "clouds", "-f", "json")
    _check(code, out, err, took, (0, 3))
    assert MARK not in out  # `clouds` shows no auth secret


@settings(max_examples=30, **SETTINGS)
@given(documents())
def test_fuzzed_config_status_runs_or_fails_in_one_line(loopback_only, doc) -> None:
    """Every site of a run ends in a state; nothing is reachable (port 9), so this is fast."""
    clouds, secure = doc
    code, out, err, took = _cli(_dump(clouds), _dump(secure), "--timeout", "2", "status",
                                "-f", "json")
    _check(code, out, err, took, (0, 1, 2, 3))
    if code != 3:
        assert '"sites"' in out
        assert MARK not in out


@settings(max_examples=120, **SETTINGS)
@given(raw_texts, st.sampled_from(["clouds", "secure"]))
def test_garbage_bombs_and_deep_nesting_fail_in_one_line(text, which) -> None:
    valid = "clouds:\n  c:\n    auth: {auth_url: 'http://127.0.0.1:9', username: u}\n"
    secure_ok = f"clouds:\n  c:\n    auth: {{password: {MARK}x}}\n"
    clouds_text, secure_text = (text, secure_ok) if which == "clouds" else (valid, text)
    code, out, err, took = _cli(clouds_text, secure_text, "clouds", "-f", "json")
    _check(code, out, err, took, (0, 3))


def test_alias_bomb_is_refused_quickly() -> None:
    code, _out, err, took = _cli(_bomb(9, 9, "cloud"), "", "clouds")
    assert code == 3 and "YAML expands to more than" in err and took < 2, (err, took)
    code, _out, err, took = _cli("[" * 100_000 + "]" * 100_000, "", "clouds")
    assert code == 3 and "nested deeper" in err, err
    assert math.isfinite(took)
