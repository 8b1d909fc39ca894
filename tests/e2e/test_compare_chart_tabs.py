"""In a real browser: Compare draws only the open chart tab, a tab reopens on the choice left in it, and the slice
chart opens on the protocol's slices with onboarding ones added per strategy when picked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.comparison_seed import SeededRun, seed_runs
from tests.databases import use_database
from tests.e2e.conftest import choose, click_option

pytestmark = pytest.mark.e2e

ONBOARDING = {f"onboarding-{strategy}-k{k}": 0.1 + 0.02 * k for strategy in ("random", "popularity") for k in (0, 3)}
"""An onboarding run's extra slices: two strategies after 0 and 3 questions."""


def _per_user(level: float) -> pd.DataFrame:
    users = [f"u{i}" for i in range(6)]
    values = np.linspace(level - 0.05, level + 0.05, len(users))
    return pd.concat([pd.DataFrame({"slice": name, "user_id": users, "history": 2, "ndcg@20": values})
                      for name in ("cold-user", "warm")], ignore_index=True)


@pytest.fixture(scope="module")
def compared(app_env: dict[str, str]) -> list[int]:
    """Two runs on the protocol's slices and an onboarding run's, written into the served app's database."""
    from engine.store.db import dispose_engines

    with pytest.MonkeyPatch.context() as patch:
        use_database(patch, app_env["COLDSTART_HOME"], app_env.get("DATABASE_URL"))
        ids = seed_runs([
            SeededRun("mostpop", {"cold-user": {"ndcg@20": 0.11}, "warm": {"ndcg@20": 0.15},
                                  **{name: {"ndcg@20": value} for name, value in ONBOARDING.items()}},
                      per_user=_per_user(0.11)),
            SeededRun("itemknn", {"cold-user": {"ndcg@20": 0.09}, "warm": {"ndcg@20": 0.2},
                                  **{name: {"ndcg@20": value / 2} for name, value in ONBOARDING.items()}},
                      per_user=_per_user(0.09)),
        ], dataset="chart tabs shop", protocol="onboarding", experiment="chart tabs: onboarding")
        dispose_engines()
    return ids["mostpop"] + ids["itemknn"]


def test_only_the_open_tab_is_drawn_and_a_tab_reopens_on_its_choice(page, app_url: str, compared: list[int],
                                                                   artifacts_dir: Path):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/compare?runs={','.join(map(str, compared))}")
    charts = page.locator("[data-testid='stTabs'] [data-testid='stPlotlyChart']")
    expect(charts.locator(".gtitle")).to_have_text(["ndcg@20 by slice"])  # one chart sent, not nine
    expect(page.get_by_text("2 of the 6 recorded slices are drawn")).to_be_visible()
    choose(page, "Slices", "onboarding-popularity-k3")
    page.keyboard.press("Escape")
    expect(page.get_by_text("onboarding: Popularity")).to_be_visible()  # its own panel, read in questions
    expect(page.get_by_text("3 questions")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "compare_slices_picked.png"), full_page=True)

    page.get_by_role("tab", name="Per user", exact=True).click()
    expect(charts.locator(".gtitle")).to_have_text(["Per-user ndcg@20"])
    # the paired comparison below has a Slice box too: this one is the open tab's
    spread_slice = page.get_by_role("tabpanel", name="Per user").get_by_role("combobox", name="Slice", exact=True)
    click_option(page, spread_slice.click, "warm")
    expect(spread_slice).to_have_value("warm")
    page.get_by_role("tab", name="Cost", exact=True).click()
    expect(charts.locator(".gtitle")).to_have_text(["ndcg@20 against training time"])
    page.get_by_role("tab", name="Per user", exact=True).click()
    expect(spread_slice).to_have_value("warm")
    # the slice chart kept the onboarding slice picked before
    page.get_by_role("tab", name="By slice", exact=True).click()
    expect(page.get_by_text("onboarding: Popularity")).to_be_visible()
    assert page.get_by_test_id("stException").count() == 0
