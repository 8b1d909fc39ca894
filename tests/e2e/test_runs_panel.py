"""In a real browser, the run cards while runs wait, train and finish: buttons that stay still and take the first
click, one honest line of time, a curve or a reason for none, and Train refusing to queue a run twice."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from engine.jobs.queue import claim_next_run, list_runs, submit_runs
from engine.store.db import session_scope
from engine.store.tables import RunEventRow, RunRow, utcnow
from tests.e2e.conftest import choose, choose_models
from tests.unit.jobs_support import empty_experiment, run_status

pytestmark = pytest.mark.e2e

POLLS_TO_WATCH_MS = 3_000
"""Long enough for the polling list to redraw several times."""
DATASET = "e2e duplicate shop"

WATCH_FOR_REDRAWS = """(selector) => {
  window.__redraws = [];
  const watched = document.querySelector(selector);
  new MutationObserver(changes => window.__redraws.push(...changes.map(c => c.type + ' ' + (c.attributeName || ''))))
    .observe(watched, {attributes: true, childList: true, subtree: true, characterData: true});
}"""


def test_cancel_stays_still_while_the_list_polls_and_takes_a_single_click(page, app_url: str, app_database: None):
    from playwright.sync_api import expect

    # the browser tests run without a worker, so both runs stay queued and the list keeps polling
    first, second = submit_runs(empty_experiment("e2e one-click cancel"), "mostpop", seeds=[0, 1])
    page.goto(f"{app_url}/runs")
    title = page.get_by_text(re.compile(rf"#{first} mostpop · seed 0 · (queued|cancelled)$"))
    expect(title).to_have_text(re.compile("queued$"))
    cancel = f".st-key-cancel-{first}"
    expect(page.locator(f"{cancel} button")).to_be_enabled()
    page.evaluate(WATCH_FOR_REDRAWS, cancel)
    page.wait_for_timeout(POLLS_TO_WATCH_MS)
    assert page.evaluate("() => window.__redraws") == []  # not redrawn (nor faded as stale) by the polling
    page.locator(f"{cancel} button").click()
    expect(title).to_have_text(re.compile("cancelled$"))
    assert (run_status(first).status, run_status(second).status) == ("cancelled", "queued")
    assert page.get_by_test_id("stException").count() == 0


def _seed_progress(run_id: int, epochs: list[dict], status: str, minutes_ago: float) -> None:
    """Give a run a start time and epoch events, as its child would have written them."""
    now = utcnow()
    with session_scope() as session:
        row = session.get(RunRow, run_id)
        row.status, row.started_at = status, now - timedelta(minutes=minutes_ago)
        row.progress = epochs[-1]["epoch"] / epochs[-1]["n_epochs"] if epochs else 0.0
        if status == "done":
            row.finished_at = now
        session.add_all([RunEventRow(run_id=run_id, kind="progress", **epoch) for epoch in epochs])


def test_cards_show_one_time_estimate_and_a_reason_instead_of_an_empty_chart(page, app_url: str, app_database: None):
    from playwright.sync_api import expect

    experiment = empty_experiment("e2e progress cards")
    training, iterated, one_step = submit_runs(experiment, "als", seeds=[0, 1, 2])
    claim_next_run("w", "cpu")
    now = utcnow()
    # ten minutes of setup, then an epoch a minute: about seven minutes of training are left
    _seed_progress(training, [{"epoch": e, "n_epochs": 10, "loss": 1.0 / e, "at": now - timedelta(minutes=3 - e)}
                              for e in (1, 2, 3)], "running", minutes_ago=12)
    # a finished run that reported iterations without numbers, and one that fitted in one step
    _seed_progress(iterated, [{"epoch": e, "n_epochs": 4} for e in (1, 2, 3, 4)], "done", minutes_ago=3)
    _seed_progress(one_step, [], "done", minutes_ago=1)
    page.goto(f"{app_url}/runs")

    live = page.locator(f".st-key-run-{training}")
    expect(live).to_contain_text(re.compile(r"up to about [67] min \d\d s of training left"))
    assert live.get_by_text(re.compile(" left")).count() == 1
    expect(live.get_by_test_id("stPlotlyChart")).to_have_count(1)
    expect(page.locator(f".st-key-run-{iterated}")).to_contain_text("Trained 4 epochs without recording a loss")
    expect(page.locator(f".st-key-run-{one_step}")).to_contain_text("Fitted in one step: no training curve.")
    for finished in (iterated, one_step):
        expect(page.locator(f".st-key-run-{finished}").get_by_test_id("stPlotlyChart")).to_have_count(0)
    assert page.get_by_test_id("stException").count() == 0


@pytest.fixture
def shop_experiment(app_database: None) -> int:
    """A small synthetic dataset with a warm split, stored in the served app's data folder."""
    from engine.data.catalog import save_dataset
    from engine.data.synthetic import generate_synthetic
    from engine.runs.experiments import create_experiment

    dataset = save_dataset(generate_synthetic(n_users=60, n_items=40, n_interactions=600, seed=2), DATASET,
                           "synthetic")
    return create_experiment(dataset, "warm", None, 0, name="e2e duplicates")


def _ready_to_train(tab, app_url: str) -> None:
    """Open the Experiments page on the shop and pick MostPopular, up to the Train button."""
    from playwright.sync_api import expect

    tab.goto(f"{app_url}/experiments")
    choose(tab, "Dataset", DATASET)
    choose_models(tab, ["MostPopular (popularity)"])
    expect(tab.get_by_role("button", name="Train", exact=True)).to_be_visible()


def test_two_tabs_pressing_train_on_the_same_run_queue_it_once_and_offer_the_next_seed(
        page, browser, app_url: str, shop_experiment: int):
    from playwright.sync_api import expect

    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    second = other.new_page()
    try:
        _ready_to_train(page, app_url)
        _ready_to_train(second, app_url)
        page.get_by_role("button", name="Train", exact=True).click()
        expect(page.get_by_text(re.compile(r"#\d+ mostpop · seed 0 · queued$"))).to_be_visible()
        second.get_by_role("button", name="Train", exact=True).click()
        (existing,) = [run.id for run in list_runs(shop_experiment)]
        expect(second.get_by_text(f"Run #{existing} (mostpop, seed 0) already exists (queued)")).to_be_visible()
        assert len(list_runs(shop_experiment)) == 1
        second.get_by_role("button", name="Queue mostpop with seed 1 instead").click()
        expect(second.get_by_text(re.compile(r"#\d+ mostpop · seed 1 · queued$"))).to_be_visible()
        assert sorted(run.seed for run in list_runs(shop_experiment)) == [0, 1]
        assert second.get_by_test_id("stException").count() == 0
    finally:
        other.close()
