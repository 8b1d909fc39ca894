"""Tuning: same budget for every model, validation only, seeded, failures skipped, results recorded per dataset."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.models.base import Recommender
from engine.models.ease import EASERecommender
from engine.tuning import candidate_params, record_tuning, tune_model, tuned_params
from tests.unit.tiny_world import tiny_world


class RecordingValidator:
    """Scores a model by how close its EASE l2 is to 500 and remembers every configuration it saw."""

    metric_name = "closeness"

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def __call__(self, model: Recommender) -> float:
        self.seen.append(model.config.model_dump())
        return -abs(getattr(model.config, "l2", 0.0) - 500.0)


def test_candidates_start_with_the_defaults_then_distinct_grid_points_up_to_the_budget() -> None:
    space = {"a": [1, 2, 3], "b": [10, 20]}
    candidates = candidate_params(space, budget=4, seed=0)
    assert candidates[0] == {}
    assert len(candidates) == 4
    assert len({tuple(sorted(c.items())) for c in candidates[1:]}) == 3


def test_candidates_never_repeat_the_defaults_and_stop_at_the_whole_grid() -> None:
    space = {"a": [1, 2, 3]}
    candidates = candidate_params(space, budget=10, seed=0, defaults={"a": 2})
    assert candidates[0] == {} and sorted(c["a"] for c in candidates[1:]) == [1, 3]


def test_candidates_are_reproducible_with_the_seed_and_change_with_it() -> None:
    space = {"a": list(range(20)), "b": list(range(20))}
    assert candidate_params(space, 6, seed=1) == candidate_params(space, 6, seed=1)
    assert candidate_params(space, 6, seed=1) != candidate_params(space, 6, seed=2)


def test_a_zero_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 trial"):
        candidate_params({"a": [1]}, budget=0, seed=0)


def test_tuning_fits_exactly_the_budget_and_keeps_the_best_validated_configuration() -> None:
    validator = RecordingValidator()
    grid_size = len(EASERecommender.search_space["l2"])
    result = tune_model("ease", tiny_world().data, validator, budget=grid_size, seed=0)
    assert len(result.trials) == len(validator.seen) == grid_size
    assert result.best_params == {"l2": 500.0}
    assert result.best_score == 0.0
    assert result.best_model is not None and result.best_model.config.l2 == 500.0


def test_configurations_that_cannot_be_fitted_are_recorded_and_skipped() -> None:
    data = tiny_world().data
    without_time = dataclasses.replace(data, interactions=data.interactions.drop(columns="timestamp"))
    result = tune_model("mostpop", without_time, RecordingValidator(), budget=4, seed=0)
    failed = [t for t in result.trials if t.error]
    assert failed and all("timestamps" in t.error for t in failed)
    assert result.best_params == {}  # only the all-time default could be fitted


def test_tuned_parameters_are_recorded_per_protocol_model_and_seed(tmp_path: Path) -> None:
    result = tune_model("ease", tiny_world().data, RecordingValidator(), budget=3, seed=0)
    for seed, params in ((1, {"l2": 500.0}), (2, {"l2": 50.0}), (3, {"l2": 500.0})):
        record_tuning(dataclasses.replace(result, best_params=params), "tiny", "warm", seed, directory=tmp_path)
    assert tuned_params("tiny", "warm", "ease", split_seed=2, directory=tmp_path) == {"l2": 50.0}
    assert tuned_params("tiny", "warm", "ease", directory=tmp_path) == {"l2": 500.0}  # chosen for most seeds
    assert tuned_params("tiny", "cold-item", "ease", directory=tmp_path) == {}
    assert tuned_params("other", "warm", "ease", directory=tmp_path) == {}


def test_a_dataset_key_that_is_not_a_plain_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dataset key"):
        tuned_params("../escape", "warm", "ease", directory=tmp_path)
