"""Attribute coverage: each question about a kind of item not asked about yet (diversity by maximal marginal
relevance, Carbonell & Goldstein, SIGIR 1998, applied to elicitation as in Elahi et al.'s survey, 2016).

The next item maximises log(1 + popularity) x (1 - its highest attribute cosine with the items already asked):
answerable items, spread across genres or categories, so one question per taste rather than five about the
same kind of thing.
"""

from __future__ import annotations

import numpy as np

from engine.metrics.beyond import normalized_rows
from engine.onboarding.base import (OnboardingContext, OnboardingError, OnboardingState, OnboardingStrategy,
                                    best_not_asked)


class CoverageStrategy(OnboardingStrategy):
    """Popular items whose attributes differ most from those of the items already asked."""

    name = "coverage"
    label = "Attribute coverage"
    description = "asks about well-known items of kinds (genres, categories) not asked about yet"

    def prepare(self, context: OnboardingContext) -> None:
        features = context.items.features
        if features is None or features.nnz == 0:
            raise OnboardingError("the 'coverage' strategy needs item attributes (genres, categories...) and this "
                                  "dataset has none; upload an item table or pick another strategy")
        self._unit = normalized_rows(features)
        self._weight = np.log1p(context.popularity.astype(np.float64))

    def max_similarity(self, asked: np.ndarray) -> np.ndarray:
        """Users x candidates: each candidate's highest cosine with an item the user was already asked about."""
        users, items = np.nonzero(asked)
        out = np.zeros(asked.shape)
        if len(users):
            similarity = (self._unit[items] @ self._unit.T).toarray()
            np.maximum.at(out, users, similarity)
        return out

    def choose(self, context: OnboardingContext, state: OnboardingState) -> np.ndarray:
        novelty = 1.0 - np.clip(self.max_similarity(state.asked), 0.0, 1.0)
        return best_not_asked(self._weight[None, :] * novelty, state.asked)
