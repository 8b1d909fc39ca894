"""A person uploads the three MovieLens 100K files in a real browser, saves them as a dataset and sees its profile."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_uploading_ml100k_tables_saves_a_dataset_and_shows_its_profile(page, app_url: str, ml100k_dir: Path,
                                                                       artifacts_dir: Path):
    from playwright.sync_api import expect

    page.goto(app_url)
    page.get_by_test_id("stSidebarNav").get_by_text("Data", exact=True).click()
    expect(page.get_by_role("heading", name="Data")).to_be_visible()
    inputs = page.locator('input[type="file"]')
    expect(inputs).to_have_count(3)
    for position, name in enumerate(("interactions.csv", "items.csv", "users.csv")):
        inputs.nth(position).set_input_files(str(ml100k_dir / name))
        expect(page.get_by_text(f"{name}: ", exact=False)).to_be_visible()
    expect(page.get_by_text("User id column")).to_be_visible()
    name_box = page.get_by_role("textbox", name="Dataset name")
    name_box.fill("MovieLens in the browser")
    name_box.press("Enter")
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text("Saved 'MovieLens in the browser'")).to_be_visible(timeout=90_000)
    assert page.get_by_test_id("stException").count() == 0

    page.get_by_role("tab", name="Datasets").click()
    expect(page.get_by_role("heading", name="Profile of MovieLens in the browser")).to_be_visible()
    users_metric = page.get_by_test_id("stMetric").filter(has_text="Users")
    expect(users_metric).to_contain_text("943")
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "data_upload_profile.png"), full_page=True)


def test_a_catalogue_and_its_tags_upload_as_two_item_files_and_save_joined(page, app_url: str, tmp_path: Path,
                                                                            artifacts_dir: Path):
    """MovieLens latest ships genres in movies.csv and tags in tags.csv: both go into the item uploader."""
    from playwright.sync_api import expect

    from benchmarks.public_shapes import movielens_latest

    ratings, movies, tags, _ = movielens_latest(tmp_path / "ml-latest")
    page.goto(f"{app_url}/data")
    inputs = page.locator('input[type="file"]')
    expect(inputs).to_have_count(3)
    inputs.nth(0).set_input_files(str(ratings))
    expect(page.get_by_text("ratings.csv: ", exact=False)).to_be_visible()
    inputs.nth(1).set_input_files([str(movies), str(tags)])
    expect(page.get_by_text("tags.csv: joined with the other item tables on the item id")).to_be_visible()
    expect(page.get_by_text("Item id column")).to_have_count(2)
    name_box = page.get_by_role("textbox", name="Dataset name")
    name_box.fill("movies and their tags")
    name_box.press("Enter")
    expect(page.get_by_text("'userId' holds user ids", exact=False)).to_be_visible()  # said before saving
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text("Saved 'movies and their tags'")).to_be_visible(timeout=90_000)
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(artifacts_dir / "data_upload_two_item_files.png"), full_page=True)
