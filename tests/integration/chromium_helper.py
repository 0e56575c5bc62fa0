"""Headless Chromium for the HTML report tests and benchmark (Debian's chromium + Playwright)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import Any

CHROMIUM = os.environ.get("EDGESHADE_CHROMIUM", "/usr/bin/chromium")
#: No network, no background services, no state from earlier runs.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def available() -> str | None:
    """Why the browser cannot run, or None when it can."""
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (scripts/ensure-chromium.sh installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 900) -> Iterator[Any]:
    """A fresh page in a fresh profile (new empty user-data-dir), closed afterwards."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="edgeshade-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": width, "height": height},
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                yield page
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def wait_until(page: Any, expression: str, timeout: float = 30.0) -> Any:
    """Poll ``expression`` until truthy. The report's CSP forbids eval, which Playwright's
    ``wait_for_function`` needs, so poll with ``evaluate`` from here instead."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:g} s: {expression}")
        time.sleep(0.02)
