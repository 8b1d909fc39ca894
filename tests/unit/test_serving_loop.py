"""The serving loop on real finished runs: swapping the served run under load, the body limit, request logs
without raw user ids, forgetting a user everywhere (and the running server refusing them at once), and
retraining with served feedback into a new dataset version whose runs sit beside the old ones for Compare."""

from __future__ import annotations

import logging
import threading

import httpx2 as httpx  # the client Starlette's TestClient also uses (requirements.txt)
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from engine.analysis.comparison import list_runs, load_metrics
from engine.analysis.explore import ExploreError
from engine.data.catalog import get_dataset_info, load_dataset
from engine.data.errors import DataError
from engine.data.indexing import user_query
from engine.data.synthetic import generate_synthetic
from engine.jobs.child import execute_run
from engine.jobs.queue import claim_next_run
from engine.privacy.forget import forget_user, runs_on_forgotten_data
from engine.privacy.ids import user_hash
from engine.runs.experiments import get_experiment
from engine.serving import create_app
from engine.serving.feedback_loop import (FeedbackLoopError, feedback_by_dataset, feedback_row_keys, lineage_of,
                                          retrain_with_feedback)
from engine.serving.service import ServedRun
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.journal import feedback_journal
from engine.store.tables import ExperimentRow, RunRow
from tests.explore_seed import finished_runs, isolated_database_for_serving
from tests.live_server import LiveServer

