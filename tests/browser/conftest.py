"""Headless Chromium for the browser test: Debian's ``chromium`` driven by Playwright.

Never a browser download: Playwright launches the Debian binary. Both are installed here
when missing (apt-get as root, pip into this interpreter); the test is skipped, with the
reason, only where that is impossible, and fails instead under ``SCORIA_REQUIRE_BROWSER=1``
(CI).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("SCORIA_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_TIMEOUT = 900


def _install_chromium():
    """``apt-get install chromium`` when we are root on Debian; the reason otherwise."""
    if CHROMIUM.exists():
        return None
    if not shutil.which("apt-get"):
        return f"{CHROMIUM} is missing and there is no apt-get to install Debian's chromium"
    if os.geteuid() != 0:
        return f"{CHROMIUM} is missing; run `apt-get install chromium` as root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        result = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT
        )
        if result.returncode != 0:
            return f"`{' '.join(command)}` failed: {result.stderr.strip()[-300:]}"
    return None if CHROMIUM.exists() else f"apt-get installed no {CHROMIUM}"


def _install_playwright():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "playwright"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        if result.returncode != 0:
            return f"pip install playwright failed: {result.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def chromium_path():
    reason = _install_chromium() or _install_playwright()
    if reason and os.environ.get("SCORIA_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SCORIA_REQUIRE_BROWSER=1 but headless Chromium is unavailable: {reason}")
    if reason:
        pytest.skip(f"headless Chromium unavailable: {reason}")
    return str(CHROMIUM)


@pytest.fixture
def browser_page(chromium_path):
    """A fresh headless page; torn down before the database so no event loop outlives it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=LAUNCH_ARGS
        )
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def example_server(transactional_db):
    """The example project served on localhost (pytest-django's live server), started after
    its settings are in place so its static files (admin and evidence CSS) are served too."""
    from pytest_django.live_server_helper import LiveServer

    from tests.example_host import example_overrides

    with example_overrides():
        server = LiveServer(os.environ.get("DJANGO_LIVE_TEST_SERVER_ADDRESS", "localhost"))
        server._live_server_modified_settings.enable()
        try:
            yield server
        finally:
            server._live_server_modified_settings.disable()
            server.stop()
