"""The contract every registered model honours, checked on a tiny planted world (tests/unit/tiny_world.py).

Parametrised over the registry, so a newly registered model is checked without writing a test. A model can
declare a faster configuration for these checks in a `test_params` class attribute (fewer epochs, smaller
vectors); its defaults are used otherwise.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
import torch

from engine.core.data import Query
from engine.core.model import Recommender
from engine.core.search_space import contains, describe, grid_points
from engine.metrics.document import NotApplicable
from engine.metrics.evaluation import evaluate
from engine.models.registry import create_model, get_model_class, model_names
from engine.protocols.split import EvalSlice
from tests.unit.tiny_world import tiny_world

MODEL_NAMES = model_names()
TOP_K = 10


def fitted(name: str, seed: int = 0) -> Recommender:
    """A model fitted on the tiny world (cached: several checks share one fit)."""
    return _fitted(name, seed)


@lru_cache(maxsize=None)
def _fitted(name: str, seed: int) -> Recommender:
    cls = get_model_class(name)
    return create_model(name, getattr(cls, "test_params", {}), seed=seed).fit(tiny_world().data)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_declares_documented_config_and_search_space_within_it(name: str) -> None:
    cls = get_model_class(name)
    assert cls.name == name
    for field_name, info in cls.Config.model_fields.items():
        assert info.description, f"{name}.{field_name} has no description"
    defaults = cls.Config().model_dump()
    for field_name, dimension in cls.search_space.items():
        assert field_name in cls.Config.model_fields, f"{name} searches unknown field {field_name}"
        for value in grid_points(dimension):
            cls.Config(**{field_name: value})  # both ends of a range and every listed value must validate
        # the defaults are a point of the space, so tuning (whose first trial is the defaults) never does worse
        assert contains(dimension, defaults[field_name]), \
            f"{name}.{field_name} default {defaults[field_name]!r} is outside its search space {describe(dimension)}"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_scores_are_finite_float32_users_by_items(name: str) -> None:
    world = tiny_world()
    scores = fitted(name).score(world.known_users, world.known_items)
    assert scores.dtype == torch.float32
    assert scores.shape == (len(world.known_users), len(world.known_items))
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_recommend_never_returns_items_already_in_the_users_history(name: str) -> None:
    world = tiny_world()
    _, positions = fitted(name).recommend(world.known_users, world.known_items, k=TOP_K)
    history = world.known_users.history.toarray() > 0
    recommended_item_index = world.known_items.index[positions.numpy()]
    assert not np.take_along_axis(history, recommended_item_index, axis=1).any()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_gives_identical_scores(name: str) -> None:
    world = tiny_world()
    cls = get_model_class(name)
    params = getattr(cls, "test_params", {})
    refitted = create_model(name, params, seed=0).fit(world.data)
    assert torch.equal(fitted(name, seed=0).score(world.known_users, world.known_items),
                       refitted.score(world.known_users, world.known_items))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_and_load_give_identical_scores_on_every_declared_query(name: str, tmp_path: Path) -> None:
    world = tiny_world()
    model = fitted(name)
    model.save(tmp_path / name)
    loaded = get_model_class(name).load(tmp_path / name)
    caps = type(model).capabilities
    pairs = [(world.known_users, world.known_items)]
    if caps.new_users:
        pairs.append((world.new_users, world.known_items))
    if caps.user_fold_in:
        pairs.append((world.revealed_users, world.known_items))
    if caps.new_items:
        pairs.append((world.known_users, world.new_items))
    if caps.item_fold_in:
        pairs.append((world.known_users, world.revealed_items))
    for users, items in pairs:
        assert torch.equal(model.score(users, items), loaded.score(users, items))


FOLD_IN_OVERLAP = 0.5
"""Folding in a known entity's own training history must bring back at least half of its top-10 (the top-10 users
of an item's audience), and more than it shares with another entity's: what implicit's tests check for
`recalculate_user`. Exact refits (ALS, neighbourhoods) reach 1.0; BPR's few gradient steps about 0.6."""
FOLD_IN_SERVED_BY_ANOTHER_MODEL = {"auto": "a few-shot item is served by the model Auto chose for few-shot items, "
                                           "not by the one that ranks known items, so its lists differ by design"}


def _top(scores: torch.Tensor, seen: torch.Tensor, k: int = TOP_K) -> np.ndarray:
    return torch.topk(scores.masked_fill(seen, -torch.inf), k, dim=1).indices.numpy()


def _as_new(query: Query) -> Query:
    """The same entities with the same history, presented as never seen in training (folded in)."""
    return dataclasses.replace(query, index=np.full(len(query), -1, dtype=np.int64))


def _overlap(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(first, second)]))


def assert_folding_in_reproduces_the_known(model: Recommender, side: str) -> None:
    """Score known users (items) once as known and once as new with their own training history revealed; the top-10
    lists (for items: each item's top-10 users) must mostly agree, and agree more than with another entity's."""
    world = tiny_world()
    users, items = world.known_users, world.known_items
    seen = torch.from_numpy(users.history.toarray() > 0)
    if side == "users":
        known, folded = _top(model.score(users, items), seen), _top(model.score(_as_new(users), items), seen)
    else:
        known = _top(model.score(users, items).T, seen.T)
        folded = _top(model.score(users, _as_new(items)).T, seen.T)
    own, other = _overlap(known, folded), _overlap(known, np.roll(folded, 1, axis=0))
    assert own >= FOLD_IN_OVERLAP and own > other, \
        f"folded-in {side} keep {own:.2f} of their top-{TOP_K} (another's: {other:.2f})"


