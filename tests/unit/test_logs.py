"""Secrets never reach a log line, whoever logged them."""

from __future__ import annotations

import logging

import pytest

from edgeshade.config import FleetConfig
from edgeshade.logs import REDACTED, RedactingFilter, collect_secrets, redact

#: keystoneauth's debug lines, as logged with --http-debug.
CURL_REQ = (
    'REQ: curl -g -i -X GET http://h:8774/v2.1/limits -H "Accept: application/json" '
    '-H "User-Agent: edgeshade keystoneauth1/5.18.1" -H "X-Auth-Token: gAAAAABnTOKENvalue123"'
)
TOKEN_REQ_BODY = (
    'REQ: curl -g -i -X POST http://h:5000/v3/auth/tokens -d \'{"auth": {"identity": '
    '{"methods": ["password"], "password": {"user": {"name": "admin", '
    '"password": "hunter2-pw", "domain": {"name": "Default"}}}}}}\''
)
TOKEN_RESP = (
    "RESP: [201] Content-Type: application/json Date: Mon, 23 Nov 2026 09:00:00 GMT "
    "X-Subject-Token: gAAAAABsubjectTOKEN456 Vary: X-Auth-Token"
)
APP_CRED_BODY = (
    '{"auth": {"identity": {"methods": ["application_credential"], '
    '"application_credential": {"id": "abc123", "secret": "app-cred-s3cret"}}}}'
)


@pytest.mark.parametrize(
    ("line", "secret", "kept"),
    [
        (CURL_REQ, "gAAAAABnTOKENvalue123", "http://h:8774/v2.1/limits"),
        (TOKEN_REQ_BODY, "hunter2-pw", '"name": "admin"'),
        (TOKEN_RESP, "gAAAAABsubjectTOKEN456", "Vary: X-Auth-Token"),
        (APP_CRED_BODY, "app-cred-s3cret", '"id": "abc123"'),
        ("{'X-Auth-Token': 'gAAAAdictToken', 'Accept': 'json'}", "gAAAAdictToken", "'Accept'"),
        ('{"application_credential_secret": "acs-value"}', "acs-value", "application_credential"),
        ("POST /token grant_type=password&password=form-pw&user=x", "form-pw", "&user=x"),
        ("client_secret=oidc-secret&scope=openid", "oidc-secret", "&scope=openid"),
        ("PASSWORD: 'upper-case-pw'", "upper-case-pw", "PASSWORD"),
    ],
)
def test_redact_removes_secret_and_keeps_the_rest(line, secret, kept) -> None:
    out = redact(line)
    assert secret not in out
    assert REDACTED in out
    assert kept in out


def test_redact_leaves_harmless_text_alone() -> None:
    text = "GET http://h/v2.1/servers?status=ERROR -> 200 in 12 ms"
    assert redact(text) == text


def test_known_secret_values_are_removed_anywhere() -> None:
    assert redact("weird place: pw=longsecret;", {"longsecret"}) == f"weird place: pw={REDACTED};"
    assert redact("nothing here", {"", "longsecret"}) == "nothing here"


def test_collect_secrets_from_a_config_tree() -> None:
    tree = {"clouds": {
        "a": {"auth": {"password": "p4ssword", "username": "admin"}},
        "b": {"auth": {"application_credential_secret": "appsecret",
                       "application_credential_id": "id-not-secret"}},
        "c": {"auth": {"token": "tok-value"}, "extra": [{"client_secret": "oidc-s"}]},
        "d": {"auth": {"password": "abc"}},  # too short to redact everywhere
    }}
    assert collect_secrets(tree) == {"p4ssword", "appsecret", "tok-value", "oidc-s"}


def test_collect_secrets_finds_secure_yaml_values(fleet_files) -> None:
    """What the CLI feeds the log filter: every secret merged from secure.yaml."""
    config = FleetConfig(fleet_files[0])
    secrets = collect_secrets(config.openstack_config.cloud_config)
    assert {"dc-secret-pw", "berlin-secret-pw", "paris-app-secret"} <= secrets
    assert "admin" not in secrets and "abc123" not in secrets


def test_filter_rewrites_records_with_secrets_in_args(caplog) -> None:
    logger = logging.getLogger("edgeshade.test.redact")
    redactor = RedactingFilter({"topsecretvalue"})
    logger.addFilter(redactor)
    try:
        with caplog.at_level(logging.INFO, logger="edgeshade.test.redact"):
            logger.info("sending %s to %s", "topsecretvalue", "site-a")
            logger.info("header %s", "X-Auth-Token: gAAAAAbc")
    finally:
        logger.removeFilter(redactor)
    assert "topsecretvalue" not in caplog.text and "gAAAAAbc" not in caplog.text
    assert f"sending {REDACTED} to site-a" in caplog.text
    assert all(r.args is None for r in caplog.records)


def test_filter_redacts_exception_text(caplog) -> None:
    logger = logging.getLogger("edgeshade.test.redact-exc")
    redactor = RedactingFilter({"pw-in-exception"})
    logger.addFilter(redactor)
    try:
        with caplog.at_level(logging.ERROR, logger="edgeshade.test.redact-exc"):
            try:
                raise RuntimeError("login failed with pw-in-exception")
            except RuntimeError:
                logger.exception("site a failed")
    finally:
        logger.removeFilter(redactor)
    assert "pw-in-exception" not in caplog.text
    assert "site a failed (RuntimeError: login failed with <redacted>)" in caplog.text


def test_keystoneauth_hashed_token_header_is_redacted_whole() -> None:
    from edgeshade.logs import redact

    line = 'curl -g -i -X GET http://x/v3 -H "X-Auth-Token: {SHA256}9f86d081884c7d65"'
    assert redact(line).endswith('-H "X-Auth-Token: <redacted>"')


def test_http_debug_does_not_outlive_its_run() -> None:
    import logging

    from edgeshade import logs

    logs.setup(http_debug=True)
    assert logging.getLogger("keystoneauth.session").isEnabledFor(logging.DEBUG)
    logs.setup()
    assert not logging.getLogger("keystoneauth.session").isEnabledFor(logging.DEBUG)
