"""The whole serving loop on real data, through a real HTTP client against a real server process: train two models
on MovieLens 100K (its first 150 users), serve the winner, recommend for a new user by attributes, post feedback,
retrain with it, find old and new runs side by side in the comparison data, and swap the server to the new run."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx2 as httpx  # the client Starlette's TestClient also uses (requirements.txt)
import pytest

from engine.analysis.comparison import list_runs, load_metrics
from engine.data.canonical import read_canonical_folder
from engine.data.catalog import save_dataset
from engine.jobs.child import execute_run
from engine.jobs.queue import claim_next_run, submit_runs
from engine.runs.experiments import create_experiment
from engine.serving.feedback_loop import lineage_of, retrain_with_feedback
from engine.serving.process import free_port

ROOT = Path(__file__).resolve().parents[2]
KEY = "end-to-end-key"
MODELS = ("mostpop", "mapper")
NEW_USER_PATH = {"mostpop": "popularity", "mapper": "attributes"}
"""How each model serves a new user described by attributes: one list for all, or scored from the attributes."""


def _train_queued() -> None:
    """What the worker does, in this process: run every queued run to its end."""
    while (claimed := claim_next_run("e2e-worker", "cpu")) is not None:
        assert execute_run(claimed.id) == 0


def _serve(run_id: int, port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--run", str(run_id), "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        assert server.poll() is None, server.stderr.read().decode()
        assert time.monotonic() < deadline, "the server did not answer /health within 120 s"
        time.sleep(0.3)


def test_train_serve_recommend_feedback_retrain_compare_and_swap(ml100k_dir: Path, coldstart_home: Path,
                                                                  monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLDSTART_API_KEY", KEY)
    full = read_canonical_folder(ml100k_dir)
    users = sorted(full.interactions["user_id"].unique(), key=int)[:150]
    small = replace(full, interactions=full.interactions.loc[full.interactions["user_id"].isin(users)],
                    users=full.users.loc[full.users["user_id"].isin(users)])
    experiment = create_experiment(save_dataset(small, "ml-100k first 150 users", "folder"), "cold-user", {}, 0)
    for model in MODELS:
        submit_runs(experiment, model, {}, seeds=[0])
    _train_queued()
    trained = list_runs(experiment_ids=[experiment])
    metrics = load_metrics(trained)
    cold = metrics.loc[(metrics["slice"] == "cold-user") & (metrics["name"] == "ndcg@10")]
    winner = int(cold.sort_values("mean", ascending=False)["run_id"].iloc[0])
    model = trained.set_index("run_id").loc[winner, "model"]

    port = free_port()
    server = _serve(winner, port)
    url, headers = f"http://127.0.0.1:{port}", {"X-API-Key": KEY}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            assert client.post("/recommendations/new-user", json={"k": 5}, headers={"X-API-Key": ""}
                               ).status_code == 401
            answer = client.post("/recommendations/new-user",
                                 json={"attributes": {"age": 31, "gender": "F", "occupation": "engineer"}, "k": 5})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["run_id"] == winner and body["path"] == NEW_USER_PATH[model] and len(body["items"]) == 5
            liked = [item["item_id"] for item in body["items"][:3]]
            for n, item in enumerate(liked):
                posted = client.post("/feedback", json={"user_id": f"visitor-{n % 2}", "item_id": item, "rating": 5})
                assert posted.status_code == 201 and posted.json()["stored"] is True

        made = retrain_with_feedback(winner)
        _train_queued()
        # a new client after the retraining: the server closes a connection idle for more than its keep-alive (5 s),
        # and a request sent on it as it closes fails with "Server disconnected" (seen under load)
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            assert lineage_of(made.dataset_id)["feedback_rows"] == 3
            compared = list_runs(run_ids=made.compare_run_ids)
            assert set(compared["status"]) == {"done"} and len(compared) == 4
            assert compared.groupby("model")["dataset"].nunique().to_dict() == {"mapper": 2, "mostpop": 2}
            assert set(load_metrics(compared)["run_id"]) == set(made.compare_run_ids)
            new_winner = int(compared.loc[(compared["model"] == model) & (compared["run_id"] != winner),
                                          "run_id"].iloc[0])

            swapped = client.post("/admin/swap", json={"run_id": new_winner})
            assert swapped.status_code == 200, swapped.text
            assert swapped.json()["previous_run_id"] == winner and swapped.json()["run_id"] == new_winner
            health = client.get("/health").json()
            assert health["run_id"] == new_winner and health["dataset"] == made.dataset_name
            again = client.post("/recommendations/new-user", json={"attributes": {"occupation": "engineer"}, "k": 5})
            assert again.status_code == 200 and again.json()["run_id"] == new_winner
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()
