"""Onboarding strategies pick what they promise, and the simulated protocol answers and scores like a new user."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from engine.data.canonical import read_canonical_folder
from engine.data.dataset import Dataset, Feedback
from engine.data.indexing import build_train_data
from engine.models.registry import create_model
from engine.onboarding import (LIKED, NOT_LIKED, STRATEGIES, OnboardingError, OnboardingPopulation,
                               OnboardingState, create_strategy, onboarding_context, onboarding_curves,
                               onboarding_population, simulate_onboarding)
from engine.onboarding.base import best_not_asked
from engine.runs.protocol_catalog import make_split


@pytest.fixture
def toy():
    """Six rating users: p is liked by all (entropy 0), q splits 1/5 (1 bit), r one 1 and one 5, s one 5.
    Genres: p and q are Comedy, r and s Horror. Positives are ratings of 4 and more."""
    ratings = {"p": [5, 5, 5, 5, 5, 5], "q": [1, 5, 1, 5, None, None], "r": [None, None, 1, 5, None, None],
               "s": [None, None, None, None, 5, None]}
    rows = [(f"t{u}", item, float(r)) for item, column in ratings.items() for u, r in enumerate(column)
            if r is not None]
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    items = pd.DataFrame({"item_id": list("pqrs"), "genres": ["Comedy", "Comedy", "Horror", "Horror"]})
    dataset = Dataset(interactions, items, None, {"genres": "multi"}, {}, Feedback("explicit", 4.0))
    train = build_train_data(dataset.positives(), dataset)
    model = create_model("itemknn", {}, 0).fit(train)
    return dataset, train, model


def _first_pick(name: str, dataset, train, model) -> str:
    context = onboarding_context(model, train, dataset, seed=0)
    strategy = create_strategy(name)
    strategy.prepare(context)
    state = OnboardingState.empty(np.array(["n1"], dtype=object), context.n_items, None)
    return str(context.items.ids[strategy.choose(context, state)[0]])


def test_popularity_asks_the_item_most_users_liked_and_entropy_the_most_divisive(toy):
    assert _first_pick("popularity", *toy) == "p"
    assert _first_pick("entropy", *toy) in {"q", "r"}  # both split their raters evenly: 1 bit each
    assert _first_pick("log-pop-entropy", *toy) == "q"  # divisive and the better known of the two


def test_coverage_asks_about_another_genre_after_the_most_popular_item(toy):
    dataset, train, model = toy
    context = onboarding_context(model, train, dataset, seed=0)
    strategy = create_strategy("coverage")
    strategy.prepare(context)
    state = OnboardingState.empty(np.array(["n1"], dtype=object), context.n_items, None)
    first = strategy.choose(context, state)
    state.asked[0, first] = True
    second = strategy.choose(context, state)
    assert context.items.ids[first[0]] == "p"
    assert context.items.ids[second[0]] in {"r", "s"}  # q is a Comedy like p


def test_coverage_needs_item_attributes(toy):
    dataset, train, model = toy
    bare = Dataset(dataset.interactions, None, None, {}, {}, dataset.feedback)
    train = build_train_data(bare.positives(), bare)
    context = onboarding_context(create_model("itemknn", {}, 0).fit(train), train, bare, seed=0)
    with pytest.raises(OnboardingError, match="needs item attributes"):
        create_strategy("coverage").prepare(context)


def test_unknown_strategy_names_the_known_ones():
    with pytest.raises(OnboardingError, match="known strategies: random, popularity"):
        create_strategy("oracle")


def test_best_not_asked_never_repeats_and_says_when_nothing_is_left():
    asked = np.array([[True, False, False], [True, True, True]])
    assert best_not_asked(np.array([[9.0, 1.0, 2.0], [1.0, 2.0, 3.0]]), asked).tolist() == [2, -1]


def _population(train, answers: dict[str, dict[str, int]], truth: dict[str, list[str]]) -> OnboardingPopulation:
    users = sorted(answers)
    column = {item: j for j, item in enumerate(train.item_ids)}
    a = sp.lil_matrix((len(users), train.n_items), dtype=np.float32)
    t = sp.lil_matrix((len(users), train.n_items), dtype=np.float32)
    for row, user in enumerate(users):
        for item, answer in answers[user].items():
            a[row, column[item]] = answer
        for item in truth[user]:
            t[row, column[item]] = 1
    return OnboardingPopulation(np.asarray(users, dtype=object), a.tocsr(), t.tocsr(), None)


def test_simulation_answers_from_the_users_own_history_and_folds_in_only_liked_answers(toy):
    dataset, train, model = toy
    population = _population(train, {"n1": {"p": LIKED}, "n2": {"p": NOT_LIKED}}, {"n1": ["q"], "n2": ["q"]})
    per_user = simulate_onboarding(model, train, dataset, population, ["popularity", "random"], steps=(1, 4))
    first = per_user.loc[(per_user["strategy"] == "popularity") & (per_user["step"] == 1)].set_index("user_id")
    assert first.loc["n1", ["answered", "liked"]].tolist() == [1, 1]
    assert first.loc["n2", ["answered", "liked"]].tolist() == [1, 0]
    everything = per_user.loc[per_user["step"] == 4]
    # four questions cover the four-item catalogue; only p was answerable, the rest is 'never seen'
    assert (everything["answered"] == 1).all()
    assert set(per_user["step"]) == {0, 1, 4}
    start = per_user.loc[per_user["step"] == 0].groupby("user_id")["ndcg@10"].nunique()
    assert (start == 1).all()  # step 0 is the common start of every strategy


def test_simulation_refuses_an_empty_population_and_bad_steps(toy):
    dataset, train, model = toy
    empty = _population(train, {}, {})
    with pytest.raises(OnboardingError, match="no new user"):
        simulate_onboarding(model, train, dataset, empty, ["random"])
    with pytest.raises(OnboardingError, match="positive whole numbers"):
        simulate_onboarding(model, train, dataset, _population(train, {"n1": {}}, {"n1": ["q"]}), ["random"],
                            steps=(0, 2))


@pytest.fixture(scope="module")
def movielens_onboarding(ml100k_dir):
    """ML-100K new users (a cold-user split's test users), ItemKNN, three strategies over 3 questions."""
    dataset = read_canonical_folder(ml100k_dir)
    split = make_split(dataset, "cold-user", 0, {"cold_fraction": 0.1})
    train = build_train_data(split.train, dataset)
    users = next(s for s in split.test if s.name == "cold-user").users
    population = onboarding_population(dataset, train, users, seed=0)
    model = create_model("itemknn", {}, 0).fit(train)
    per_user = simulate_onboarding(model, train, dataset, population, ["random", "popularity", "ranking-impact"],
                                   steps=(1, 3), seed=0)
    return dataset, train, population, per_user


def test_on_movielens_new_users_answer_from_held_out_rows_never_from_their_test_part(movielens_onboarding):
    dataset, train, population, _ = movielens_onboarding
    assert len(population) > 30
    overlap = population.answers.multiply(population.truth)
    assert overlap.nnz == 0
    assert not set(population.user_ids) & set(train.user_ids)
    # ML-100K counts ratings of 4 and 5 as positives: an answer is 'liked' exactly when the rating is 4 or more
    coo = population.answers.tocoo()
    answered = pd.DataFrame({"user_id": population.user_ids[coo.row], "item_id": train.item_ids[coo.col],
                             "answer": coo.data})
    rated = answered.merge(dataset.interactions.astype({"user_id": str, "item_id": str}), on=["user_id", "item_id"])
    assert len(rated) == len(answered)
    assert ((rated["rating"] >= 4) == (rated["answer"] == LIKED)).all()
    assert set(np.unique(coo.data)) == {LIKED, NOT_LIKED}


def test_on_movielens_asking_popular_items_beats_random_revealing_outside_the_paired_interval(movielens_onboarding):
    _, _, population, per_user = movielens_onboarding
    curves = onboarding_curves(per_user, "ndcg@10", n_bootstrap=500).set_index(["strategy", "step"])
    assert curves.loc[("popularity", 3), "beats_baseline"]
    assert curves.loc[("popularity", 3), "difference_ci_low"] > 0
    assert curves.loc[("popularity", 3), "answered"] > curves.loc[("random", 3), "answered"]
    assert curves.loc[("ranking-impact", 3), "mean"] > curves.loc[("random", 3), "mean"]
    # the same users and test items for every strategy and step, so pairing is by user
    assert curves["n_users"].nunique() == 1
    assert (per_user["answered"] <= per_user["step"]).all()


def test_every_registered_strategy_runs_on_movielens(movielens_onboarding):
    dataset, train, population, _ = movielens_onboarding
    model = create_model("mostpop", {}, 0).fit(train)
    per_user = simulate_onboarding(model, train, dataset, population, list(STRATEGIES), steps=(2,))
    assert set(per_user["strategy"]) == set(STRATEGIES)
    assert per_user.loc[per_user["step"] == 2, "answered"].between(0, 2).all()


def test_onboarding_protocol_parameters_are_checked_with_their_names():
    from engine.protocols import ProtocolError
    from engine.runs.protocol_catalog import get_protocol

    protocol = get_protocol("onboarding")
    assert protocol.parse({"steps": "5,1", "strategies": "popularity,random"}).steps == (1, 5)
    for bad, name in (({"steps": "0,2"}, "steps"), ({"strategies": "oracle"}, "strategies"),
                      ({"answer_fraction": 1.0}, "answer_fraction")):
        with pytest.raises(ProtocolError, match=name):
            protocol.parse(bad)


def test_an_onboarding_run_adds_a_slice_per_strategy_and_question_count(ml100k_dir):
    from engine.core.model import Capabilities
    from engine.onboarding.curves import recorded_curves
    from engine.onboarding.protocol import evaluate_onboarding
    from engine.runs.runner import fit_and_evaluate

    dataset = read_canonical_folder(ml100k_dir)
    split = make_split(dataset, "onboarding", 0, {"cold_fraction": 0.1, "steps": "1,3",
                                                  "strategies": "random,popularity"})
    assert split.protocol == "onboarding" and {s.name for s in split.test} >= {"warm", "cold-user"}
    result = fit_and_evaluate(dataset, split, "itemknn", {}, 0, ks=(10,))
    slices = result.results.to_json()["slices"] if hasattr(result.results, "to_json") else result.results["slices"]
    expected = {f"onboarding-{s}-k{k}" for s in ("random", "popularity") for k in (0, 1, 3)}
    assert expected <= set(slices)
    assert slices["onboarding-popularity-k3"]["answered"]["mean"] > slices["onboarding-random-k3"]["answered"]["mean"]
    curves = recorded_curves(result.per_user.assign(variant="ItemKNN"), "ndcg@10", n_bootstrap=300)
    assert bool(curves.set_index(["strategy", "step"]).loc[("popularity", 3), "beats_baseline"])

    class WarmOnly(type(result.model)):
        capabilities = Capabilities()

    train = build_train_data(split.train, dataset)
    refused, rows = evaluate_onboarding(WarmOnly(), train, dataset, split, (10,), 0)
    assert set(refused) == expected and rows.empty
    assert all("cannot" in entry.not_applicable for entry in refused.values())

    # a cap on the users onboarded draws a seeded sample of them
    capped = dataclasses.replace(split, params={**split.params, "max_users": 20})
    _, sampled = evaluate_onboarding(result.model, train, dataset, capped, (10,), 0)
    onboarded = set(result.per_user.loc[result.per_user["slice"].str.startswith("onboarding-"), "user_id"])
    assert len(onboarded) > 20 and sampled["user_id"].nunique() == 20
    assert set(sampled["user_id"]) <= onboarded
