"""Serving from the app (AppTest): Compare serves a finished run as a real child process, shows its URL and state,
swaps it to another run and stops it; Explore offers the same; Data counts served feedback, retrains with it and
forgets a user; Runs names the runs trained on forgotten data."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx  # the client Starlette's TestClient also uses (requirements.txt)
import pytest
from streamlit.testing.v1 import AppTest

from engine.data.synthetic import generate_synthetic
from engine.serving.process import list_servers, stop_server
from engine.serving.service import ServedRun
from tests.databases import isolated_database
from tests.explore_seed import finished_runs

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch, \
            isolated_database(patch, tmp_path_factory.mktemp("serving-panel") / "home"):
        patch.setenv("COLDSTART_AUTOSTART_WORKER", "0")
        patch.delenv("COLDSTART_API_KEY", raising=False)
        _, run_ids = finished_runs(("itemknn", "mapper"), protocol="cold-item",
                                   dataset=generate_synthetic(50, 40, 800, seed=21))
        yield dict(zip(("itemknn", "mapper"), run_ids))
        for status in list_servers():
            stop_server(status.entry.pid)


def _page(page: str, runs: dict[str, int] | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=150)
    if runs is not None:
        app.query_params["runs"] = ",".join(map(str, runs.values()))
    return app.switch_page(page).run()


def _markdown(app: AppTest) -> str:
    return "\n".join(block.value for block in app.markdown)


def test_compare_serves_a_run_shows_its_url_swaps_it_and_stops_it(runs):
    app = _page("pages/compare.py", runs)
    assert not app.exception
    app.selectbox(key="compare-serve-run").select(runs["itemknn"]).run()
    app.button(key="compare-serve-button").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    (status,) = list_servers()
    assert status.state == "serving" and status.health["run_id"] == runs["itemknn"]
    assert f"Serving run {runs['itemknn']}" in _markdown(app) and f"{status.entry.url}/docs" in _markdown(app)
    user = str(ServedRun.load(runs["itemknn"]).context.data.user_ids[0])
    assert httpx.post(f"{status.entry.url}/recommendations/user", json={"user_id": user}).status_code == 200

    app.selectbox(key=f"compare-swap-{status.entry.pid}").select(runs["mapper"]).run()
    app.button(key=f"compare-swap-button-{status.entry.pid}").click().run()
    assert any(f"Now serving run {runs['mapper']}" in s.value and "Feedback: same dataset" in s.value
               for s in app.success)
    assert httpx.get(f"{status.entry.url}/health").json()["run_id"] == runs["mapper"]

    app.button(key=f"compare-stop-{status.entry.pid}").click().run()
    assert list_servers() == []


def test_explore_offers_the_same_panel(runs):
    app = _page("pages/explore.py")
    assert not app.exception
    offered = app.selectbox(key="explore-serve-run").options
    assert any(f"#{runs['itemknn']} " in o for o in offered) and any(f"#{runs['mapper']} " in o for o in offered)


def test_data_counts_served_feedback_retrains_with_it_and_forgets_a_user(runs):
    served = ServedRun.load(runs["mapper"])
    item = str(served.context.data.item_ids[0])
    feedback = served.record_feedback({"user_id": "visitor-9", "item_id": item, "rating": 5.0,
                                       "timestamp": "2026-01-01T00:00:00+00:00",
                                       "received_at": "2026-01-01T00:00:00+00:00", "run_id": runs["mapper"]})
    # on a thread of its own: where a browser test ran first in this process, Playwright's sync API keeps an event
    # loop running on this thread until the session ends, and asyncio.run refuses to start inside it
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, feedback).result()
    app = _page("pages/data.py")
    assert not app.exception
    counts = next(frame.value for frame in app.dataframe if "feedback events" in frame.value.columns)
    assert counts["feedback events"].tolist() == [1]
    app.button(key="feedback-retrain").click().run()
    assert any("1 feedback rows" in s.value and "Compare old and new" in s.value for s in app.success)

    user = str(served.context.data.user_ids[2])
    app.selectbox(key="forget-dataset").select(served.dataset.id)
    app.text_input(key="forget-user-id").input(user)
    app.checkbox(key="forget-confirm").check()
    next(b for b in app.button if b.label == "Forget this user").click().run()
    assert any("runs trained on them" in s.value for s in app.success), [e.value for e in app.error]
    runs_page = _page("pages/runs.py")
    assert any("Trained on forgotten data" in w.value for w in runs_page.warning)
