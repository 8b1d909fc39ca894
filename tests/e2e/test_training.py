"""In a real browser: pick two models on the Experiments page, press Train, and watch both finish with curves and
results, while a background worker does the training."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.conftest import choose, choose_models

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TRAIN_TIMEOUT_MS = 5 * 60_000
DATASET = "e2e training shop"


@pytest.fixture
def training_worker(app_env: dict[str, str]) -> Iterator[None]:
    """A supervisor on the served app's database (the app's own autostart is off in browser tests)."""
    process = subprocess.Popen([sys.executable, "-m", "engine.jobs.supervisor"], cwd=ROOT, env=app_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    yield
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def experiment(app_env: dict[str, str]) -> None:
    """A small synthetic dataset with a warm split, stored in the served app's data folder."""
    script = ("from engine.data.catalog import save_dataset; from engine.data.synthetic import generate_synthetic; "
              "from engine.runs.experiments import create_experiment; "
              f"d = save_dataset(generate_synthetic(n_users=80, n_items=60, n_interactions=1200, seed=1), "
              f"{DATASET!r}, 'synthetic'); create_experiment(d, 'warm', None, 0, name='e2e warm')")
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=app_env, check=True, timeout=120)


def test_two_models_trained_from_the_page_both_finish_with_curves_and_results(page, app_url: str, experiment,
                                                                               training_worker, artifacts_dir: Path):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/experiments")
    expect(page.get_by_role("heading", name="Experiments")).to_be_visible()
    choose(page, "Dataset", DATASET)
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    choose_models(page, ["ALS (implicit) (factorization)", "BPR-MF (factorization)"])
    page.get_by_text("BPR-MF (factorization) hyper-parameters").click()
    page.get_by_label("Epochs", exact=True).fill("5")
    page.get_by_role("button", name="Train", exact=True).click()

    finished = page.get_by_text(re.compile(r"#\d+ (als|bpr) · seed 0 · done$"))
    expect(finished).to_have_count(2, timeout=TRAIN_TIMEOUT_MS)
    page.screenshot(path=str(artifacts_dir / "training_done.png"), full_page=True)
    # one chart per run, drawn from the epochs each run reported (ALS: its loss alone, no empty validation half)
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(2)
    expect(page.get_by_test_id("stDataFrame").filter(has_text="ndcg@10").first).to_be_visible()
    assert page.get_by_test_id("stException").count() == 0
