"""Explore in a real browser: a made-up new item described by a category and a release date, or by tags whose
counts the data keeps, finds its audience."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from engine.data.cell_values import multi_value_rows
from engine.data.synthetic import generate_synthetic
from engine.data.synthetic_kinds import generate_kind
from tests.e2e.conftest import choose
from tests.explore_seed import finished_runs

pytestmark = pytest.mark.e2e


@pytest.fixture
def dated_runs(app_database: None) -> list[int]:
    """Cold-item runs of two attribute models on a shop whose items carry a release date."""
    shop = generate_synthetic(60, 40, 900, seed=1)
    released = pd.date_range("2019-01-01", periods=len(shop.items), freq="17D").strftime("%Y-%m-%d")
    items = shop.items.assign(released=released)
    dataset = dataclasses.replace(shop, items=items, item_kinds={**shop.item_kinds, "released": "date"},
                                  name="dated shop")
    _, run_ids = finished_runs(("content", "mapper"), protocol="cold-item", dataset=dataset)
    return run_ids


def test_a_new_item_with_a_release_date_gets_an_audience_from_each_attribute_model(page, app_url: str,
                                                                                  dated_runs: list[int],
                                                                                  artifacts_dir: Path):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/explore")
    expect(page.get_by_role("heading", name="Explore recommendations")).to_be_visible()
    page.get_by_role("tab", name="Try a new item").click()
    form = page.get_by_test_id("stForm").filter(has_text="Describe an item")
    # Streamlit's date input is a segmented field (year / month / day): typing fills and advances the segments
    segment = "{}, released (2019-01-01 to 2020-10-25)"
    form.get_by_role("spinbutton", name=segment.format("year")).click()
    page.keyboard.type("20200315")
    expect(form.get_by_role("spinbutton", name=segment.format("day"))).to_have_text("15")
    expect(form.get_by_role("spinbutton", name=segment.format("month"))).to_have_text("03")
    form.get_by_role("button", name="Find its audience").click()
    # the date alone describes the item: without it the page would ask for an attribute instead of answering
    audiences = page.locator("[data-testid='stDataFrame']:visible")
    expect(audiences).to_have_count(2)
    assert page.get_by_text("Set at least one attribute").count() == 0
    assert page.locator("[data-testid='stAlert']:visible").filter(has_text="Not applicable").count() == 0
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(artifacts_dir / "explore_new_item_date.png"), full_page=True)


@pytest.fixture
def counted_tag_runs(app_database: None) -> tuple[list[int], str]:
    """Cold-item runs of two attribute models on bookmarks whose tags count how often each was given, and the
    most given tag."""
    dataset = generate_kind("tag-counts", 80, 120, 1_500, seed=1)
    _, run_ids = finished_runs(("content", "mapper"), protocol="cold-item", dataset=dataset)
    return run_ids, multi_value_rows(dataset.items["tags"])["value"].value_counts().index[0]


def test_a_new_item_is_described_by_tag_values_not_by_the_stored_counts(page, app_url: str,
                                                                       counted_tag_runs: tuple[list[int], str],
                                                                       artifacts_dir: Path):
    from playwright.sync_api import expect

    _, top_tag = counted_tag_runs
    page.goto(f"{app_url}/explore")
    expect(page.get_by_role("heading", name="Explore recommendations")).to_be_visible()
    page.get_by_role("tab", name="Try a new item").click()
    form = page.get_by_test_id("stForm").filter(has_text="Describe an item")
    form.get_by_role("combobox", name="tags", exact=True).click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    assert not any("{" in text for text in options.all_inner_texts())  # values, not '{"toread": 3, ...}'
    page.keyboard.press("Escape")
    choose(page, "tags", top_tag)
    page.keyboard.press("Escape")  # a multiselect's list stays open over the form's button
    form.get_by_role("button", name="Find its audience").click()
    expect(page.locator("[data-testid='stDataFrame']:visible")).to_have_count(2)
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(artifacts_dir / "explore_new_item_counted_tags.png"), full_page=True)
