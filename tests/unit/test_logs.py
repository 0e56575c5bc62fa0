"""Secrets never reach a log line, whoever logged them."""

from __future__ import annotations

import logging

from edgeshade.logs import REDACTED, RedactingFilter, collect_secrets, redact


def test_redacts_curl_style_headers_and_json_bodies() -> None:
    line = ('REQ: curl -g -i -X POST http://h/v3/auth/tokens -H "X-Auth-Token: gAAAAAbc123" '
            '-d \'{"auth": {"identity": {"password": {"user": {"password": "hunter2"}}}}}\'')
    out = redact(line)
    assert "gAAAAAbc123" not in out and "hunter2" not in out and REDACTED in out
    out = redact('{"application_credential": {"id": "x", "secret": "s3cr3t-value"}}')
    assert "s3cr3t-value" not in out
    assert "keep-me" in redact("X-Subject-Token: abc keep-me")


def test_known_secret_values_are_removed_anywhere() -> None:
    assert redact("weird place: pw=longsecret;", {"longsecret"}) == f"weird place: pw={REDACTED};"


def test_collect_secrets_from_secure_tree() -> None:
    tree = {"clouds": {"a": {"auth": {"password": "p4ssword", "username": "admin"}},
                       "b": {"auth": {"application_credential_secret": "appsecret"}}}}
    assert collect_secrets(tree) == {"p4ssword", "appsecret"}


def test_filter_rewrites_records(caplog) -> None:
    logger = logging.getLogger("edgeshade.test")
    handler_filter = RedactingFilter({"topsecretvalue"})
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="edgeshade.test"):
            logger.info("sending %s", "topsecretvalue")
    finally:
        logger.removeFilter(handler_filter)
    assert "topsecretvalue" not in caplog.text and REDACTED in caplog.text
