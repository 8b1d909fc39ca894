"""Tuning: the same budget for every model, the defaults first, validation only, seeded, failures and hopeless trials
stopped, and the test part never able to change what is chosen."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from engine.core.model import Recommender
from engine.data.indexing import build_train_data
from engine.data.synthetic import generate_synthetic
from engine.metrics.evaluation import make_validator
from engine.metrics.statistics import ValidationTerms
from engine.models.ease import EASERecommender
from engine.runs.protocol_catalog import make_split
from engine.runs.tuning import TuningBudget, TuningError, tune_model
from tests.unit.tiny_world import tiny_world


class RecordingValidator:
    """Scores a model by how close its EASE l2 is to 500 (in orders of magnitude) and remembers what it saw."""

    metric_name = "closeness"

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def __call__(self, model: Recommender) -> float:
        self.seen.append(model.config.model_dump())
        return -abs(math.log10(getattr(model.config, "l2", 1.0)) - math.log10(500.0))


def test_tuning_fits_exactly_the_budget_starting_from_the_defaults_and_keeps_the_best() -> None:
    validator = RecordingValidator()
    result = tune_model("ease", tiny_world().data, validator, budget=12, seed=0)
    assert len(result.trials) == len(validator.seen) == 12
    assert result.trials[0].params == {"l2": EASERecommender.Config().l2}  # the defaults come first
    assert [t.number for t in result.trials] == list(range(12))
    complete = [t for t in result.trials if t.state == "complete"]
    assert result.best_score == max(t.score for t in complete)
    assert result.best_params == next(t.params for t in complete if t.score == result.best_score)
    assert result.best_model is not None and result.best_model.config.l2 == result.best_params["l2"]
    # the search covers orders of magnitude and homes in: the best is far closer to 500 than the default 200
    assert abs(math.log10(result.best_params["l2"] / 500.0)) < 0.2
    assert len({t.params["l2"] for t in result.trials}) == 12


def test_the_same_seed_and_budget_give_the_same_trials_and_another_seed_others() -> None:
    def trials(seed: int) -> list[tuple]:
        result = tune_model("itemknn", tiny_world().data, RecordingValidator(), budget=6, seed=seed)
        return [(t.params["k"], round(t.params["shrink"], 9)) for t in result.trials]

    assert trials(1) == trials(1)
    assert trials(1)[1:] != trials(2)[1:]


def test_known_good_settings_are_tried_right_after_the_defaults() -> None:
    known = {"l2": 480.0}
    result = tune_model("ease", tiny_world().data, RecordingValidator(), budget=3, seed=0,
                        start_from=[known, {"l2": -5.0}, {"unknown_field": 1}])
    assert result.trials[1].params == known
    assert all(t.params["l2"] > 0 for t in result.trials)  # settings outside today's space are not enqueued


def test_configurations_that_cannot_be_fitted_are_recorded_and_skipped() -> None:
    data = tiny_world().data
    without_time = dataclasses.replace(data, interactions=data.interactions.drop(columns="timestamp"))
    result = tune_model("mostpop", without_time, RecordingValidator(), budget=4, seed=0)
    failed = [t for t in result.trials if t.state == "failed"]
    assert failed and all("timestamps" in t.error for t in failed) and all(math.isnan(t.score) for t in failed)
    assert result.best_params == {"window_days": None}  # only the all-time default could be fitted
    seen = []
    tune_model("mostpop", without_time, RecordingValidator(), budget=4, seed=0, on_trial=seen.append)
    assert [t.state for t in seen] == [t.state for t in result.trials]


def test_a_search_where_nothing_fits_says_why() -> None:
    data = tiny_world().data
    without_items = dataclasses.replace(data, item_features=None)
    with pytest.raises(TuningError, match="no configuration could be fitted and validated .*item attributes"):
        tune_model("content", without_items, RecordingValidator(), budget=2, seed=0)


def test_a_time_budget_stops_the_search() -> None:
    """No trial count: only the half second of wall time ends the search (the test would hang otherwise)."""
    result = tune_model("ease", tiny_world().data, RecordingValidator(), seed=0,
                        budget=TuningBudget(trials=None, minutes=0.5 / 60))
    assert len(result.trials) >= 1 and result.budget.trials is None


@pytest.mark.parametrize(("budget", "message"), [
    (dict(trials=0), "at least 1"), (dict(trials=None, minutes=None), "trials or of minutes"),
    (dict(minutes=0.0), "more than 0"), (dict(trial_seconds=-1.0), "more than 0")])
def test_unusable_budgets_are_refused(budget: dict, message: str) -> None:
    with pytest.raises(TuningError, match=message):
        TuningBudget(**budget)


class FadingValidator:
    """The first three models tuned validate well at every epoch; every later one validates badly."""

    metric_name = "fading"

    def __init__(self) -> None:
        self.order: dict[int, int] = {}

    def __call__(self, model: Recommender) -> float:
        rank = self.order.setdefault(id(model), len(self.order))
        return 0.5 if rank < 3 else 0.01


def test_a_trial_whose_validation_curve_falls_below_the_median_is_pruned() -> None:
    result = tune_model("bpr", tiny_world().data, FadingValidator(), budget=6, seed=0)
    states = [t.state for t in result.trials]
    assert states[:3] == ["complete"] * 3
    assert states[3:] == ["pruned"] * 3
    assert all(t.fit_seconds > 0 for t in result.trials)


def test_changing_the_test_rows_cannot_change_the_chosen_settings() -> None:
    """Tuning reads the validation part only: scramble every test slice and the trials stay the same."""
    dataset = generate_synthetic(120, 80, 2_500, seed=7)
    split = make_split(dataset, "cold-item", 3, {})
    rng = np.random.default_rng(0)
    scrambled = dataclasses.replace(split, test=[
        dataclasses.replace(part, truth=part.truth.assign(item_id=rng.permutation(part.truth["item_id"].to_numpy()),
                                                         user_id=rng.permutation(part.truth["user_id"].to_numpy())))
        for part in split.test])

    def chosen(which) -> list[tuple]:
        train = build_train_data(which.train, dataset)
        result = tune_model("content", train, make_validator(train, which, "ndcg@20", seed=3), budget=5, seed=3)
        return [(tuple(sorted(t.params.items())), t.score) for t in result.trials]

    assert chosen(split) == chosen(scrambled)


class PerUserValidator(RecordingValidator):
    """Per-user scores: every one of 200 users gains `gain` per order of magnitude closer to l2 = 500, plus noise of
    standard deviation `noise` drawn per user and setting (seeded) and centred, so the mean is exactly `gain` times
    RecordingValidator's closeness while the paired differences spread with the noise."""

    def __init__(self, gain: float, noise: float) -> None:
        super().__init__()
        self.gain, self.noise = gain, noise

    def per_user(self, model: Recommender) -> "pd.Series":
        import pandas as pd

        closeness = super().__call__(model)
        noise = np.random.default_rng(int(model.config.l2 * 1e6) % 2**32).normal(0.0, self.noise, 200)
        return pd.Series(self.gain * closeness + noise - noise.mean(), index=range(200))

    def terms(self, model: Recommender) -> ValidationTerms:
        return ValidationTerms(self.per_user(model), None)

    def __call__(self, model: Recommender) -> float:
        return float(self.per_user(model).mean())


