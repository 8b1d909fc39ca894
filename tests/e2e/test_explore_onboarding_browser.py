"""Explore in a real browser: a person onboards a made-up user, answer by answer, and the lists change with reasons."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from engine.data.synthetic import generate_synthetic
from tests.e2e.conftest import choose
from tests.explore_seed import finished_runs

pytestmark = pytest.mark.e2e


@pytest.fixture
def onboarding_runs(app_database: None) -> list[int]:
    """MostPop (answers a brand-new user) and ItemKNN (needs a liked item first) on a cold-user split."""
    shop = dataclasses.replace(generate_synthetic(60, 40, 900, seed=1), name="onboarding shop")
    _, run_ids = finished_runs(("mostpop", "itemknn"), dataset=shop)
    return run_ids


def test_answering_sign_up_questions_changes_the_lists_and_gives_reasons(page, app_url: str,
                                                                       onboarding_runs: list[int],
                                                                       artifacts_dir: Path):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/explore")
    expect(page.get_by_role("heading", name="Explore recommendations")).to_be_visible()
    choose(page, "Experiment", "cold-user seed 0 (onboarding shop")
    page.get_by_role("tab", name="Onboard a new user").click()
    choose(page, "How the questions are chosen", "Popularity")
    expect(page.get_by_text("Popularity: asks about the items most people know first.")).to_be_visible()
    question = page.get_by_text(re.compile(r"^Question \d+: do you know"))
    expect(question).to_have_text(re.compile("^Question 1:"))
    # before any answer ItemKNN has no history to fold in and says so; MostPop lists the popular items
    not_applicable = page.locator("[data-testid='stAlert']:visible").filter(has_text="Not applicable")
    expect(not_applicable).to_have_count(1)
    first = question.inner_text()
    page.get_by_role("button", name="Liked it").click()
    expect(question).to_have_text(re.compile("^Question 2:"))
    assert question.inner_text().split(":", 1)[1] != first.split(":", 1)[1]  # never the same question twice
    expect(page.get_by_text("Answers so far")).to_be_visible()
    expect(page.get_by_text("(1 of 1 questions answered)")).to_be_visible()
    # the liked answer is ItemKNN's history now: it answers, each item with a "because you liked" reason
    expect(not_applicable).to_have_count(0)
    expect(page.get_by_text(re.compile("^Because you liked X"))).to_be_visible()
    expect(page.get_by_text("'new' marks items that entered a list with the last answer.")).to_be_visible()
    page.get_by_role("button", name="Never seen it").click()
    expect(question).to_have_text(re.compile("^Question 3:"))
    expect(page.get_by_text("(1 of 2 questions answered)")).to_be_visible()
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(artifacts_dir / "explore_onboarding.png"), full_page=True)
    page.get_by_role("button", name="Start over").click()
    expect(question).to_have_text(re.compile("^Question 1:"))
    expect(not_applicable).to_have_count(1)
