"""Browser-test fixtures: the app served by `.venv`'s streamlit on a free port with its own data folder, and a
headless Debian Chromium page (Playwright). Reusable by every e2e test: `app_url`, `browser`, `page`, `artifacts_dir`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Pattern

import pytest

from tests.databases import fresh_database_url, use_database

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
STARTUP_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where browser tests leave screenshots (gitignored)."""
    folder = ROOT / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment of the served app: a fresh data folder, no background worker (override to start one)."""
    home = tmp_path_factory.mktemp("e2e-home")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"COLDSTART_HOME": str(home), "COLDSTART_AUTOSTART_WORKER": "0", "PYTHONUNBUFFERED": "1"})
    with fresh_database_url() as url:
        yield env if url is None else env | {"DATABASE_URL": url}


@pytest.fixture
def app_database(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point this test process's engine at the served app's data folder, so what a fixture stores there (datasets,
    finished runs) is what the browser sees; the engine's connections are dropped before and after."""
    from engine.store.db import dispose_engines

    use_database(monkeypatch, app_env["COLDSTART_HOME"], app_env.get("DATABASE_URL"))
    yield
    dispose_engines()


@contextmanager
def serve_app(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Serve app.py on a free port and yield its URL; the whole process group is stopped after."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start on {url}:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        for stop in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, stop)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture(scope="session")
def app_url(app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served for the whole session (see `serve_app`)."""
    with serve_app(app_env, tmp_path_factory.mktemp("e2e-log") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright (no browser download needed)."""
    executable = CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or CHROMIUM)
    if not executable.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: install Debian's chromium package to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, app_url: str):
    """A fresh browser tab (own cookies and session) with a desktop-sized viewport; app_url is already serving.

    Actions and `expect` assertions wait up to 60 s: the first script run of a cold server imports a lot.
    """
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    tab = context.new_page()
    yield tab
    context.close()


def clear_models(page) -> None:
    """Remove the Train form's preselected Auto (Backspace on the empty Models box drops the last chip) and wait for
    the rerun that follows, so the next pick is not lost to it."""
    from playwright.sync_api import expect

    expect(page.get_by_text(re.compile(r"can serve:"))).to_have_count(1)  # Auto's line, drawn by the server
    page.get_by_role("combobox", name="Models", exact=True).press("Backspace")
    expect(page.get_by_text(re.compile(r"can serve:"))).to_have_count(0)  # gone only once the rerun has drawn


def click_option(page, open_list: Callable[[], None], option: str | Pattern[str], attempts: int = 5) -> None:
    """Open a select box's list and click `option`. A server rerun can redraw the list between Playwright finding
    the option and clicking it ("element was detached from the DOM"); then the click never happened, so the list is
    closed and opened afresh."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        open_list()
        try:
            page.get_by_role("option", name=option).first.click(timeout=10_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the Streamlit select box or multiselect labelled exactly `label` (Auto's "Candidate models"
    must not answer to "Models"), typing to filter long lists."""
    def open_list() -> None:
        box = page.get_by_role("combobox", name=label, exact=True)
        box.click()
        box.fill(option.split(" (")[0])

    click_option(page, open_list, option)


def choose_models(page, labels: list[str], attempts: int = 3) -> None:
    """Replace the Train form's preselected Auto by `labels`, waiting after each pick for the server to draw that
    model's form, so no pick lands during the rerun of the one before. A click that lands while the list is being
    redrawn can be swallowed without an error; then the pick is made again."""
    from playwright.sync_api import expect

    clear_models(page)
    drawn = page.get_by_text(re.compile(r"can serve:"))
    for count, label in enumerate(labels, start=1):
        for attempt in range(attempts):
            if drawn.count() < count:
                choose(page, "Models", label)
            try:
                expect(drawn).to_have_count(count, timeout=20_000)
                break
            except AssertionError:
                if attempt == attempts - 1:
                    raise
                page.keyboard.press("Escape")
    page.keyboard.press("Escape")
