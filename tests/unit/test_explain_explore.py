"""Explore: fitted models loaded from their artifacts answer for a test user, a made-up new user and a new item."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from engine.analysis import explore
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.tables import RunRow
from tests.databases import isolated_database
from tests.explore_seed import finished_runs

MODELS = ("mostpop", "itemknn", "content")


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    """A small synthetic dataset, a cold-user experiment and three finished runs with saved models."""
    with pytest.MonkeyPatch.context() as patch, isolated_database(patch, tmp_path_factory.mktemp("explore-home")):
        experiment_id, run_ids = finished_runs(MODELS)
        context = explore.load_context(experiment_id)
        runs = [explore.load_fitted_run(r) for r in run_ids]
        yield context, runs, run_ids


def test_test_user_gets_each_serving_models_top_k_with_held_out_hits_marked(explored):
    context, runs, _ = explored
    user = explore.slice_users(context, "cold-user")[0]
    answers = {a.run.name: a for a in explore.recommend_for_test_user(context, runs, "cold-user", user, k=10)}
    assert "cannot score users it never saw" in answers["itemknn"].not_applicable
    truth = set(context.test_slice("cold-user").truth.query("user_id == @user")["item_id"].astype(str))
    for name in ("mostpop", "content"):
        table = answers[name].table
        assert table["rank"].tolist() == list(range(1, 11))
        assert table["hit"].tolist() == [i in truth for i in table["item_id"]]
        assert table["score"].is_monotonic_decreasing
        assert "category" in table.columns  # items shown with their attributes


def test_cold_user_history_is_empty_because_the_split_kept_nothing_of_them_in_training(explored):
    context, _, _ = explored
    user = explore.slice_users(context, "cold-user")[0]
    assert explore.user_history(context, "cold-user", user).empty


def test_recommendations_never_repeat_the_users_history(explored):
    context, runs, _ = explored
    user = explore.slice_users(context, "warm")[0]
    history = set(explore.user_history(context, "warm", user)["item_id"])
    for answer in explore.recommend_for_test_user(context, runs, "warm", user, k=10):
        assert answer.not_applicable is None
        assert not history & set(answer.table["item_id"])
        if answer.run.name == "itemknn":
            assert answer.reason_kind == "co-liked"
            assert answer.table["why"].str.startswith("because you liked").any()


def test_new_user_from_attributes_only_is_answered_by_models_that_serve_new_users(explored):
    context, runs, _ = explored
    answers = {a.run.name: a for a in explore.recommend_for_new_user(
        context, runs, {"occupation": "student", "age": 22}, liked=[], k=5)}
    assert answers["itemknn"].not_applicable.startswith("ItemKNN cannot score users it never saw in training")
    assert len(answers["content"].table) == 5 and len(answers["mostpop"].table) == 5
    assert answers["content"].reason_kind == "similar-users"
    assert answers["mostpop"].reason_kind == "popular"
    assert answers["mostpop"].table["why"].str.startswith("liked by").all()
    assert "hit" not in answers["content"].table.columns  # a made-up user has no held-out positives to mark


def test_new_users_attributes_change_a_content_models_list(explored):
    context, runs, _ = explored
    content = [r for r in runs if r.name == "content"]
    lists = {occupation: explore.recommend_for_new_user(context, content, {"occupation": occupation}, [], k=10)[0]
             .table["item_id"].tolist() for occupation in ("student", "retired")}
    assert lists["student"] != lists["retired"]


def test_new_user_with_liked_items_is_folded_in_and_never_gets_them_back(explored):
    context, runs, _ = explored
    liked = [str(i) for i in context.data.item_ids[:3]]
    answers = {a.run.name: a for a in explore.recommend_for_new_user(context, runs, {}, liked=liked, k=5)}
    assert answers["itemknn"].not_applicable is None
    assert not set(liked) & set(answers["itemknn"].table["item_id"])


def test_unknown_liked_item_or_attribute_is_refused_with_what_to_do(explored):
    context, runs, _ = explored
    with pytest.raises(explore.ExploreError, match="not training items"):
        explore.recommend_for_new_user(context, runs, {}, liked=["no-such-item"])
    with pytest.raises(explore.ExploreError, match="unknown user attribute"):
        explore.recommend_for_new_user(context, runs, {"shoe_size": 44}, liked=[])


def test_new_item_audience_comes_only_from_models_that_use_item_attributes(explored):
    context, runs, _ = explored
    answers = {a.run.name: a for a in explore.audience_for_new_item(
        context, runs, {"category": "toys", "tags": "kids", "price": 20.0}, n=7)}
    for name, label in (("mostpop", "MostPopular"), ("itemknn", "ItemKNN")):
        assert answers[name].not_applicable.startswith(f"{label} cannot score items it never saw in training")
    audience = answers["content"].table
    assert len(audience) == 7 and set(audience["user_id"]) <= set(context.data.user_ids)
    assert "occupation" in audience.columns


def test_each_user_of_a_new_items_audience_is_given_the_items_they_liked_that_share_its_attributes(explored):
    """The audience listed bare user ids; each now says what in their history fits the new item."""
    import re

    context, runs, _ = explored
    answers = {a.run.name: a for a in explore.audience_for_new_item(context, runs, {"category": "toys"}, n=7)}
    audience = answers["content"].table
    assert answers["content"].reason_kind == "audience" and list(audience.columns[:4]) == ["rank", "user_id", "score",
                                                                                          "why"]
    items = context.dataset.items.assign(item_id=context.dataset.items["item_id"].astype(str)).set_index("item_id")
    train = context.split.train.assign(user_id=context.split.train["user_id"].astype(str),
                                       item_id=context.split.train["item_id"].astype(str))
    for user, why in zip(audience["user_id"], audience["why"]):
        liked = train.loc[train["user_id"] == user, "item_id"].unique()
        toys = [i for i in liked if items.loc[i, "category"] == "toys"]
        match = re.fullmatch(r"(\d+) of the (\d+) items they liked shares? category toys: (.+)", why)
        if not toys:
            assert why == f"none of the {len(liked)} items they liked shares its attributes"
            continue
        assert match and (int(match[1]), int(match[2])) == (len(toys), len(liked)), why
        assert set(match[3].split(", ")) <= {context.explainer.label(i) for i in toys}  # toys they liked, by title
    assert audience["why"].str.match(r"\d+ of the").sum() >= 5  # a content model's audience liked toys before


def test_new_entity_encoding_uses_the_dataset_columns(explored):
    context, _, _ = explored
    row = explore.encode_new_entity(context, "item", {"category": "toys"})
    columns = [context.data.item_features.columns[c] for c in row.indices]
    assert columns == ["category=toys"]


def test_a_made_up_items_number_is_encoded_exactly_like_an_existing_item_with_that_number(explored):
    context, _, _ = explored
    features = context.data.item_features
    existing = context.dataset.items.dropna(subset=["price"]).iloc[0]
    made_up = explore.encode_new_entity(context, "item", {"price": float(existing["price"])}).toarray()[0]
    price_columns = np.flatnonzero(features.column_field == features.field_names.index("price"))
    np.testing.assert_array_equal(made_up[price_columns], features.values("price", [existing["item_id"]]).toarray()[0])
    assert made_up[price_columns].any()


def test_runs_without_a_fitted_model_cannot_be_explored_and_say_why(explored):
    context, _, run_ids = explored
    with pytest.raises(explore.ExploreError, match="does not exist"):
        explore.load_fitted_run(max(run_ids) + 100)
    with session_scope() as session:
        queued = RunRow(experiment_id=context.experiment_id, model="mostpop", status="queued")
        headless = RunRow(experiment_id=context.experiment_id, model="mostpop", status="done",
                          artifact_path="artifacts/run-without-model")
        session.add_all([queued, headless])
        session.flush()
        queued_id, headless_id = queued.id, headless.id
    with pytest.raises(explore.ExploreError, match="is queued and has no fitted model"):
        explore.load_fitted_run(queued_id)
    with pytest.raises(explore.ExploreError, match="kept no model file"):
        explore.load_fitted_run(headless_id)


def test_a_saved_model_that_no_longer_loads_is_refused_with_what_to_do(explored):
    # a model saved by an older version: its tensors are not the ones this version's model reads
    context, _, run_ids = explored
    with session_scope() as session:
        original = session.get(RunRow, run_ids[MODELS.index("itemknn")])
        stale = RunRow(experiment_id=context.experiment_id, model="itemknn", status="done",
                       artifact_path="artifacts/stale-itemknn")
        session.add(stale)
        session.flush()
        stale_id, source = stale.id, get_settings().home / original.artifact_path
    folder = get_settings().home / "artifacts" / "stale-itemknn"
    folder.mkdir(parents=True)
    shutil.copy(source / "model.json", folder / "model.json")
    torch.save({"weights_of_an_older_version": torch.zeros(2)}, folder / "state.pt")
    refusal = rf"run {stale_id} \(itemknn\): its saved model does not load.*re-run it"
    with pytest.raises(explore.ExploreError, match=refusal):
        explore.load_fitted_run(stale_id)


def test_date_attributes_offer_the_earliest_median_and_latest_date():
    import datetime as dt
    from types import SimpleNamespace

    import pandas as pd

    from engine.data.dataset import Dataset

    interactions = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"], "weight": [1.0, 1.0]})
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "released": ["1995-03-01", "02-Jan-1990", "not a date"]})
    dataset = Dataset(interactions, items, None, {"released": "date"}, {})
    context = SimpleNamespace(dataset=dataset)
    assert explore.date_attributes(context, "item") == {
        "released": (dt.date(1990, 1, 2), dt.date(1995, 3, 1), dt.date(1995, 3, 1))}
    assert explore.date_attributes(context, "user") == {}


def test_numeric_attributes_offer_the_minimum_median_and_maximum():
    from types import SimpleNamespace

    import pandas as pd

    from engine.data.dataset import Dataset

    interactions = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"], "weight": [1.0, 1.0]})
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "price": ["9.5", "2", "unknown", "4"],
                          "note": ["x", "y", "z", "w"]})
    dataset = Dataset(interactions, items, None, {"price": "numeric", "note": "categorical"}, {})
    context = SimpleNamespace(dataset=dataset)
    assert explore.numeric_attributes(context, "item") == {"price": (2.0, 4.0, 9.5)}
    assert explore.numeric_attributes(context, "user") == {}


def test_the_page_opens_on_runs_and_a_slice_where_something_answers(explored):
    context, _, run_ids = explored
    mostpop, itemknn, content = run_ids
    assert explore.opening_slice(context, ["itemknn", "mostpop"]) == "cold-user"
    # ItemKNN cannot score new users, so alone it opens on the warm slice rather than on "not applicable"
    assert explore.opening_slice(context, ["itemknn"]) == "warm"
    newest_first = {itemknn: "itemknn", content: "content", mostpop: "mostpop"}
    assert explore.default_runs(context, newest_first, limit=2) == [content, mostpop]
    assert explore.default_runs(context, newest_first) == [content, mostpop, itemknn]


def test_the_page_opens_on_one_run_per_model_before_a_second_run_of_any(explored):
    # a model trained again (tuned, another seed) must not push the other models out of the opening selection
    context, _, run_ids = explored
    mostpop, itemknn, content = run_ids
    newest_first = {100: "content", 101: "content", 102: "content", content: "content", mostpop: "mostpop",
                    itemknn: "itemknn"}
    # (ItemKNN cannot answer on the opening cold-user slice, so a second Content run comes before it)
    assert explore.default_runs(context, newest_first, limit=3) == [100, mostpop, 101]


def test_a_new_items_audience_leaves_out_the_user_attributes_set_to_ignore(explored):
    context, runs, _ = explored
    ignoring = dataclasses.replace(context, dataset=dataclasses.replace(
        context.dataset, user_kinds={**context.dataset.user_kinds, "region": "ignore"}))
    (answer,) = [a for a in explore.audience_for_new_item(ignoring, runs, {"category": "toys"}, n=5)
                 if a.run.name == "content"]
    assert "occupation" in answer.table.columns and "region" not in answer.table.columns


def test_explore_lists_what_the_evaluator_ranked_ties_broken_the_same_seeded_way(explored):
    from engine.metrics.evaluation import evaluate

    context, runs, _ = explored
    mostpop = next(run for run in runs if run.name == "mostpop")
    evaluation_slice = context.test_slice("cold-user")
    k = 40  # deep enough that MostPopular's equal counts tie inside the lists
    evaluated = evaluate(mostpop.model, context.data, [evaluation_slice], ks=(k,), seed=mostpop.model.seed,
                         n_bootstrap=0, beyond=False, recommendations=True).recommendations["cold-user"]
    users = explore.slice_users(context, "cold-user")[:5]
    tied = 0
    for user in users:
        (answer,) = explore.recommend_for_test_user(context, [mostpop], "cold-user", user, k=k)
        expected = evaluated.loc[evaluated["user_id"] == user].sort_values("rank")
        assert answer.table["item_id"].tolist() == expected["item_id"].astype(str).tolist()
        tied += int(answer.table["score"].duplicated().sum())
    assert tied > 0, "the check needs tied scores to mean anything"
    by_id = sorted(answer.table["item_id"], key=lambda i: (-answer.table.set_index("item_id").loc[i, "score"], i))
    assert answer.table["item_id"].tolist() != by_id, "ties are not broken by id"


def test_liked_item_pickers_show_an_unnamed_items_attributes_not_its_id_twice(explored):
    """Items without a title were offered as 'i7 (i7)', which told a person nothing about what to pick: they are
    shown by id and the start of their attributes; a named item keeps 'name (id)'."""
    context, _, _ = explored
    named = explore.training_item_names(context)
    item = next(iter(named))
    assert named[item] == f"{context.explainer.label(item)} ({item})" and context.explainer.label(item) != item
    items = context.dataset.items.drop(columns="title")
    kinds = {c: k for c, k in context.dataset.item_kinds.items() if c != "title"}
    unnamed = dataclasses.replace(context, dataset=dataclasses.replace(context.dataset, items=items, item_kinds=kinds),
                                  explainer=explore.Explainer(context.data))
    names = explore.training_item_names(unnamed)
    row = items.loc[items["item_id"].astype(str) == item].iloc[0]
    first = next(c for c in kinds if kinds[c] != "ignore")
    assert names[item].startswith(f"{item} · {first}: ")
    assert str(row[first]).split("|")[0] in names[item]
    assert all(len(name) <= len(i) + 3 + explore.PICKER_SUMMARY_CHARS for i, name in names.items())


def test_a_large_tag_vocabulary_is_offered_whole_most_frequent_first(explored):
    """A made-up item of a bookmarking catalogue could be described by its 50 commonest tags only."""
    context, _, _ = explored
    items = context.dataset.items.copy()
    items["tags"] = ["common|" + "|".join(f"t{3 * position + k}" for k in range(3)) for position in range(len(items))]
    tagged = dataclasses.replace(context, dataset=dataclasses.replace(context.dataset, items=items))
    offered = explore.attribute_choices(tagged, "item")["tags"]
    assert len(items) * 3 > 50
    assert offered[0] == "common" and len(offered) == 1 + 3 * len(items)
