"""Serving in a real browser: on Compare, a user serves the winner, reads its URL and docs link, asks it for a new
user's recommendations over HTTP, swaps it to the other run and stops it."""

from __future__ import annotations

from pathlib import Path

import httpx2 as httpx  # the client Starlette's TestClient also uses (requirements.txt)
import pytest

from engine.data.synthetic import generate_synthetic
from tests.e2e.conftest import click_option
from tests.explore_seed import finished_runs

pytestmark = pytest.mark.e2e
SERVER_START_MS = 150_000


@pytest.fixture
def served_runs(app_database: None) -> list[int]:
    """Cold-item runs of mapper (serves new users by attributes) and itemknn."""
    _, run_ids = finished_runs(("mapper", "itemknn"), protocol="cold-item",
                               dataset=generate_synthetic(50, 40, 800, seed=31))
    return run_ids


def test_serve_the_winner_from_compare_ask_it_swap_it_and_stop_it(page, app_url: str, served_runs: list[int],
                                                                  artifacts_dir: Path):
    from playwright.sync_api import expect

    mapper, itemknn = served_runs
    page.goto(f"{app_url}/compare?runs={mapper},{itemknn}")
    expect(page.get_by_role("heading", name="Compare runs")).to_be_visible()
    page.get_by_text("Serve as an API").click()
    click_option(page, page.get_by_test_id("stSelectbox").filter(has_text="Run to serve").click, f"#{mapper} ")
    page.get_by_role("button", name="Serve").click()
    expect(page.get_by_text(f"Serving run {mapper}")).to_be_visible(timeout=SERVER_START_MS)
    docs = page.get_by_role("link", name="API docs").get_attribute("href")
    url = docs.removesuffix("/docs")
    assert httpx.get(docs).status_code == 200
    answer = httpx.post(f"{url}/recommendations/new-user", json={"attributes": {"region": "north"}, "k": 3})
    assert answer.status_code == 200 and answer.json()["path"] == "attributes"
    page.screenshot(path=str(artifacts_dir / "serving_compare.png"), full_page=True)

    click_option(page, page.get_by_test_id("stSelectbox").filter(has_text="Swap to run").click, f"#{itemknn} ")
    page.get_by_role("button", name="Swap (no request dropped)").click()
    expect(page.get_by_text(f"Now serving run {itemknn}")).to_be_visible(timeout=SERVER_START_MS)
    assert httpx.get(f"{url}/health").json()["run_id"] == itemknn

    page.get_by_role("button", name="Stop server").click()
    expect(page.get_by_text(f"Serving run {itemknn}")).to_have_count(0, timeout=60_000)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=5)
    assert page.get_by_test_id("stException").count() == 0
