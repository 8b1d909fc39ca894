"""The onboarding protocol: a cold-user split whose new users are onboarded by each strategy in turn.

The split is the cold-user split (same seed, same held-out users), recorded under the name `onboarding` with the
onboarding parameters. Beside the usual test slices, a run on it gets one slice per strategy and number of
questions, `onboarding-<strategy>-k<k>`, measured by the simulation (`engine.onboarding.simulate`) on the test
part's new users: which of a new user's rows answer questions and which are left to find is drawn from the seed.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Any, Literal, Sequence

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BeforeValidator, Field

from engine.core.data import TrainData
from engine.core.model import Recommender
from engine.data.dataset import Dataset
from engine.metrics.document import MetricSummary, NotApplicable, SliceResult
from engine.metrics.statistics import DEFAULT_BOOTSTRAP, bootstrap_ci
from engine.onboarding.population import DEFAULT_ANSWER_FRACTION, onboarding_population
from engine.onboarding.registry import STRATEGIES
from engine.onboarding.simulate import DEFAULT_STEPS, simulate_onboarding
from engine.protocols.assemble import SplitParts
from engine.protocols.common import rng_for
from engine.protocols.cold import HoldoutParams, cold_user_split
from engine.protocols.declaration import ProtocolDeclaration, WholeNumbers, fraction
from engine.protocols.slices import COLD_USER
from engine.protocols.split import Split

NAME = "onboarding"
SLICE_PATTERN = re.compile(r"^onboarding-(?P<strategy>[a-z-]+)-k(?P<step>\d+)$")


def _names(value: Any) -> Any:
    """'random,popularity' (a form or command line) -> ['random', 'popularity']."""
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


def _at_least_one(names: tuple[str, ...]) -> tuple[str, ...]:
    if not names:
        raise ValueError("pick at least one strategy")
    return tuple(dict.fromkeys(names))


def _positive(steps: tuple[int, ...]) -> tuple[int, ...]:
    if not steps or min(steps) < 1:
        raise ValueError("question counts must be positive")
    return tuple(sorted(set(steps)))


QuestionCounts = Annotated[WholeNumbers, AfterValidator(_positive)]
StrategyName = Literal[tuple(STRATEGIES)]  # type: ignore[valid-type]  # the registry's names, one declaration
StrategyNames = Annotated[tuple[StrategyName, ...], BeforeValidator(_names), AfterValidator(_at_least_one)]


class OnboardingParams(HoldoutParams):
    """The cold-user holdout plus how new users are onboarded."""

    answer_fraction: float = fraction(DEFAULT_ANSWER_FRACTION, "Answerable share",
                                      "Share of a new user's history they can answer sign-up questions from; the "
                                      "rest is what the recommendations must find.", allow_zero=False)
    steps: QuestionCounts = Field(DEFAULT_STEPS, title="Questions",
                                description="After how many sign-up questions the recommendations are scored, e.g. "
                                            "1,2,3,5,10.")
    strategies: StrategyNames = Field(tuple(STRATEGIES), title="Strategies",
                                      description="Which ways of choosing the questions to compare, e.g. "
                                                  "random,popularity,ranking-impact (random is the baseline).")
    max_users: int = Field(1000, ge=1, title="Most new users onboarded",
                           description="A seeded sample of at most this many test users is onboarded: every question "
                                       "is a scoring pass per user (the model-driven strategy's, twenty).")


def onboarding_split(dataset: Dataset, seed: int, params: OnboardingParams) -> SplitParts:
    """The cold-user split of `dataset`, recorded as the onboarding protocol with its parameters."""
    holdout = HoldoutParams(cold_fraction=params.cold_fraction, valid_fraction=params.valid_fraction,
                            test_fraction=params.test_fraction)
    parts = cold_user_split(dataset, seed, holdout)
    return dataclasses.replace(parts, protocol=NAME, params=params.model_dump(mode="json"))


def slice_name(strategy: str, step: int) -> str:
    """The results slice of a strategy after `step` questions."""
    return f"onboarding-{strategy}-k{step}"


def parse_slice_name(name: str) -> tuple[str, int] | None:
    """(strategy, step) of an onboarding slice name, or None for any other slice."""
    match = SLICE_PATTERN.match(name)
    return (match["strategy"], int(match["step"])) if match else None


def _summary(per_user: pd.DataFrame, metrics: list[str], n_bootstrap: int, seed: int) -> dict[str, MetricSummary]:
    """The results entries of one onboarding slice: mean, bootstrap CI and user count per metric."""
    values = per_user[metrics].to_numpy(np.float64)
    intervals = bootstrap_ci(values, n_bootstrap, seed=seed) if n_bootstrap and len(values) else None
    out = {}
    for j, name in enumerate(metrics):
        column = values[:, j]
        n = int((~np.isnan(column)).sum())
        out[name] = MetricSummary(mean=float(np.nanmean(column)) if n else None,
                                  ci=(float(intervals[j, 0]), float(intervals[j, 1]))
                                  if intervals is not None and n else None, n_users=n)
    return out


def evaluate_onboarding(model: Recommender, train: TrainData, dataset: Dataset, split: Split, ks: Sequence[int],
                        seed: int, n_bootstrap: int = DEFAULT_BOOTSTRAP) -> tuple[dict[str, SliceResult], pd.DataFrame]:
    """The onboarding slices of a run: results.json entries and per-user rows (`slice`, `user_id`, `history` =
    liked answers folded in, `answered`, metrics at each K). A model that cannot fold in new users gets every
    slice as not applicable, with its reason."""
    params = OnboardingParams(**split.params)
    names = [slice_name(s, k) for s in params.strategies for k in (0, *params.steps)]
    reason = type(model).cannot_serve(new_users=True, new_items=False, revealed_users=True,
                                      ratings=train.ratings is not None)
    if reason is not None:
        return {name: NotApplicable(not_applicable=reason) for name in names}, pd.DataFrame()
    users = np.sort(next((s.users for s in split.test if s.name == COLD_USER.name), np.empty(0, dtype=object)))
    if len(users) > params.max_users:
        users = np.sort(rng_for(seed, "onboarding-users").choice(users, params.max_users, replace=False))
    population = onboarding_population(dataset, train, users, seed, answer_fraction=params.answer_fraction)
    per_user = simulate_onboarding(model, train, dataset, population, list(params.strategies), params.steps, ks, seed)
    per_user = per_user.assign(slice=[slice_name(s, k) for s, k in zip(per_user["strategy"], per_user["step"])],
                               history=per_user["liked"]).drop(columns=["strategy", "step", "liked"])
    metrics = [c for c in per_user.columns if "@" in c] + ["answered"]
    slices = {name: _summary(rows, metrics, n_bootstrap, seed) for name, rows in per_user.groupby("slice", sort=False)}
    columns = ["slice", "user_id", "history", *metrics]
    return slices, per_user[columns]


PROTOCOL = ProtocolDeclaration(
    NAME, "new users answer a few sign-up questions chosen by each strategy (popular items, divisive items, ...) "
          "and the recommendations are scored after each answer", OnboardingParams, onboarding_split,
    extra_slices=evaluate_onboarding)
