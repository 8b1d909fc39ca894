"""In a 1280-pixel window, what a page shows reads whole: Home's tables show every column without a sideways scroll
bar, and auto's run card shows what it chose for every kind of user and item, wrapped inside the card."""

from __future__ import annotations

import re

import pytest

from engine.store.db import session_scope
from engine.store.tables import RunEventRow, RunRow
from tests.comparison_seed import SeededRun, seed_runs

pytestmark = pytest.mark.e2e

WINDOW = {"width": 1280, "height": 900}
OVERFLOWING_TABLES = """() => [...document.querySelectorAll("[data-testid='stDataFrame'] .dvn-scroller")]
    .filter(s => s.scrollWidth > s.clientWidth + 1).length"""
"""How many tables on the page scroll sideways (their columns are wider than the table)."""
FIT_REPORT = [
    "new users, known items -> hybridmf (valid 0.1615 on cold-user and 3 held-out folds (177 training users) vs "
    "mapper 0.0198, attrridge 0.1599, content 0.1051, segmentpop 0.1599, mostpop 0.1599; best blend 0.75 hybridmf "
    "+ 0.25 segmentpop 0.1612)",
    *[f"{users} users, {items} items -> attrridge by fallback, not validated (no validation slice holds these users "
      "and items): the best on the primary validation slice of the candidates that can serve them (cold-user 0.1599)"
      for users in ("known", "few-shot") for items in ("new", "few-shot")],
]


@pytest.fixture
def window(browser):
    """A tab in a 1280 x 900 window, the size a laptop browser gives a page."""
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    context = browser.new_context(viewport=WINDOW)
    context.set_default_timeout(60_000)
    yield context.new_page()
    context.close()


def test_home_shows_every_column_of_recent_datasets_and_runs(window, app_url: str, app_database: None):
    from playwright.sync_api import expect

    seed_runs([SeededRun("hybridmf", {"cold-user": {"ndcg@20": 0.1}}, fit_seconds=123.4),
               SeededRun("dropoutnet", {"cold-user": {"ndcg@20": 0.2}}, fit_seconds=45.6)],
              dataset="synthetic genres shop with a long name", protocol="few-shot-user")
    window.goto(app_url)
    expect(window.get_by_text("Recent runs")).to_be_visible()
    expect(window.locator("[data-testid='stDataFrame'] .dvn-scroller")).to_have_count(2)
    window.wait_for_timeout(500)  # the grids size their columns once drawn
    assert window.evaluate(OVERFLOWING_TABLES) == 0


def test_autos_run_card_lists_every_kind_it_chose_for_wrapped_inside_the_card(window, app_url: str,
                                                                               app_database: None):
    from playwright.sync_api import expect

    run_id = seed_runs([SeededRun("auto", {"cold-user": {"ndcg@20": 0.16}})], dataset="e2e auto card shop")["auto"][0]
    with session_scope() as session:
        run = session.get(RunRow, run_id)
        run.results = {**run.results, "fit_report": FIT_REPORT}
        # the log ends with the report's last kinds, then the evaluation's own lines
        session.add_all(RunEventRow(run_id=run_id, kind="log", message=f"auto: {line}") for line in FIT_REPORT)
        session.add_all(RunEventRow(run_id=run_id, kind="log", message=line)
                        for line in ("evaluating on the test slices", "saving the model and recording results"))
    window.goto(f"{app_url}/runs")
    card = window.locator(f".st-key-run-{run_id}")
    expect(card.get_by_text(re.compile("What it chose and why"))).to_be_visible()
    report = card.locator("pre")
    expect(report).to_contain_text("new users, known items -> hybridmf (valid 0.1615")  # the validated kind too
    expect(report).to_contain_text("few-shot users, few-shot items -> attrridge by fallback")
    widths = report.evaluate("block => [block.scrollWidth, block.clientWidth]")
    assert widths[0] <= widths[1] + 1, f"the report scrolls sideways: {widths[0]} px of text in {widths[1]} px"


def test_the_experiments_table_shows_every_column(window, app_url: str, app_database: None):
    from engine.data.catalog import save_dataset
    from engine.data.synthetic_kinds import generate_kind
    from engine.runs.experiments import create_experiment
    from playwright.sync_api import expect
    from tests.e2e.conftest import choose

    name = "tags-small-seed0 e2e widths"  # a sample's name, as the Data page proposes it, and the default name
    dataset_id = save_dataset(generate_kind("tags", 120, 100, 2400, seed=0), name, "synthetic")
    create_experiment(dataset_id, "cold-item", {}, seed=0, name=f"{name} · cold-item · seed 0")
    # as long as the Home page demo's own experiment name, which pushed the creation time off the table
    create_experiment(dataset_id, "cold-item", {}, seed=1, name="new items of a long-named catalogue, 1 to 10 seen")
    window.goto(f"{app_url}/experiments")
    choose(window, "Dataset", f"{name} (#{dataset_id})")
    expect(window.get_by_text(re.compile(r"^Cold users: 0 · cold items: \d+"))).to_be_visible()  # its sizes, drawn
    window.wait_for_timeout(500)
    assert window.evaluate(OVERFLOWING_TABLES) == 0


def test_the_compare_run_table_shows_every_column(window, app_url: str, app_database: None):
    from playwright.sync_api import expect

    ids = seed_runs([SeededRun("hybridmf", {"cold-item": {"ndcg@20": 0.1}}, fit_seconds=391.72),
                     SeededRun("mostpop", {"cold-item": {"ndcg@20": 0.05}})],
                    dataset="tags-small-seed0 e2e compare widths", protocol="cold-item",
                    experiment="tags-small-seed0 e2e compare widths · cold-item · seed 0")
    window.goto(f"{app_url}/compare?runs={ids['hybridmf'][0]}")
    expect(window.get_by_text("Leaderboard per slice")).to_be_visible()
    runs_table = window.locator("[data-testid='stDataFrame'] .dvn-scroller").first  # the table to pick runs in
    expect(runs_table).to_be_visible()
    window.wait_for_timeout(500)
    widths = runs_table.evaluate("table => [table.scrollWidth, table.clientWidth]")
    assert widths[0] <= widths[1] + 1, f"the run table scrolls sideways: {widths[0]} px of columns in {widths[1]} px"
