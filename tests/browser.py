"""Headless Debian Chromium driven by Playwright, shared by every browser test.

`playwright install` cannot download browsers here: the system `chromium` is used. Without
it the browser tests skip locally, and fail in CI (CI=true), where `.ci/run` installs it.
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium(monkeypatch) -> Iterator:
    """Yield a launched Playwright browser; closes it and the ORM connections afterwards."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium (/usr/bin/chromium) is required in CI")
        pytest.skip("Chromium absent (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test itself only reads
    # the database between browser steps.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # Live-server threads must not keep persistent connections: the test database is dropped after.
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
            # ORM calls made while Playwright runs open their own connection: close it, or
            # the test database cannot be dropped.
            connections.close_all()
