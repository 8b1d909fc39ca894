"""A served model ranks exactly as the evaluation and the Explore page do, tied scores included: popularity models
score many items equal, and the API, Explore and the evaluator's recorded top-K lists must break those ties the same
(seeded) way, not the API in catalogue order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from engine.analysis.explore import (ExploreContext, FittedRun, load_context, load_fitted_run,
                                     recommend_for_new_user, recommend_for_test_user)
from engine.data.synthetic import generate_synthetic
from engine.runs.results import TOP_K_FILE
from engine.serving import create_app
from engine.settings import get_settings
from tests.explore_seed import runs_to_serve

MODELS = ("mostpop", "segmentpop")
K = 10
"""The evaluator records top-10 lists (`finished_runs` evaluates at k = 10)."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    dataset = generate_synthetic(60, 40, 900, seed=7)
    dataset.name = "ties"
    with runs_to_serve(tmp_path_factory.mktemp("serving-ties") / "home", MODELS, "warm", dataset) as run_ids:
        yield run_ids


def _api_and_explore(run_id: int) -> tuple[TestClient, FittedRun, ExploreContext]:
    """The API serving `run_id`, and the run and its context as Explore loads them."""
    fitted = load_fitted_run(run_id)
    return TestClient(create_app(run_id), raise_server_exceptions=False), fitted, load_context(fitted.experiment_id)


def _served(client: TestClient, path: str, body: dict, k: int = K) -> tuple[list[str], list[float]]:
    answer = client.post(path, json=body | {"k": k, "reasons": False})
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    return [i["item_id"] for i in items], [i["score"] for i in items]


NEW_USERS = {"mostpop": ({}, {"region": "north"}), "segmentpop": ({"region": "north"}, {"occupation": "artist"},
                                                                  {"region": "east", "occupation": "retired"})}


@pytest.mark.parametrize("model", MODELS)
def test_a_new_user_gets_explores_list_ties_broken_the_same_way(runs: dict[str, int], model: str):
    client, fitted, context = _api_and_explore(runs[model])
    catalogue = [str(i) for i in context.data.item_ids]
    assert client.get("/health").json()["catalogue_size"] == len(catalogue)  # the training items, in this order
    in_catalogue_order = []
    for attributes in NEW_USERS[model]:
        served, scores = _served(client, "/recommendations/new-user", {"attributes": attributes})
        explored = recommend_for_new_user(context, [fitted], attributes, [], k=K)[0].table
        assert served == explored["item_id"].tolist(), attributes
        assert np.allclose(scores, explored["score"])
        assert len(set(scores)) < len(scores), attributes  # the list holds ties: their order is what is compared
        # what the API answered before: best first, ties in catalogue order
        everything = dict(zip(*_served(client, "/recommendations/new-user", {"attributes": attributes}, k=1000)))
        values = np.asarray([everything[item] for item in catalogue])
        in_catalogue_order.append([catalogue[p] for p in np.lexsort((np.arange(len(values)), -values))[:K]]
                                  == served)
    assert not all(in_catalogue_order)  # the test tells the seeded rule from the old one


@pytest.mark.parametrize("model", MODELS)
def test_a_trained_user_gets_the_evaluators_recorded_list_and_explores(runs: dict[str, int], model: str):
    client, fitted, context = _api_and_explore(runs[model])
    recorded = pd.read_parquet(get_settings().run_dir(runs[model]) / TOP_K_FILE)
    warm = recorded.loc[recorded["slice"] == "warm"].sort_values(["user_id", "rank"])
    tied_lists = 0
    for user, listed in warm.groupby("user_id", sort=True):
        served, scores = _served(client, "/recommendations/user", {"user_id": str(user)})
        assert served == listed["item_id"].astype(str).tolist(), f"user {user}"
        explored = recommend_for_test_user(context, [fitted], "warm", str(user), k=K)[0].table
        assert served == explored["item_id"].tolist(), f"user {user}"
        tied_lists += len(set(scores)) < len(scores)
    assert warm["user_id"].nunique() > 20 and tied_lists > 0  # lists with ties: their order is what is compared
