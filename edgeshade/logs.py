"""Logging for the CLI: one-line warnings, --debug timings, --http-debug exchanges.

Every record passes a :class:`RedactingFilter` first: tokens, passwords and
application credential secrets must never reach a terminal or a log file,
whatever library logged them.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

REDACTED = "<redacted>"
_SECRET_KEYS = (
    r"(?:password|secret|token|passcode|application_credential_secret"
    r"|X-Auth-Token|X-Subject-Token)"
)
_PATTERNS = [
    # "password": "x"  'secret': 'x'
    re.compile(rf"""(?i)(["']?{_SECRET_KEYS}["']?\s*[:=]\s*["'])([^"']+)(["'])"""),
    # -H "X-Auth-Token: abc"  X-Subject-Token: abc  (keystoneauth: "{SHA256}<hex>")
    re.compile(r"(?i)((?:X-Auth-Token|X-Subject-Token)\s*:\s*)(\{SHA256\}\w+|[^\s\"',}]+)"),
    # password=abc in URLs and form bodies
    re.compile(rf"(?i)({_SECRET_KEYS}=)([^&\s\"']+)"),
]
_SECRET_FIELD_NAMES = {
    "password",
    "secret",
    "token",
    "passcode",
    "application_credential_secret",
    "client_secret",
}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove secret values from ``text``: known values first, then by key patterns."""
    for value in secrets:
        if value and value in text:
            text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        if pattern.groups >= 3:
            text = pattern.sub(lambda m: m.group(1) + REDACTED + m.group(m.lastindex), text)
        else:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def collect_secrets(tree: Any) -> set[str]:
    """Every value under a secret-looking key in a clouds/secure config tree."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if str(key).lower() in _SECRET_FIELD_NAMES and isinstance(value, str | int):
                    if len(str(value)) >= 4:  # never redact "a" everywhere
                        found.add(str(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tree)
    return found


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets removed."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = set(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message, self.secrets)
        record.args = None
        return True


class _CliFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            return f"edgeshade: {record.levelname.lower()}: {record.getMessage()}"
        return f"{self.formatTime(record, '%H:%M:%S')} {record.name}: {record.getMessage()}"


def setup(debug: bool = False, http_debug: bool = False) -> RedactingFilter:
    """Configure the root handler on stderr; returns the filter to feed secrets to."""
    handler = logging.StreamHandler(sys.stderr)
    redactor = RedactingFilter()
    handler.addFilter(redactor)
    handler.setFormatter(_CliFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("edgeshade").setLevel(
        logging.DEBUG if debug or http_debug else logging.WARNING
    )
    # Libraries warn per site (discovery fallbacks...): 1,000 sites would drown the output.
    noisy = logging.DEBUG if http_debug else logging.ERROR
    for name in ("keystoneauth", "openstack", "urllib3", "stevedore"):
        logging.getLogger(name).setLevel(noisy)
    # Set either way: a second in-process run without --http-debug must not inherit it.
    logging.getLogger("keystoneauth.session").setLevel(
        logging.DEBUG if http_debug else logging.NOTSET
    )
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.ERROR)
    return redactor
