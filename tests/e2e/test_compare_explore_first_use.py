"""What a new user met first on Compare and Explore: short model names that leave the charts room, a paired
comparison that opens on a pair it can compare, slices that say what they rank against, and Explore opening on
models that can answer."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data.synthetic import generate_synthetic
from engine.models.registry import get_model_class
from tests.comparison_seed import SeededRun, seed_runs
from tests.databases import use_database
from tests.explore_seed import finished_runs

pytestmark = pytest.mark.e2e

MAPPER = get_model_class("mapper").label
USERS = [f"u{i}" for i in range(30)]
PLOT_AREA_OVER_HALF = """() => {
    const chart = [...document.querySelectorAll("[data-testid='stPlotlyChart']")].find(c => c.offsetParent);
    const area = chart && chart.querySelector(".nsewdrag");
    return area && area.getBoundingClientRect().width > 0.5 * chart.getBoundingClientRect().width;
}"""
"""True once the visible chart's plotting area takes more than half its width (the legend the rest)."""


@dataclass(frozen=True)
class Journey:
    """The runs a new user compared (two settings of one model, and a run without per-user values), and the
    cold-user experiment explored (collaborative runs newest, which cannot serve new users)."""

    compared: list[int]
    explored: list[int]


def _per_user(level: float) -> pd.DataFrame:
    values = np.linspace(level - 0.1, level + 0.1, len(USERS))
    return pd.DataFrame({"slice": "cold-item", "user_id": USERS, "history": 3, "ndcg@20": values})


@pytest.fixture(scope="module")
def journey(app_env: dict[str, str]) -> Journey:
    """Both stories written once into the served app's database (see `app_database`, here for the module)."""
    from engine.store.db import dispose_engines

    with pytest.MonkeyPatch.context() as patch:
        use_database(patch, app_env["COLDSTART_HOME"], app_env.get("DATABASE_URL"))
        # runs keep the model's full config: only `factors` differs between the two mapper settings
        config = get_model_class("mapper").Config().model_dump(mode="json")
        ids = seed_runs([
            SeededRun("mapper", {"cold-item": {"ndcg@20": 0.2201}, "cold-item-all": {"ndcg@20": 0.0004}},
                      params=config | {"factors": 32}, per_user=_per_user(0.2), fit_seconds=2.0),
            SeededRun("mapper", {"cold-item": {"ndcg@20": 0.2502}, "cold-item-all": {"ndcg@20": 0.0005}},
                      params=config | {"factors": 64}, per_user=_per_user(0.25), fit_seconds=3.0),
            # the newest run kept no per-user values (recorded from the command line)
            SeededRun("content", {"cold-item": {"ndcg@20": 0.3003}, "cold-item-all": {"ndcg@20": 0.0006}},
                      fit_seconds=1.0),
        ], dataset="first-use shop", protocol="cold-item", experiment="first use: new items")
        shop = dataclasses.replace(generate_synthetic(60, 40, 900, seed=1), name="first-use users")
        _, explored = finished_runs(("content", "itemknn", "ease", "rp3beta", "als"), protocol="cold-user",
                                    dataset=shop)
        dispose_engines()
    return Journey(ids["mapper"] + ids["content"], explored)


def test_compare_names_variants_by_what_differs_and_opens_the_paired_comparison_on_a_comparable_pair(
        page, app_url: str, journey: Journey, artifacts_dir: Path):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/compare?runs={','.join(map(str, journey.compared))}")
    expect(page.get_by_role("heading", name="Compare runs")).to_be_visible()
    board = page.get_by_test_id("stTable").first
    expect(board).to_contain_text(f"{MAPPER} · factors=32")
    expect(board).to_contain_text(f"{MAPPER} · factors=64")
    expect(board).not_to_contain_text("ridge")
    # every slice says what its items are ranked against
    expect(page.get_by_text("ranked among the new items only").first).to_be_visible()
    page.get_by_role("tab", name="cold-item-all", exact=True).first.click()
    expect(page.get_by_text("ranked among all training items plus the new items").first).to_be_visible()
    # the charts keep their plotting area: the legend's names no longer eat the width
    page.get_by_role("tab", name="Cost", exact=True).click()
    expect(page.locator("[data-testid='stPlotlyChart']:visible .nsewdrag").first).to_be_attached()
    page.wait_for_function(PLOT_AREA_OVER_HALF)  # with every setting in the names it stayed near 100 px of 940
    # the newest run kept no per-user values: the paired comparison opens on the two mapper runs instead
    expect(page.get_by_role("heading", name="Paired comparison of two runs")).to_be_visible()
    page.get_by_text("Run B minus run A, user by user").click()  # computed once opened
    expect(page.get_by_text("do not both have per-user values")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame").filter(has_text="difference").first).to_be_attached()
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(artifacts_dir / "compare_first_use.png"), full_page=True)


def test_explore_opens_on_models_that_can_answer_for_a_new_user(page, app_url: str, journey: Journey,
                                                                artifacts_dir: Path):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/explore")
    expect(page.get_by_role("heading", name="Explore recommendations")).to_be_visible()
    expect(page.get_by_text("What the models know about")).to_be_visible()
    # the four newest runs cannot score new users; Content can, so it is among the runs the page opens with
    expect(page.get_by_text("Content (attributes)").first).to_be_visible()
    lists = page.locator("[data-testid='stTabs']:visible [data-testid='stDataFrame']:visible")
    expect(lists).not_to_have_count(0)
    # a list with reasons has room for rank, title, hit and a wide reason column (in half a page it was cut)
    expect(lists.first).to_be_visible()
    assert lists.first.bounding_box()["width"] > 700
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(artifacts_dir / "explore_first_use.png"), full_page=True)