def _revealed_rows(side: str) -> pd.DataFrame:
    """The tiny world's revealed interactions of its new users (items) as rows, as a few-shot slice holds them."""
    world = tiny_world()
    query = world.revealed_users if side == "users" else world.revealed_items
    rows, cols = query.history.nonzero()
    others = world.data.item_ids if side == "users" else world.data.user_ids
    own_column, other_column = ("user_id", "item_id") if side == "users" else ("item_id", "user_id")
    return pd.DataFrame({own_column: query.ids[rows], other_column: np.asarray(others)[cols], "weight": 1.0,
                         "shot": 1})


def assert_refused_by_the_evaluator(model: Recommender, side: str, revealed: bool = False) -> None:
    """A model that declares it cannot serve new users (items), or fold them in from revealed interactions, is
    reported not applicable on such a slice, with a reason that names it and what it cannot do, and is never asked
    to score it."""
    world = tiny_world()
    new_users, new_items = side == "users", side == "items"
    users = world.new_users.ids if new_users else world.known_users.ids
    items = world.new_items.ids if new_items else world.known_items.ids
    truth = pd.DataFrame({"user_id": users, "item_id": np.resize(items, len(users)), "weight": 1.0})
    refused = EvalSlice("refused", truth, np.asarray(items, dtype=object), new_users=new_users, new_items=new_items,
                        revealed=_revealed_rows(side) if revealed else None, shots=1 if revealed else None)
    with patch.object(type(model), "score", side_effect=AssertionError("scored a slice it cannot serve")):
        result = evaluate(model, world.data, [refused], ks=(5,), n_bootstrap=0)
    reason = result.slices["refused"]
    assert isinstance(reason, NotApplicable) and result.per_user.empty
    cannot = f"fold in new {side} from a few interactions" if revealed else f"score {side} it never saw in training"
    assert reason.not_applicable.startswith(f"{type(model).label} cannot {cannot}")


@pytest.mark.parametrize("side", ["users", "items"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_new_entities_are_scored_when_declared_and_refused_with_a_reason_otherwise(name: str, side: str) -> None:
    world = tiny_world()
    model = fitted(name)
    users, items = (world.new_users, world.known_items) if side == "users" else (world.known_users, world.new_items)
    if getattr(type(model).capabilities, f"new_{side}"):
        scores = model.score(users, items)
        assert scores.shape == (len(users), len(items))
        assert torch.isfinite(scores).all()
    else:
        assert_refused_by_the_evaluator(model, side)


@pytest.mark.parametrize("side", ["users", "items"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_declared_fold_in_uses_the_revealed_interactions(name: str, side: str) -> None:
    world = tiny_world()
    model = fitted(name)
    caps = type(model).capabilities
    if getattr(caps, f"{side[:-1]}_fold_in"):
        revealed, new = ((model.score(world.revealed_users, world.known_items),
                          model.score(world.new_users, world.known_items)) if side == "users" else
                         (model.score(world.known_users, world.revealed_items),
                          model.score(world.known_users, world.new_items)))
        assert torch.isfinite(revealed).all() and not torch.equal(revealed, new)
        if not (side == "items" and name in FOLD_IN_SERVED_BY_ANOTHER_MODEL):
            assert_folding_in_reproduces_the_known(model, side)
    elif not getattr(caps, f"new_{side}"):
        assert_refused_by_the_evaluator(model, side, revealed=True)


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if get_model_class(n).capabilities.new_users])
def test_a_new_user_without_attributes_or_history_is_ranked_not_tied(name: str) -> None:
    """On data without user attributes (play counts, bookmarks), a model that serves new users still ranks the
    catalogue for one, as its average user or by popularity would: a tie on every item would list them in id
    order. The mapper and MetaEmb gave such a user a zero vector until session 12."""
    world = tiny_world()
    cls = get_model_class(name)
    model = create_model(name, getattr(cls, "test_params", {}), seed=0).fit(
        dataclasses.replace(world.data, user_features=None))
    scores = model.score(dataclasses.replace(world.new_users, features=None), world.known_items)
    assert (scores.amax(dim=1) > scores.amin(dim=1)).all()


def held_out_hits(scores: torch.Tensor) -> float:
    """Mean number of held-out positives in each known user's top-k (training items excluded)."""
    world = tiny_world()
    scores = scores.clone()
    scores[torch.from_numpy(world.known_users.history.toarray() > 0)] = -torch.inf
    top = torch.topk(scores, TOP_K, dim=1).indices.numpy()
    return float(np.take_along_axis(world.held_out, top, axis=1).sum(axis=1).mean())


def random_expected_hits() -> float:
    """What a uniformly random ranking finds on average: k x held-out / unseen candidates, per user."""
    world = tiny_world()
    unseen = world.known_users.history.shape[1] - world.known_users.history.getnnz(axis=1)
    return float(np.mean(TOP_K * world.held_out.sum(axis=1) / unseen))


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "random"])
def test_model_beats_random_on_the_planted_world(name: str) -> None:
    world = tiny_world()
    hits = held_out_hits(fitted(name).score(world.known_users, world.known_items))
    assert hits > 1.3 * random_expected_hits()


def test_random_model_finds_about_what_chance_predicts() -> None:
    world = tiny_world()
    hits = np.mean([held_out_hits(fitted("random", seed).score(world.known_users, world.known_items))
                    for seed in range(5)])
    assert 0.5 * random_expected_hits() < hits < 1.5 * random_expected_hits()