KEY = {"X-API-Key": "s3cret"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    with isolated_database_for_serving(tmp_path_factory.mktemp("serving-loop") / "home") as folder:
        yield folder


@pytest.fixture(scope="module")
def runs(home) -> dict[str, int]:
    """mapper and itemknn fitted on one cold-item experiment of a synthetic dataset (known users in both)."""
    _, run_ids = finished_runs(("mapper", "itemknn"), protocol="cold-item",
                               dataset=generate_synthetic(60, 40, 900, seed=3))
    return dict(zip(("mapper", "itemknn"), run_ids))


def _trained_user(run_id: int, position: int = 0) -> str:
    return str(ServedRun.load(run_id).context.data.user_ids[position])


def _experiment_of(run_id: int) -> int:
    with session_scope() as session:
        return session.get(RunRow, run_id).experiment_id


def _dataset_of(run_id: int) -> int:
    return get_experiment(ServedRun.load(run_id).context.experiment_id).dataset_id


def test_a_swap_under_concurrent_requests_drops_none_and_serves_the_new_run(runs):
    user = _trained_user(runs["itemknn"])
    answers: list[tuple[int, int]] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(headers=KEY, timeout=60) as client:
            while not stop.is_set():
                reply = client.post(f"{url}/recommendations/user", json={"user_id": user, "k": 5})
                answers.append((reply.status_code, reply.json().get("run_id", -1)))

    with LiveServer(create_app(runs["itemknn"], api_key="s3cret")) as url:
        threads = [threading.Thread(target=hammer) for _ in range(6)]
        for thread in threads:
            thread.start()
        with httpx.Client(headers=KEY, timeout=120) as admin:
            while len(answers) < 20:
                stop.wait(0.05)
            swapped = admin.post(f"{url}/admin/swap", json={"run_id": runs["mapper"]})
            seen = len(answers)
            while len(answers) < seen + 20:
                stop.wait(0.05)
            stop.set()
            for thread in threads:
                thread.join(60)
            health = admin.get(f"{url}/health").json()
    assert swapped.status_code == 200, swapped.text
    assert {key: swapped.json()[key] for key in ("previous_run_id", "run_id", "model", "dataset")} == {
        "previous_run_id": runs["itemknn"], "run_id": runs["mapper"], "model": "mapper", "dataset": health["dataset"]}
    assert {status for status, _ in answers} == {200}, [a for a in answers if a[0] != 200][:3]
    served_by = [run for _, run in answers]
    assert served_by[0] == runs["itemknn"] and served_by[-1] == runs["mapper"]
    assert health["run_id"] == runs["mapper"]


def test_a_swap_to_a_run_that_cannot_load_is_refused_and_the_old_run_keeps_serving(runs):
    client = TestClient(create_app(runs["itemknn"], api_key="s3cret"))
    refused = client.post("/admin/swap", json={"run_id": 9999}, headers=KEY)
    assert refused.status_code == 422 and "run 9999 does not exist" in refused.json()["detail"]
    assert client.get("/health").json()["run_id"] == runs["itemknn"]
    assert client.post("/admin/swap", json={"run_id": runs["mapper"]}).status_code == 401


def test_without_an_api_key_admin_endpoints_answer_only_this_machine(runs):
    remote = TestClient(create_app(runs["itemknn"]), client=("203.0.113.9", 5000))
    answer = remote.post("/admin/swap", json={"run_id": runs["mapper"]})
    assert answer.status_code == 403 and "COLDSTART_API_KEY" in answer.json()["detail"]
    local = TestClient(create_app(runs["itemknn"]), client=("127.0.0.1", 5000))
    assert local.post("/admin/swap", json={"run_id": runs["mapper"]}).json()["run_id"] == runs["mapper"]


def test_an_oversize_body_is_a_413_with_a_json_reason(runs):
    client = TestClient(create_app(runs["itemknn"]))
    huge = {"user_id": "u1", "filter": {f"attribute-{i}": "x" * 100 for i in range(12_000)}}
    answer = client.post("/recommendations/user", json=huge)
    assert answer.status_code == 413 and "over 1048576 bytes" in answer.json()["detail"]
    streamed = client.post("/feedback", content=(b"x" * 65536 for _ in range(20)),
                           headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_request_logs_name_users_by_keyed_hash_never_by_id(runs, caplog: pytest.LogCaptureFixture):
    client = TestClient(create_app(runs["itemknn"]))
    user = _trained_user(runs["itemknn"], 3)
    item = str(ServedRun.load(runs["itemknn"]).context.data.item_ids[0])
    with caplog.at_level(logging.INFO, logger="engine.serving.requests"):
        assert client.post("/recommendations/user", json={"user_id": user, "k": 3}).status_code == 200
        assert client.post("/feedback", json={"user_id": "visitor-7", "item_id": item, "event": "click"}
                           ).status_code == 201
    lines = [record.getMessage() for record in caplog.records if record.name == "engine.serving.requests"]
    assert len(lines) == 2 and f"user={user_hash(user)}" in lines[0] and f"user={user_hash('visitor-7')}" in lines[1]
    assert "POST /recommendations/user 200" in lines[0]
    assert not any(f"={user} " in line or line.endswith(f"={user}") or "visitor-7" in line for line in lines)
    assert len(user_hash(user)) == 32 and user_hash(user) != user_hash(user + "x")


def _parquet_users(path) -> set[str]:
    return set(pd.read_parquet(path)["user_id"].astype(str)) if path.is_file() else set()


def test_forgetting_a_user_erases_them_everywhere_and_a_running_server_refuses_them_at_once(home):
    _, (mapper, itemknn) = finished_runs(("mapper", "itemknn"), protocol="cold-item",
                                         dataset=generate_synthetic(50, 40, 800, seed=11))
    dataset_id = _dataset_of(itemknn)
    server = TestClient(create_app(itemknn))
    user, other = _trained_user(itemknn, 1), _trained_user(itemknn, 2)
    item = str(ServedRun.load(itemknn).context.data.item_ids[0])
    for who in (user, other):
        assert server.post("/feedback", json={"user_id": who, "item_id": item, "rating": 5}).status_code == 201
    before = get_dataset_info(dataset_id)

    report = forget_user(dataset_id, user)

    assert report.interactions > 0 and report.attributes == 1 and report.feedback == 1 and report.split_rows > 0
    assert sorted(report.runs_marked) == sorted([mapper, itemknn]) and set(runs_on_forgotten_data()) >= {mapper, itemknn}
    assert server.post("/recommendations/user", json={"user_id": user}).status_code == 410
    assert server.post("/feedback", json={"user_id": user, "item_id": item, "event": "click"}).status_code == 410
    assert server.post("/recommendations/user", json={"user_id": other}).status_code == 200
    assert [r["user_id"] for r in feedback_journal(itemknn).records()] == [other]
    dataset = load_dataset(dataset_id)
    assert user not in set(dataset.interactions["user_id"]) and user not in set(dataset.users["user_id"])
    after = get_dataset_info(dataset_id)
    assert after.n_interactions == before.n_interactions - report.interactions
    assert after.fingerprint != before.fingerprint
    home_dir = get_settings().home
    with session_scope() as session:
        split_folder = home_dir / session.get(ExperimentRow, _experiment_of(itemknn)).split_path
    assert not any(user in _parquet_users(path) for path in split_folder.glob("*.parquet"))
    assert user not in _parquet_users(get_settings().run_dir(itemknn) / "per_user.parquet")
    assert user not in (home_dir / "privacy" / "forgotten.txt").read_text()
    with pytest.raises(ExploreError, match="trained on data a user asked to forget"):
        create_app(itemknn)
    with pytest.raises(DataError, match="forgotten already"):
        forget_user(dataset_id, user)


def test_the_forget_endpoint_forgets_a_user_of_the_served_dataset(home):
    _, (mapper,) = finished_runs(("mapper",), protocol="cold-item", dataset=generate_synthetic(50, 40, 800, seed=12))
    client = TestClient(create_app(mapper, api_key="s3cret"))
    user = _trained_user(mapper, 4)
    everyone = client.post("/items/audience", json={"attributes": {"category": "books"}, "n": 1000}, headers=KEY)
    assert user in {u["user_id"] for u in everyone.json()["users"]}
    answer = client.post("/admin/forget", json={"user_id": user}, headers=KEY)
    assert answer.status_code == 200, answer.text
    assert answer.json()["user_hash"] == user_hash(user) and user not in answer.text
    assert client.post("/recommendations/user", json={"user_id": user}, headers=KEY).status_code == 410
    audience = client.post("/items/audience", json={"attributes": {"category": "books"}, "n": 1000}, headers=KEY)
    assert user not in {u["user_id"] for u in audience.json()["users"]}
    assert client.post("/admin/forget", json={"user_id": "nobody-at-all"}, headers=KEY).status_code == 404


def test_retraining_with_feedback_makes_a_version_with_lineage_and_queues_the_same_models(home):
    _, run_ids = finished_runs(("mapper", "itemknn"), protocol="cold-item",
                               dataset=generate_synthetic(60, 40, 900, seed=13))
    runs = dict(zip(("mapper", "itemknn"), run_ids))
    client = TestClient(create_app(runs["mapper"]))
    data = ServedRun.load(runs["mapper"]).context.data
    items = [str(i) for i in data.item_ids[:3]]
    with pytest.raises(FeedbackLoopError, match="no served feedback yet"):
        retrain_with_feedback(runs["mapper"])
    posted = [{"user_id": "visitor-1", "item_id": items[0], "rating": 5, "timestamp": 1_700_000_000},
              {"user_id": "visitor-1", "item_id": items[1], "rating": 4, "timestamp": 1_700_000_100},
              {"user_id": "visitor-2", "item_id": items[2], "rating": 5, "timestamp": 1_700_000_200},
              {"user_id": "visitor-2", "item_id": items[2], "rating": 2, "timestamp": 1_700_000_300},
              {"user_id": "visitor-3", "item_id": items[0], "event": "click"}]
    for event in posted:
        assert client.post("/feedback", json=event).status_code == 201
    parent_id = _dataset_of(runs["mapper"])
    assert feedback_by_dataset()[parent_id].events == 5

    made = retrain_with_feedback(runs["mapper"])

    assert made.feedback_rows == 3 and made.skipped == {
        "events without a rating (the dataset holds explicit ratings)": 1}
    lineage = lineage_of(made.dataset_id)
    assert lineage["parent_id"] == parent_id and lineage["feedback_rows"] == 3
    keys = feedback_row_keys(made.dataset_id)
    assert sorted(zip(keys["user_id"], keys["item_id"])) == sorted(
        [("visitor-1", items[0]), ("visitor-1", items[1]), ("visitor-2", items[2])])
    version = load_dataset(made.dataset_id)
    parent = load_dataset(parent_id)
    assert len(version.interactions) == len(parent.interactions) + 3
    latest = version.interactions.set_index(["user_id", "item_id"]).loc[("visitor-2", items[2]), "rating"]
    assert latest == 2.0  # the latest feedback of a user and item wins
    old, new = get_experiment(_experiment_of(runs["mapper"])), get_experiment(made.experiment_id)
    assert (new.protocol, new.params, new.seed, new.dataset_id) == (old.protocol, old.params, old.seed,
                                                                   made.dataset_id)
    queued = list_runs(run_ids=made.run_ids)
    assert sorted(queued["model"]) == ["itemknn", "mapper"] and set(queued["status"]) == {"queued"}
    while (claimed := claim_next_run("test-worker", "cpu")) is not None:
        assert execute_run(claimed.id) == 0
    compared = list_runs(run_ids=made.compare_run_ids)
    assert set(compared["status"]) == {"done"} and compared["dataset_id"].nunique() == 2
    assert set(load_metrics(compared)["run_id"]) == set(made.compare_run_ids)
    swapped = TestClient(create_app(runs["mapper"]), client=("127.0.0.1", 1)).post(
        "/admin/swap", json={"run_id": made.run_ids[0]})
    assert swapped.status_code == 200 and swapped.json()["run_id"] == made.run_ids[0]
    assert made.describe().startswith(f"dataset {made.dataset_id} '{made.dataset_name}'")


def test_the_known_user_fast_path_builds_the_query_user_query_builds(runs):
    served = ServedRun.load(runs["mapper"])
    data = served.context.data
    for position in (0, 7, len(data.user_ids) - 1):
        user = str(data.user_ids[position])
        fast, reference = served._known_user_query(user, position), user_query(data, [user])
        assert list(fast.ids) == list(reference.ids) and list(fast.index) == list(reference.index)
        assert (fast.history != reference.history).nnz == 0
        assert (fast.features != reference.features).nnz == 0


def test_the_cli_retrains_with_feedback_and_forgets_a_user_with_one_line_reasons(runs, capsys):
    from engine.cli.main import main

    assert main(["retrain-with-feedback", "--run", "9999"]) == 2
    assert "run 9999 does not exist" in capsys.readouterr().err
    dataset_id = _dataset_of(runs["itemknn"])
    assert main(["forget-user", "--dataset", str(dataset_id), "--user", "nobody-at-all"]) == 2
    assert "User 'nobody-at-all' is not in dataset" in capsys.readouterr().err
