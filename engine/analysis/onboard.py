"""Onboard a made-up user on the Explore page: the strategy's next question, and the lists after each answer.

The same strategies and the same answer semantics as the simulated onboarding protocol (`engine.onboarding`): a
'liked' answer is folded in as the user's history, 'not liked' and 'never seen' are remembered so the question is
not asked again, and the recommendations come with the reasons the Explore page gives everywhere.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from engine.analysis.explore import (NEW_USER_ID, ExploreContext, ExploreError, FittedRun, ModelAnswer,
                                     encode_new_entity, recommend_for_new_user)
from engine.onboarding import LIKED, NOT_LIKED, OnboardingError, OnboardingState, create_strategy, onboarding_context


def cannot_ask(context: ExploreContext, fitted: FittedRun) -> str | None:
    """Why `fitted`'s model cannot drive the onboarding of a new user (it must fold in their answers), or None."""
    return type(fitted.model).cannot_serve(new_users=True, new_items=False, revealed_users=True,
                                           ratings=context.data.ratings is not None)


def next_question(context: ExploreContext, fitted: FittedRun, strategy_name: str, answers: dict[str, int],
                  values: dict[str, Any] | None = None, seed: int = 0) -> str | None:
    """The training item `strategy_name` asks about next, given the `answers` so far (item id -> LIKED,
    NOT_LIKED or NEVER_SEEN), with `fitted`'s model for the model-driven strategy; None when nothing is left."""
    reason = cannot_ask(context, fitted)
    if reason is not None:
        raise ExploreError(f"{reason}; pick a model that folds in new users (ItemKNN, ALS, EASE...)")
    onboarding = onboarding_context(fitted.model, context.data, context.dataset, seed)
    try:
        strategy = create_strategy(strategy_name)
        strategy.prepare(onboarding)
    except OnboardingError as error:
        raise ExploreError(str(error)) from None
    position = pd.Index(onboarding.items.ids)
    unknown = sorted(set(answers) - set(position))
    if unknown:
        raise ExploreError(f"answers about {', '.join(unknown[:3])}, which are not training items of this experiment")
    state = OnboardingState.empty([NEW_USER_ID], onboarding.n_items, encode_new_entity(context, "user", values or {}))
    for item, answer in answers.items():
        column = position.get_loc(item)
        state.asked[0, column] = True
        state.answers[0, column] = answer
    pick = int(strategy.choose(onboarding, state)[0])
    return None if pick < 0 else str(onboarding.items.ids[pick])


def recommendations_after(context: ExploreContext, runs: list[FittedRun], answers: dict[str, int],
                          values: dict[str, Any] | None = None, k: int = 10) -> list[ModelAnswer]:
    """Each model's top-k for the made-up user after the answers so far: the liked items are their history and,
    as in the simulated protocol, no item the user answered about (liked or not) is recommended back."""
    liked = [item for item, answer in answers.items() if answer == LIKED]
    disliked = frozenset(item for item, answer in answers.items() if answer == NOT_LIKED)
    return recommend_for_new_user(context, runs, values or {}, liked, k, excluded=disliked)
