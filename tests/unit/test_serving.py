"""The serving API on real finished runs: a model that serves new users and items (mapper) and one that cannot
(itemknn), fitted on a small synthetic cold-item experiment and loaded from their saved artifacts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.cli.main import main
from engine.data.synthetic import generate_synthetic
from engine.serving import create_app
from engine.serving.service import ServedRun
from engine.settings import get_settings
from engine.store.journal import items_journal
from tests.explore_seed import runs_to_serve

ROOT = Path(__file__).resolve().parents[2]
DATASET = generate_synthetic(60, 40, 900, seed=1)
ITEMS = DATASET.items.assign(item_id=DATASET.items["item_id"].astype(str)).set_index("item_id")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Registry name -> id of a finished run with a saved model, in a data folder of this module's own."""
    with runs_to_serve(tmp_path_factory.mktemp("serving") / "home", ("mapper", "itemknn"), "cold-item",
                       DATASET) as run_ids:
        yield run_ids


@pytest.fixture
def mapper(runs: dict[str, int]) -> TestClient:
    return TestClient(create_app(runs["mapper"]), raise_server_exceptions=False)


@pytest.fixture
def itemknn(runs: dict[str, int]) -> TestClient:
    return TestClient(create_app(runs["itemknn"]), raise_server_exceptions=False)


def _training(run_id: int) -> tuple[str, list[str], list[str]]:
    """A trained user, that user's training items, and all training items of the run."""
    data = ServedRun.load(run_id).context.data
    history = [str(data.item_ids[i]) for i in data.matrix[0].indices]
    return str(data.user_ids[0]), history, [str(i) for i in data.item_ids]


def test_health_names_the_run_model_and_dataset(mapper: TestClient, runs: dict[str, int]):
    health = mapper.get("/health").json()
    assert health["run_id"] == runs["mapper"] and health["model"] == "mapper"
    assert health["dataset"] == DATASET.name and len(health["dataset_fingerprint"]) == 64
    assert health["protocol"] == "cold-item" and health["capabilities"]["new_items"] is True


