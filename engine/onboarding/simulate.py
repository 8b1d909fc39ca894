"""The simulated onboarding protocol: ask k questions, fold the answers in, rank, score against the test part.

For every strategy, each held-out user is asked one question per step; the answer comes from the user's answerable
part (liked / not liked / never seen), the model folds the liked answers in as the user's history (its own fold-in,
the one the few-shot protocols use), and after steps 1..k the full ranking over training items (answered items
excluded) is scored against the test part. Step 0 (no answer yet) is the common start of every curve. Users are
processed in chunks so the users x items matrices stay bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from engine.core.data import TrainData
from engine.core.model import Recommender
from engine.core.ranking import top_k
from engine.data.dataset import Dataset
from engine.data.indexing import item_query
from engine.metrics.ranking import at_k_metrics
from engine.onboarding.base import OnboardingContext, OnboardingError, OnboardingState, OnboardingStrategy
from engine.onboarding.population import OnboardingPopulation, training_ratings
from engine.onboarding.registry import create_strategy
from engine.protocols.common import rng_for

DEFAULT_STEPS = (1, 2, 3, 5, 10)
CHUNK_ELEMENTS = 1 << 21
"""Users x candidates per chunk."""


def check_steps(steps: Sequence[int]) -> tuple[int, ...]:
    """Distinct positive question counts, sorted."""
    values = tuple(sorted({int(s) for s in steps}))
    if not values or values[0] < 1:
        raise OnboardingError(f"steps={list(steps)!r} must be positive whole numbers of questions such as 1,3,5,10")
    return values


def onboarding_context(model: Recommender, train: TrainData, dataset: Dataset, seed: int) -> OnboardingContext:
    """Candidates = every training item in a seeded order (so ties in scores or strategies break at random)."""
    order = rng_for(seed, "onboarding-candidate-order").permutation(train.n_items)
    items = item_query(train, train.item_ids[order])
    popularity = np.diff(sp.csc_matrix(train.matrix).indptr)[order].astype(np.float64)
    ratings = training_ratings(dataset, train)
    return OnboardingContext(model, train, items, popularity, ratings[:, order] if ratings is not None else None,
                             seed)


@dataclass
class _Chunk:
    """A chunk of the population in the context's candidate order."""

    user_ids: np.ndarray
    answers: np.ndarray
    truth: np.ndarray
    features: sp.csr_matrix | None


def _chunks(population: OnboardingPopulation, context: OnboardingContext) -> list[_Chunk]:
    columns = context.items.index
    size = max(1, CHUNK_ELEMENTS // max(context.n_items, 1))
    out = []
    for start in range(0, len(population), size):
        stop = min(len(population), start + size)
        out.append(_Chunk(population.user_ids[start:stop],
                          population.answers[start:stop][:, columns].toarray().astype(np.int8),
                          population.truth[start:stop][:, columns].toarray() > 0,
                          population.features[start:stop] if population.features is not None else None))
    return out


def _score_state(context: OnboardingContext, state: OnboardingState, truth: np.ndarray,
                 ks: Sequence[int]) -> dict[str, np.ndarray]:
    """Per-user metrics at each K of the ranking after the answers so far, answered items excluded."""
    with torch.no_grad():
        scores = context.model.score(state.query(context), context.items).float().cpu()
    scores = scores.masked_fill(torch.from_numpy(state.answered()), -torch.inf)
    relevant = torch.from_numpy(truth)
    top_scores, positions = top_k(scores, max(ks))
    listed = ~torch.isneginf(top_scores)
    values = at_k_metrics(relevant.gather(1, positions) & listed, relevant.sum(dim=1), ks)
    return {name: v.numpy() for name, v in values.items()}


def _record(state: OnboardingState, strategy: str, step: int, metrics: dict[str, np.ndarray]) -> pd.DataFrame:
    answered = state.answered()
    return pd.DataFrame({"strategy": strategy, "step": step, "user_id": state.user_ids,
                         "answered": answered.sum(axis=1), "liked": (state.answers > 0).sum(axis=1), **metrics})


def simulate_onboarding(model: Recommender, train: TrainData, dataset: Dataset, population: OnboardingPopulation,
                        strategies: Sequence[str | OnboardingStrategy], steps: Sequence[int] = DEFAULT_STEPS,
                        ks: Sequence[int] = (10,), seed: int = 0,
                        on_step: Callable[[str, int], None] | None = None) -> pd.DataFrame:
    """Per-user values of every strategy after 0 and each of `steps` questions.

    Columns: `strategy`, `step`, `user_id`, `answered` (questions the user could answer), `liked`, and one column
    per ranking metric at each K (NaN for a user whose test items were all answered). `on_step(strategy, step)` is
    called after each question round, for progress reporting.
    """
    steps = check_steps(steps)
    ks = tuple(sorted({int(k) for k in ks}))
    if not len(population):
        raise OnboardingError("no new user to onboard: every held-out user lacks a positive in the test part")
    context = onboarding_context(model, train, dataset, seed)
    chosen = [create_strategy(s) if isinstance(s, str) else s for s in strategies]
    if not chosen:
        raise OnboardingError("pick at least one onboarding strategy")
    for strategy in chosen:
        strategy.prepare(context)
    chunks = _chunks(population, context)
    frames: list[pd.DataFrame] = []
    for chunk in chunks:
        start = OnboardingState.empty(chunk.user_ids, context.n_items, chunk.features)
        metrics = _score_state(context, start, chunk.truth, ks)
        frames += [_record(start, s.name, 0, metrics) for s in chosen]
    for strategy in chosen:
        for chunk in chunks:
            state = OnboardingState.empty(chunk.user_ids, context.n_items, chunk.features)
            rows = np.arange(len(chunk.user_ids))
            for step in range(1, steps[-1] + 1):
                picks = strategy.choose(context, state)
                asking = picks >= 0
                state.asked[rows[asking], picks[asking]] = True
                state.answers[rows[asking], picks[asking]] = chunk.answers[rows[asking], picks[asking]]
                if step in steps:
                    frames.append(_record(state, strategy.name, step, _score_state(context, state, chunk.truth, ks)))
                if on_step is not None:
                    on_step(strategy.name, step)
    per_user = pd.concat(frames, ignore_index=True)
    return per_user.sort_values(["strategy", "step", "user_id"], kind="stable").reset_index(drop=True)


