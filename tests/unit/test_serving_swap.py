"""What a swap carries, through the real HTTP API of a live server: items added to the old run become
recommendable in the new one (or are named as not carried, with why), feedback posted before the swap stays
counted and keeps shaping the user's recommendations (seen items left out, fold-in models folding it in), and a
swap to the version retrained with that feedback carries the events the version does not hold yet."""

from __future__ import annotations

import httpx2 as httpx  # the client Starlette's TestClient also uses (requirements.txt)
import pytest
from fastapi.testclient import TestClient

from engine.data.synthetic import generate_synthetic
from engine.jobs.child import execute_run
from engine.jobs.queue import claim_next_run
from engine.serving import create_app
from engine.serving.feedback_loop import feedback_by_dataset, retrain_with_feedback
from engine.serving.service import ServedRun
from engine.store.journal import items_journal
from tests.explore_seed import finished_runs, isolated_database_for_serving
from tests.live_server import LiveServer

BOOK = {"category": "books", "tags": "eco"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    with isolated_database_for_serving(tmp_path_factory.mktemp("serving-swap") / "home") as folder:
        yield folder


@pytest.fixture(scope="module")
def runs(home) -> tuple[int, int, int]:
    """Two mapper runs (they serve new items) and an itemknn run (it cannot) on one cold-item experiment."""
    _, run_ids = finished_runs(("mapper", "itemknn", "mapper"), protocol="cold-item",
                               dataset=generate_synthetic(60, 40, 900, seed=21))
    return tuple(run_ids)


def _user_and_unseen_items(run_id: int) -> tuple[str, list[str], list[str]]:
    """A trained user, their training items, and training items they have not interacted with."""
    data = ServedRun.load(run_id).context.data
    history = [str(data.item_ids[i]) for i in data.matrix[0].indices]
    return str(data.user_ids[0]), history, [str(i) for i in data.item_ids if str(i) not in history]


def _ids(answer: dict) -> list[str]:
    return [item["item_id"] for item in answer["items"]]


def _for_user(client: httpx.Client, user: str, **asked) -> dict:
    reply = client.post("/recommendations/user", json={"user_id": user, "k": 1000} | asked)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_added_items_and_feedback_follow_every_swap(runs):
    first, itemknn, second = runs
    user, history, unseen = _user_and_unseen_items(first)
    liked = unseen[0]
    with LiveServer(create_app(first)) as url, httpx.Client(base_url=url, timeout=120) as client:
        for item in ("fresh-1", "fresh-2"):
            assert client.post("/items", json={"item_id": item, "attributes": BOOK}).status_code == 201
        assert _for_user(client, user)["path"] == "known"
        for item in (liked, "fresh-1"):
            assert client.post("/feedback", json={"user_id": user, "item_id": item, "rating": 5}).status_code == 201
        before = _for_user(client, user)
        assert before["path"] == "fold-in" and before["feedback_items"] == 2
        assert not {liked, "fresh-1"} & set(_ids(before))
        assert {liked, "fresh-1"} <= set(_ids(_for_user(client, user, exclude_seen=False)))

        swapped = client.post("/admin/swap", json={"run_id": second})
        assert swapped.status_code == 200, swapped.text
        body = swapped.json()
        assert body["run_id"] == second and body["items_carried"] == ["fresh-1", "fresh-2"]
        assert body["items_refused"] == {} and body["items_present"] == []
        assert body["feedback_events"] == 2 and body["feedback_carried"] == 0
        assert "same dataset" in body["feedback_note"]
        assert client.get("/health").json()["feedback_events"] == 2
        after = _for_user(client, user)
        assert after["run_id"] == second and after["path"] == "fold-in" and after["feedback_items"] == 2
        assert not {liked, "fresh-1"} & set(_ids(after))
        other = str(ServedRun.load(second).context.data.user_ids[1])
        assert "fresh-2" in _ids(_for_user(client, other, filter={"category": "books"}))
        assert client.post("/feedback", json={"user_id": user, "item_id": unseen[1], "event": "click",
                                              "rating": 4}).status_code == 201
        assert unseen[1] not in _ids(_for_user(client, user))

        to_knn = client.post("/admin/swap", json={"run_id": itemknn}).json()
        assert to_knn["items_carried"] == [] and sorted(to_knn["items_refused"]) == ["fresh-1", "fresh-2"]
        assert all(reason.startswith("ItemKNN cannot") for reason in to_knn["items_refused"].values())
        assert to_knn["feedback_events"] == 3
        folded = _for_user(client, user, k=5)
        assert folded["path"] == "fold-in" and not {liked, unseen[1]} & set(_ids(folded))
        # ItemKNN folds the user in from training history plus feedback: the answer a new user who liked those gets
        as_new = client.post("/recommendations/new-user", json={"liked": history + [liked, unseen[1]], "k": 5})
        assert _ids(as_new.json()) == _ids(folded)

    carried = items_journal(second).records()
    assert [(r["item_id"], r["carried_from_run"]) for r in carried] == [("fresh-1", first), ("fresh-2", first)]
    restarted = TestClient(create_app(second))
    assert "fresh-1" in _ids(_for_user(restarted, other, filter={"category": "books"}))
    assert restarted.get("/health").json()["feedback_events"] == 3


def test_a_swap_to_the_retrained_version_carries_the_feedback_it_does_not_hold(home, runs):
    _, (served,) = finished_runs(("mapper",), protocol="cold-item", dataset=generate_synthetic(60, 40, 900, seed=23))
    user, _, unseen = _user_and_unseen_items(served)
    with LiveServer(create_app(served)) as url, httpx.Client(base_url=url, timeout=120) as client:
        assert client.post("/items", json={"item_id": "fresh-9", "attributes": BOOK}).status_code == 201
        for item in unseen[:2]:
            assert client.post("/feedback", json={"user_id": user, "item_id": item, "rating": 5}).status_code == 201
        made = retrain_with_feedback(served)
        late = {"user_id": user, "item_id": unseen[2], "rating": 4}
        assert client.post("/feedback", json=late).status_code == 201
        while (claimed := claim_next_run("test-worker", "cpu")) is not None:
            assert execute_run(claimed.id) == 0
        retrained = min(made.run_ids)  # the mapper, queued as the experiment's only model

        swapped = client.post("/admin/swap", json={"run_id": retrained}).json()
        assert swapped["feedback_carried"] == 1 and swapped["feedback_events"] == 1
        assert swapped["feedback_note"].startswith("1 of 3 feedback events carried")
        assert swapped["items_carried"] == ["fresh-9"]
        assert feedback_by_dataset()[made.dataset_id].events == 1
        answer = _for_user(client, user)
        assert answer["run_id"] == retrained and not set(unseen[:3]) & set(_ids(answer))

        elsewhere = client.post("/admin/swap", json={"run_id": runs[0]}).json()
        assert elsewhere["feedback_carried"] == 0 and elsewhere["feedback_note"].startswith("not carried")