class FewItemsValidator(PerUserValidator):
    """Every user gains alike (no per-user noise), but one of 150 held-out items carries one and a half times the
    gain and another loses half of it: a setting that happens to suit one new item, on a new-items slice."""

    def terms(self, model: Recommender) -> ValidationTerms:
        import pandas as pd

        per_user = self.per_user(model)
        shares = np.zeros(150)
        shares[:2] = 1.5 * per_user.mean(), -0.5 * per_user.mean()
        return ValidationTerms(per_user, pd.Series(shares, index=range(150)))


def test_the_defaults_are_kept_when_the_best_trial_beats_them_within_one_standard_error() -> None:
    noisy = tune_model("ease", tiny_world().data, PerUserValidator(gain=0.001, noise=1.0), budget=8, seed=0)
    assert noisy.best_params == {"l2": EASERecommender.Config().l2} and noisy.best_model.config.l2 == 200.0
    assert noisy.best_score == noisy.trials[0].score < max(t.score for t in noisy.trials)
    assert noisy.note.startswith("defaults kept: the best trial (#") and "within one standard error" in noisy.note
    assert noisy.to_json()["note"] == noisy.note
    clear = tune_model("ease", tiny_world().data, PerUserValidator(gain=1.0, noise=0.01), budget=8, seed=0)
    assert clear.note is None and "note" not in clear.to_json()
    assert clear.best_score == max(t.score for t in clear.trials) and clear.best_params["l2"] != 200.0


def test_a_gain_carried_by_one_held_out_item_keeps_the_defaults_though_every_user_shares_it() -> None:
    few = tune_model("ease", tiny_world().data, FewItemsValidator(gain=1.0, noise=0.0), budget=8, seed=0)
    assert few.best_params == {"l2": EASERecommender.Config().l2}
    assert few.note.endswith("over 200 validation users and 150 items")
