"""A newcomer presses the demo button on Home, lands on Compare, and sees the four models finish and compare."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_MS = 6 * 60_000
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


@pytest.fixture
def worker(app_env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A training supervisor on the served app's database (the app's own autostart is off in browser tests),
    started the way the app starts it."""
    process = subprocess.Popen([sys.executable, "-m", "engine.jobs.supervisor"], cwd=ROOT, env=app_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    yield process
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def test_demo_button_trains_four_models_and_lands_on_their_comparison(page, app_url: str, worker,
                                                                      artifacts_dir: Path):
    from playwright.sync_api import expect

    page.goto(app_url)
    expect(page.get_by_role("heading", name="Cold-Start Lab")).to_be_visible()
    expect(page.locator(IDLE)).to_have_count(1)
    page.screenshot(path=str(artifacts_dir / "home.png"), full_page=True)
    page.get_by_role("button", name="Run the demo").click()

    expect(page.get_by_role("heading", name="Compare runs")).to_be_visible()
    assert "runs=" in page.url
    expect(page.get_by_text("waiting or training")).to_be_visible()
    # the notice goes away once every demo run has finished; the page then compares all four
    expect(page.get_by_text("waiting or training")).to_have_count(0, timeout=DEMO_TIMEOUT_MS)
    # the last rerun may still be replacing the page: wait until the script is idle before clicking
    expect(page.locator(IDLE)).to_have_count(1)
    expect(page.get_by_role("tab", name="few-shot-user-k1", exact=True).first).to_be_visible()
    expect(page.get_by_role("heading", name="Paired comparison of two runs")).to_be_visible()
    for model in ("MostPopular", "ItemKNN", "Hybrid MF", "DropoutNet"):
        expect(page.get_by_test_id("stTable").first).to_contain_text(model)
    assert page.get_by_test_id("stException").count() == 0
    page.get_by_role("tab", name="Cold-start curve").first.click()
    expect(page.get_by_text("Cold-start curve: ndcg@20 against known interactions of a new user")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "compare_demo.png"), full_page=True)

    page.get_by_test_id("stSidebarNav").get_by_text("Explore", exact=True).click()
    expect(page.get_by_role("heading", name="Explore recommendations")).to_be_visible()
    expect(page.get_by_text("What the models know about")).to_be_visible()
    expect(page.locator(IDLE)).to_have_count(1)
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(artifacts_dir / "explore_demo.png"), full_page=True)
