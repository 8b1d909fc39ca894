"""Popularity: ask about the most popular items first (Rashid et al., IUI 2002).

Popular items are the ones a newcomer is most likely to know, so most questions get an answer; but since nearly
everybody likes them, an answer says little about the person.
"""

from __future__ import annotations

import numpy as np

from engine.onboarding.base import ItemScoreStrategy, OnboardingContext


class PopularityStrategy(ItemScoreStrategy):
    """Items by their number of training positives."""

    name = "popularity"
    label = "Popularity"
    description = "asks about the items most people know first"

    def item_scores(self, context: OnboardingContext) -> np.ndarray:
        return context.popularity.astype(np.float64)
