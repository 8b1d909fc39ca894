"""A comparison link opened in a fresh browser restores the same runs and shows their recorded numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.comparison_seed import SeededRun, seed_runs

pytestmark = pytest.mark.e2e


@pytest.fixture
def linked_runs(app_database: None) -> list[int]:
    """Two finished runs written into the served app's database, as a colleague's comparison would be."""
    ids = seed_runs([SeededRun("mostpop", {"cold-user": {"ndcg@20": 0.1234}}),
                     SeededRun("content", {"cold-user": {"ndcg@20": 0.2345}}),
                     SeededRun("itemknn", {"cold-user": {"ndcg@20": 0.3456}})],
                    dataset="shared-link toy", experiment="shared link")
    return [ids["mostpop"][0], ids["content"][0]]


def test_shared_link_restores_the_selected_runs_and_their_numbers(page, app_url: str, linked_runs: list[int],
                                                                  artifacts_dir: Path):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/compare?runs={','.join(map(str, linked_runs))}")
    expect(page.get_by_role("heading", name="Compare runs")).to_be_visible()
    expect(page.get_by_role("tab", name="cold-user")).to_be_visible()
    board = page.get_by_test_id("stTable").first
    expect(board).to_contain_text("0.1234 [0.1134, 0.1334]")
    expect(board).to_contain_text("0.2345 [0.2245, 0.2445]")
    # the third run of the same experiment was not in the link, so it is not compared
    expect(board).not_to_contain_text("0.3456")
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(artifacts_dir / "compare_shared_link.png"), full_page=True)
