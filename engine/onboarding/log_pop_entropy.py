"""Log-popularity x entropy: items that are both known and divisive (Rashid et al., IUI 2002, "Log Pop*Ent").

Entropy alone favours obscure items few people can answer about; multiplying by log popularity keeps the
questions answerable. Rashid et al. found this balance among the best non-personalised strategies.
"""

from __future__ import annotations

import numpy as np

from engine.onboarding.base import ItemScoreStrategy, OnboardingContext
from engine.onboarding.entropy import item_entropy


class LogPopEntropyStrategy(ItemScoreStrategy):
    """Items by log(1 + popularity) times the entropy of their ratings."""

    name = "log-pop-entropy"
    label = "Log popularity x entropy"
    description = "asks about well-known items that people disagree on"

    def item_scores(self, context: OnboardingContext) -> np.ndarray:
        return np.log1p(context.popularity) * item_entropy(context)