def test_a_known_user_gets_k_unseen_items_each_with_a_score_and_reason(itemknn: TestClient, runs: dict[str, int]):
    user, history, _ = _training(runs["itemknn"])
    answer = itemknn.post("/recommendations/user", json={"user_id": user, "k": 5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["path"] == "known" and [item["rank"] for item in body["items"]] == [1, 2, 3, 4, 5]
    assert not {item["item_id"] for item in body["items"]} & set(history)
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True) and any(item["reason"] for item in body["items"])
    everything = itemknn.post("/recommendations/user", json={"user_id": user, "k": 1000, "exclude_seen": False})
    assert set(history) <= {item["item_id"] for item in everything.json()["items"]}


@pytest.mark.parametrize(("where", "matches"), [
    ({"category": "books"}, lambda row: row["category"] == "books"),
    ({"tags": "eco"}, lambda row: "eco" in row["tags"].split("|")),
])
def test_a_filter_keeps_only_items_with_the_attribute_value(itemknn: TestClient, runs: dict[str, int], where,
                                                            matches):
    user, _, _ = _training(runs["itemknn"])
    body = itemknn.post("/recommendations/user", json={"user_id": user, "k": 1000, "filter": where}).json()
    assert body["items"] and all(matches(ITEMS.loc[item["item_id"]]) for item in body["items"])


def test_an_unknown_user_is_a_404_naming_it(itemknn: TestClient):
    answer = itemknn.post("/recommendations/user", json={"user_id": "nobody-42"})
    assert answer.status_code == 404 and "'nobody-42'" in answer.json()["detail"]


def test_a_new_user_answer_says_which_path_served_it(mapper: TestClient, itemknn: TestClient, runs: dict[str, int]):
    _, history, _ = _training(runs["mapper"])
    by_attributes = mapper.post("/recommendations/new-user", json={"attributes": {"region": "north"}, "k": 3})
    assert by_attributes.status_code == 200 and by_attributes.json()["path"] == "attributes"
    folded = mapper.post("/recommendations/new-user", json={"liked": history[:2], "k": 3})
    assert folded.json()["path"] == "fold-in"
    assert itemknn.post("/recommendations/new-user", json={"liked": history[:2]}).json()["path"] == "fold-in"


def test_a_model_that_cannot_serve_new_users_refuses_with_its_own_reason(itemknn: TestClient):
    answer = itemknn.post("/recommendations/new-user", json={"attributes": {"region": "north"}})
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("ItemKNN cannot score users it never saw in training")


def test_a_new_item_is_recommendable_at_once_and_after_a_restart(mapper: TestClient, runs: dict[str, int]):
    user, _, _ = _training(runs["mapper"])
    added = mapper.post("/items", json={"item_id": "fresh-1", "attributes": {"category": "books", "tags": "eco"}})
    assert added.status_code == 201, added.text
    asked = {"user_id": user, "k": 1000, "filter": {"category": "books"}}
    assert "fresh-1" in {i["item_id"] for i in mapper.post("/recommendations/user", json=asked).json()["items"]}
    restarted = TestClient(create_app(runs["mapper"]))
    assert "fresh-1" in {i["item_id"] for i in restarted.post("/recommendations/user", json=asked).json()["items"]}
    again = mapper.post("/items", json={"item_id": "fresh-1", "attributes": {"category": "books"}})
    assert again.status_code == 409


def test_a_new_items_tags_may_weigh_their_values_and_a_filter_still_finds_it(mapper: TestClient,
                                                                            runs: dict[str, int]):
    """A weighted attribute, sent as an object or in its stored notation, scores as the set of its values, as the
    dataset's own weighted cells are encoded."""
    weighted = {"category": "books", "tags": {"eco": 9, "kids": 1}}
    audience = mapper.post("/items/audience", json={"attributes": weighted, "n": 5})
    assert audience.status_code == 200, audience.text
    as_text = {"category": "books", "tags": '{"eco": 9, "kids": 1}'}
    assert mapper.post("/items/audience", json={"attributes": as_text, "n": 5}).json() == audience.json()
    listed = mapper.post("/items/audience", json={"attributes": {"category": "books", "tags": "eco|kids"}, "n": 5})
    assert listed.json() == audience.json()
    alone = mapper.post("/items/audience", json={"attributes": {"category": "books", "tags": "eco"}, "n": 5})
    assert alone.json() != audience.json()  # the weighted tags were read, not dropped
    assert mapper.post("/items", json={"item_id": "weighted-1", "attributes": weighted}).status_code == 201
    # journalled in the notation the dataset stores, so a version retrained with it saves (Parquet takes no dict)
    (record,) = [r for r in items_journal(runs["mapper"]).records() if r["item_id"] == "weighted-1"]
    assert record["attributes"]["tags"] == '{"eco": 9, "kids": 1}'
    listed = mapper.post("/recommendations/new-user", json={"attributes": {"region": "north"}, "k": 1000,
                                                               "filter": {"tags": "kids"}}).json()
    assert "weighted-1" in {i["item_id"] for i in listed["items"]}


def test_a_model_that_cannot_score_new_items_refuses_to_add_one(itemknn: TestClient):
    answer = itemknn.post("/items", json={"item_id": "fresh-2", "attributes": {"category": "books"}})
    assert answer.status_code == 422 and "ItemKNN cannot score items it never saw" in answer.json()["detail"]
    audience = itemknn.post("/items/audience", json={"attributes": {"category": "books"}})
    assert audience.status_code == 422


def test_similar_items_are_the_fold_in_answer_to_one_liked_item(itemknn: TestClient, runs: dict[str, int]):
    _, _, training = _training(runs["itemknn"])
    body = itemknn.get(f"/items/{training[0]}/similar", params={"k": 4}).json()
    assert len(body["items"]) == 4 and training[0] not in {item["item_id"] for item in body["items"]}
    assert itemknn.get("/items/no-such-item/similar").status_code == 404


def test_the_audience_of_a_new_item_is_trained_users_best_first(mapper: TestClient, runs: dict[str, int]):
    body = mapper.post("/items/audience", json={"attributes": {"category": "books"}, "n": 5}).json()
    scores = [user["score"] for user in body["users"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)


def test_feedback_is_on_disk_when_the_answer_comes(mapper: TestClient, runs: dict[str, int]):
    _, _, training = _training(runs["mapper"])
    answer = mapper.post("/feedback", json={"user_id": "new-visitor", "item_id": training[0], "event": "click",
                                            "timestamp": 1_700_000_000})
    assert answer.status_code == 201, answer.text
    journal = get_settings().run_dir(runs["mapper"]) / "serving" / "feedback.jsonl"
    last = json.loads(journal.read_text().splitlines()[-1])
    assert last["user_id"] == "new-visitor" and last["item_id"] == training[0] and last["event"] == "click"
    assert last["timestamp"].startswith("2023-11-14T22:13:20")


def test_with_an_api_key_every_request_but_health_must_carry_it(runs: dict[str, int]):
    client = TestClient(create_app(runs["itemknn"], api_key="s3cret"))
    user, _, _ = _training(runs["itemknn"])
    asked = {"user_id": user, "k": 2}
    assert client.get("/health").status_code == 200
    assert client.post("/recommendations/user", json=asked).status_code == 401
    assert client.post("/recommendations/user", json=asked, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post("/recommendations/user", json=asked, headers={"X-API-Key": "s3cret"}).status_code == 200


def test_metrics_count_requests_per_endpoint_with_a_latency_histogram(itemknn: TestClient):
    itemknn.get("/health")
    itemknn.post("/recommendations/user", json={"user_id": "nobody"})
    body = itemknn.get("/metrics").json()
    assert body["model"] == "itemknn" and body["dataset"] == DATASET.name
    stats = body["endpoints"]["POST /recommendations/user"]
    assert stats["requests"] == 1 and stats["by_status"] == {"404": 1}
    assert sum(bucket["count"] for bucket in stats["latency_ms"]) == 1


BAD_REQUESTS = [
    ("post", "/recommendations/user", {"user_id": "u1", "k": 0}),
    ("post", "/recommendations/user", {"user_id": "u1", "k": 1001}),
    ("post", "/recommendations/user", {"user_id": "u1", "filter": {"no_such_attribute": "x"}}),
    ("post", "/recommendations/user", {"user_id": "u1", "filter": {"category": "no-such-value"}}),
    ("post", "/recommendations/user", {"user_id": "u1", "kk": 3}),
    ("post", "/recommendations/user", {"user_id": ""}),
    ("post", "/recommendations/user", "not json"),
    ("post", "/recommendations/new-user", {"attributes": {"no_such_attribute": "x"}}),
    ("post", "/recommendations/new-user", {"attributes": {"region": "atlantis"}}),
    ("post", "/recommendations/new-user", {}),
    ("post", "/recommendations/new-user", {"liked": ["no-such-item"]}),
    ("post", "/items", {"item_id": "x", "attributes": {"no_such_attribute": "x"}}),
    ("post", "/items", {"item_id": "y", "attributes": {}}),
    ("post", "/items", {"attributes": {"category": "books"}}),
    ("get", "/items/no-such-item/similar", None),
    ("get", "/items/i1/similar?k=0", None),
    ("get", "/items/i1/similar?k=abc", None),
    ("post", "/items/audience", {"attributes": {}}),
    ("post", "/items/audience", {"attributes": {"no_such_attribute": "x"}}),
    ("post", "/items/audience", {"attributes": {"price": "cheap"}}),
    ("post", "/items", {"item_id": "z", "attributes": {"item_id": "other", "category": "books"}}),
    ("post", "/recommendations/new-user", {"attributes": {"age": 1e308}}),
    ("post", "/feedback", {"user_id": "u1", "item_id": "i1"}),
    ("post", "/feedback", {"user_id": "u1", "item_id": "no-such-item", "event": "click"}),
    ("post", "/feedback", {"user_id": "u1", "item_id": "i1", "rating": "five"}),
    ("post", "/feedback", {"user_id": "u1", "item_id": "i1", "event": "click", "timestamp": "yesterday"}),
    ("get", "/no-such-endpoint", None),
]


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # the age of 1e308
@pytest.mark.parametrize("model", ["mapper", "itemknn"])
def test_no_bad_input_ever_gets_a_500(runs: dict[str, int], model: str):
    client = TestClient(create_app(runs[model]), raise_server_exceptions=False)
    for method, path, body in BAD_REQUESTS:
        sent = {"content": body} if isinstance(body, str) else {"json": body} if body is not None else {}
        answer = client.request(method.upper(), path, **sent)
        assert 400 <= answer.status_code < 500, (model, path, body, answer.status_code, answer.text)
        assert answer.json()["detail"], (path, body)


def test_an_unexpected_error_is_a_500_with_a_one_line_message(itemknn: TestClient, runs: dict[str, int],
                                                               monkeypatch: pytest.MonkeyPatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("scorer broke\nsecond line")

    monkeypatch.setattr(ServedRun, "similar_items", broken)
    _, _, training = _training(runs["itemknn"])
    answer = itemknn.get(f"/items/{training[0]}/similar")
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal error: RuntimeError: scorer broke second line"}


def test_serve_refuses_a_run_without_a_model_with_exit_2(runs: dict[str, int], capsys: pytest.CaptureFixture):
    assert main(["serve", "--run", "9999"]) == 2
    assert "run 9999 does not exist" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_python_m_engine_serve_answers_health_on_loopback(runs: dict[str, int]):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--run", str(runs["itemknn"]),
                               "--port", str(port)], cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    health = json.loads(response.read())
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "the server did not answer /health within 60 s"
                time.sleep(0.3)
        assert health["run_id"] == runs["itemknn"] and health["model"] == "itemknn"
    finally:
        server.terminate()
        server.wait(timeout=30)
