"""What a newcomer ran into on a first try (issue 13): an experiment named after the wrong protocol, protocol
options with raw markdown, a Deploy button, and training that kept running after Ctrl-C on the app."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import psutil
import pytest

from engine.runs.protocol_catalog import PROTOCOLS
from tests.e2e.conftest import serve_app
from tests.unit.jobs_support import wait_until

pytestmark = pytest.mark.e2e

DATASET = "e2e naming shop"
STOP_WAIT_S = 60
"""Bound on the wait for the app, its worker and the worker's interpreters to be gone after Ctrl-C."""


def test_a_cold_item_experiment_with_seed_3_is_named_so_from_plain_options_without_a_deploy_button(
        page, app_url: str, app_database):
    from playwright.sync_api import expect

    from engine.data.catalog import save_dataset
    from engine.data.synthetic import generate_synthetic
    from engine.runs.experiments import list_experiments

    dataset_id = save_dataset(generate_synthetic(n_users=60, n_items=40, n_interactions=900, seed=2), DATASET,
                              "synthetic")
    page.goto(f"{app_url}/experiments")
    expect(page.get_by_role("heading", name="Experiments")).to_be_visible()
    expect(page.get_by_role("combobox", name="Dataset")).to_have_value(re.compile(DATASET))

    page.get_by_role("combobox", name="Protocol").click()
    options = page.get_by_role("option")
    expect(options).to_have_count(len(PROTOCOLS))  # one option per registered protocol
    assert not [text for text in options.all_inner_texts() if "`" in text], "options show text, not markdown"
    page.get_by_role("option", name=re.compile(r"^cold-item: ")).click()
    seed = page.get_by_label("Seed", exact=True)
    seed.fill("3")
    seed.press("Enter")
    page.get_by_role("button", name="Create experiment").click()

    expect(page.get_by_text(re.compile(r"^Experiment \d+ created\.$"))).to_be_visible()
    expected = f"{DATASET} · cold-item · seed 3"
    assert [(e.name, e.protocol, e.seed) for e in list_experiments(dataset_id)] == [(expected, "cold-item", 3)]
    expect(page.get_by_role("combobox", name="Experiment", exact=True)).to_have_value(re.compile(re.escape(expected)))
    expect(page.get_by_test_id("stToolbar")).to_be_attached()
    expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)


def test_ctrl_c_on_the_app_stops_the_worker_it_started_with_its_ready_interpreters(browser, app_env, coldstart_home,
                                                                                  tmp_path: Path):
    from engine.jobs.liveness import live_workers

    env = {key: value for key, value in app_env.items() if key != "DATABASE_URL"}
    env |= {"COLDSTART_HOME": str(coldstart_home), "COLDSTART_AUTOSTART_WORKER": "1",
            "COLDSTART_DEVICE_SLOTS": "cpu", "COLDSTART_WARM_CHILDREN": "1"}
    if "DATABASE_URL" in os.environ:  # this test's own database on the PostgreSQL pass, where it looks for the worker
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    with serve_app(env, tmp_path / "streamlit.log") as url:
        context = browser.new_context()
        context.new_page().goto(url)  # the first visit runs app.py, which starts the worker

        def worker_with_interpreter() -> psutil.Process | None:
            """the app's worker to report alive with its ready interpreter started"""
            alive = [psutil.Process(row.pid) for row in live_workers()]
            return alive[0] if alive and alive[0].children() else None

        worker = wait_until(worker_with_interpreter)
        app = psutil.Process(worker.ppid())
        assert "streamlit" in " ".join(app.cmdline())
        processes = [app, worker, *worker.children(recursive=True)]
        context.close()
        os.kill(app.pid, signal.SIGINT)  # what Ctrl-C on `make run` sends
        _, alive = psutil.wait_procs(processes, timeout=STOP_WAIT_S)
        assert not alive, f"still running {STOP_WAIT_S} s after Ctrl-C: {[p.cmdline() for p in alive]}"
        assert live_workers() == []
