"""Random: ask about items drawn uniformly from the catalogue, the usual few-shot protocols' revealing.

The baseline every other strategy is compared with. Most random items are unknown to a newcomer, so few questions
get an answer: this is what the onboarding curve shows against smarter strategies.
"""

from __future__ import annotations

import numpy as np

from engine.onboarding.base import OnboardingContext, OnboardingState, OnboardingStrategy, best_not_asked
from engine.protocols.common import rng_for


class RandomStrategy(OnboardingStrategy):
    """Each user gets their own seeded random order of the catalogue."""

    name = "random"
    label = "Random"
    description = "asks about movies or products picked at random from the catalogue"

    def choose(self, context: OnboardingContext, state: OnboardingState) -> np.ndarray:
        # a stream per user, so a user's questions do not depend on which other users share the chunk
        order = np.stack([rng_for(context.seed, f"onboarding-random:{user}").random(context.n_items)
                          for user in state.user_ids]) if len(state.user_ids) else np.zeros((0, context.n_items))
        return best_not_asked(order, state.asked)
