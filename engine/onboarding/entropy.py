"""Entropy: ask about the items opinions are most divided on (Rashid et al., IUI 2002).

With ratings, the Shannon entropy of an item's rating values among training users: an item everybody rates 5
teaches nothing, one rated 1 by half and 5 by the other half splits users in two. Without ratings, the entropy of
"had it or not" over training users (p = the item's share of users), which peaks at items half the users had.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from engine.onboarding.base import ItemScoreStrategy, OnboardingContext


def rating_entropy(ratings: sp.csr_matrix) -> np.ndarray:
    """Per column (item), the entropy in bits of its distribution of rating values; 0 for unrated columns."""
    coo = sp.csc_matrix(ratings).tocoo()
    values, value_codes = np.unique(coo.data, return_inverse=True)
    counts = np.zeros((ratings.shape[1], len(values)))
    np.add.at(counts, (coo.col, value_codes), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(shares > 0, -shares * np.log2(shares), 0.0)
    return terms.sum(axis=1)


def binary_entropy(share: np.ndarray) -> np.ndarray:
    """Entropy in bits of a yes/no variable with probability `share` of yes."""
    p = np.clip(np.asarray(share, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(p), 0.0) + np.where(p < 1, -(1 - p) * np.log2(1 - p), 0.0)
    return terms


def item_entropy(context: OnboardingContext) -> np.ndarray:
    """Rating entropy when the data has ratings, else the entropy of having interacted."""
    if context.ratings is not None and context.ratings.nnz:
        return rating_entropy(context.ratings)
    return binary_entropy(context.known_probability)


class EntropyStrategy(ItemScoreStrategy):
    """Items by the entropy of their ratings."""

    name = "entropy"
    label = "Entropy"
    description = "asks about the items people disagree on most"

    def item_scores(self, context: OnboardingContext) -> np.ndarray:
        return item_entropy(context)
