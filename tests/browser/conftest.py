"""Headless Chromium for the browser test: Debian's ``chromium`` driven by Playwright.

Never a browser download: Playwright launches the Debian binary. Both are installed here
when missing (apt-get as root, pip into this interpreter); the test is skipped, with the
reason, only where that is impossible, and fails instead under ``SCORIA_REQUIRE_BROWSER=1``
(CI).
"""

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
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


class AsgiServer:
    """uvicorn serving this process's Django (its ASGI application, static files included)
    on 127.0.0.1 from a thread: it shares the test database, in memory or not."""

    def __init__(self):
        import socket

        import uvicorn
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
        from django.core.asgi import get_asgi_application

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(
            ASGIStaticFilesHandler(get_asgi_application()),
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self):
        self._thread.start()
        for _ in range(200):
            if self._server.started:
                return
            time.sleep(0.05)
        raise RuntimeError("uvicorn did not start")

    def stop(self):
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@contextlib.contextmanager
def serving():
    """This process's Django served by uvicorn, an ASGI server (as `make demo` serves the
    example), so the live pages' event streams run as they do in production."""
    from django.test.utils import override_settings

    from scoria_django.streaming import notifications, reads

    # A context (not pytest-django's `settings`): it unwinds in order with the example's.
    with override_settings(ALLOWED_HOSTS=["127.0.0.1", "localhost"]):
        server = AsgiServer()
        server.start()
        try:
            yield server
        finally:
            server.stop()
            # Their connections go before the test database does.
            notifications.hub().stop()
            reads.readers.stop()


@pytest.fixture
def asgi_server(transactional_db):
    """The test project on uvicorn."""
    with serving() as server:
        yield server


@pytest.fixture
def example_server(transactional_db):
    """The example project (its app, urls and handlers) on uvicorn."""
    from tests.example_host import example_overrides

    with example_overrides(), serving() as server:
        yield server
