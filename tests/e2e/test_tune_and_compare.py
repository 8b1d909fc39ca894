"""In a real browser: turn on tuning, set a budget, train five models on new items, and see on Compare how each
row's settings were chosen and every trial of every model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.analysis.comparison import list_runs
from engine.data.catalog import save_dataset
from engine.data.synthetic import generate_synthetic
from engine.jobs.params import model_choices
from engine.runs.experiments import create_experiment
from tests.e2e.conftest import choose, choose_models
from tests.e2e.test_training import TRAIN_TIMEOUT_MS, training_worker  # noqa: F401  (a fixture)

pytestmark = pytest.mark.e2e

DATASET = "e2e tuning shop"
MODELS = ["content", "mapper", "random", "hybridmf", "twotower"]
"""Five models that serve new items: attributes, a mapper, a baseline, two gradient hybrids."""
TRIALS = 3


@pytest.fixture
def cold_item_experiment(app_database: None) -> None:
    dataset_id = save_dataset(generate_synthetic(n_users=80, n_items=60, n_interactions=1200, seed=2), DATASET,
                              "synthetic")
    create_experiment(dataset_id, "cold-item", None, 0, name="e2e new items")


def test_five_models_tuned_with_one_budget_show_their_trials_and_labels_on_compare(
        page, app_url: str, cold_item_experiment, training_worker, artifacts_dir: Path):
    from playwright.sync_api import expect

    labels = model_choices(MODELS)
    page.goto(f"{app_url}/experiments")
    choose(page, "Dataset", DATASET)
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    choose_models(page, [labels[model] for model in MODELS])
    page.get_by_text("Tune every model on the validation slice, with the same budget").click()
    expect(page.get_by_text("Every model gets 16 trials, each stopped after 30 s of training")).to_be_visible()
    trials = page.get_by_role("spinbutton", name="Trials per model")
    trials.fill(str(TRIALS))
    trials.press("Tab")
    page.get_by_role("button", name="Tune and train").click()

    finished = page.get_by_text(re.compile(rf"#\d+ ({'|'.join(MODELS)}) · seed 0 · done$"))
    expect(finished).to_have_count(len(MODELS), timeout=TRAIN_TIMEOUT_MS)
    page.screenshot(path=str(artifacts_dir / "tuning_done.png"), full_page=True)

    runs = list_runs(datasets=[DATASET])
    # Random has nothing to tune: it says so instead of claiming a search
    # a model whose best trial beat its defaults only within the validation noise keeps them and says so
    labels = sorted(runs["tuning"])
    assert labels[0] == "defaults (nothing to tune)" and len(labels) == 5
    assert all(label in (f"tuned ({TRIALS} trials)", f"tuned ({TRIALS} trials, defaults kept)") for label in labels[1:])
    page.goto(f"{app_url}/compare?runs={','.join(str(r) for r in runs['run_id'])}")
    board = page.get_by_test_id("stTable").first
    expect(board).to_contain_text(f"tuned ({TRIALS} trials)")
    page.get_by_role("tab", name="Tuning").click()
    page.screenshot(path=str(artifacts_dir / "tuning_compare.png"), full_page=True)
    expect(page.get_by_text("Tuning: validation ndcg@20 per trial")).to_be_visible()
    expect(page.get_by_role("button", name="Download the trials (CSV)")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").filter(has_text="best_so_far")).to_have_count(1)
    assert page.get_by_test_id("stException").count() == 0
