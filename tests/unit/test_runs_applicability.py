"""The model picker's 'can serve' line is about the experiment at hand: its protocol's slices and its dataset's
ratings and attributes, not what the model could serve on some other data."""

from __future__ import annotations

import pytest

from engine.data.catalog import save_dataset
from engine.data.indexing import build_train_data
from engine.data.synthetic_kinds import generate_kind
from engine.metrics.evaluation import reason_not_served
from engine.models.registry import get_model_class, model_names
from engine.runs.applicability import serving_on, serving_summary
from engine.runs.experiments import create_experiment, load_split


def _experiment(kind: str, protocol: str) -> int:
    dataset = generate_kind(kind, n_users=120, n_items=100, n_interactions=2400, seed=0)
    return create_experiment(save_dataset(dataset, f"{kind} shop", "synthetic"), protocol, {}, seed=0)


@pytest.mark.parametrize("kind, protocol", [("tags", "few-shot-user"), ("genres", "cold-both"),
                                            ("genres", "few-shot-item")])
def test_what_the_picker_says_each_model_cannot_serve_is_what_the_evaluator_will_say(coldstart_home, kind, protocol):
    experiment = _experiment(kind, protocol)
    split = load_split(experiment)
    from engine.data.catalog import load_dataset
    from engine.runs.experiments import get_experiment

    train = build_train_data(split.train, load_dataset(get_experiment(experiment).dataset_id))
    for model in model_names():
        said = {s.name: s.refused for s in serving_on(model, experiment)}
        assert said == {s.name: reason_not_served(get_model_class(model), train, s) for s in split.test}, model


def test_on_data_without_user_attributes_new_users_are_served_without_being_told_apart(coldstart_home):
    tags = _experiment("tags", "cold-user")  # tags describe the items; nothing describes the users
    assert serving_summary("segmentpop", tags) == (
        "warm · cold-user, overall, but without telling new users apart: 'tags shop' has no user attributes")
    assert serving_summary("mostpop", tags).endswith("without telling new users apart: it reads no user attributes")
    assert serving_summary("itemknn", tags) == ("warm · not cold-user, overall: ItemKNN cannot score users it never "
                                                "saw in training: it has no user attributes to use")
    # implicit feedback: a model that needs ratings serves nothing here, and says why
    assert serving_summary("svdpp", tags) == ("none of this experiment's slices · not warm, cold-user, overall: "
                                              "SVD++ needs explicit ratings and this dataset has none")
    described = _experiment("genres", "cold-user")  # users with age, gender and occupation
    assert serving_summary("segmentpop", described) == "warm, cold-user, overall"


def test_few_shot_slices_read_as_one_group_and_a_fold_in_model_tells_their_users_apart(coldstart_home):
    experiment = _experiment("tags", "few-shot-user")
    summary = serving_summary("itemknn", experiment)
    assert summary == "warm, few-shot-user (k1, k2, k3, k5, k10), overall"
    # a model that serves new users from attributes alone ignores what they revealed, and says so
    assert "without telling new users apart: 'tags shop' has no user attributes (it ignores their revealed " \
           "interactions)" in serving_summary("segmentpop", experiment)
