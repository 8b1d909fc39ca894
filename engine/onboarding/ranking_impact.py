"""Model-driven: ask about the item whose answer would change the model's recommendations the most.

For each user, the `pool_size` not-yet-asked items the user is most likely to know are tried as hypothetical
"liked" answers; the model folds each in, and the item's value is the chance of a 'liked' answer (its share of
training users) times the share of the user's top-N list it would replace. This is the "influence" criterion of
active learning for collaborative filtering (Rubens and Sugiyama, 2007; Elahi, Ricci and Rubens, 2016): it works
with any model that folds in new users, since it asks the model only for scores.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from engine.core.ranking import top_k
from engine.onboarding.base import OnboardingContext, OnboardingState, OnboardingStrategy, user_query_for

SCORE_ELEMENTS = 1 << 22
"""Scores per scoring call (hypothetical users x candidates), to bound memory."""


class RankingImpactStrategy(OnboardingStrategy):
    """The likely-known item whose 'liked' answer most reshapes the user's top-N list."""

    name = "ranking-impact"
    label = "Model-driven (ranking impact)"
    description = "asks, among items the person probably knows, about the one whose answer would change the " \
                  "recommendations the most (it asks the model)"

    def __init__(self, pool_size: int = 20, list_length: int = 10) -> None:
        self.pool_size = pool_size
        self.list_length = list_length

    def _top_lists(self, context: OnboardingContext, user_ids: np.ndarray, history: sp.csr_matrix,
                   features: sp.csr_matrix | None, excluded: np.ndarray) -> np.ndarray:
        """Top-N candidate positions for each row of `history`, excluded candidates left out."""
        rows = history.shape[0]
        step = max(1, SCORE_ELEMENTS // max(context.n_items, 1))
        out = np.empty((rows, min(self.list_length, context.n_items)), dtype=np.int64)
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            query = user_query_for(context, user_ids[start:stop], history[start:stop],
                                   features[start:stop] if features is not None else None)
            with torch.no_grad():
                scores = context.model.score(query, context.items).float().cpu()
            scores = scores.masked_fill(torch.from_numpy(excluded[start:stop]), -torch.inf)
            out[start:stop] = top_k(scores, out.shape[1])[1].numpy()
        return out

    def choose(self, context: OnboardingContext, state: OnboardingState) -> np.ndarray:
        n_users = len(state.user_ids)
        probability = context.known_probability
        open_scores = np.where(state.asked, -np.inf, probability[None, :])
        pool_size = min(self.pool_size, context.n_items)
        pool = np.argsort(-open_scores, axis=1, kind="stable")[:, :pool_size]
        pool_open = ~np.take_along_axis(state.asked, pool, axis=1)
        answered = state.answered()
        liked = state.liked_history()
        current = self._top_lists(context, state.user_ids, liked, state.features, answered)
        # one hypothetical user per (user, pool item): the user's liked answers plus that item
        owner = np.repeat(np.arange(n_users), pool_size)
        tried = pool.ravel()
        extra = sp.csr_matrix((np.ones(len(tried), np.float32), (np.arange(len(tried)), tried)),
                              shape=(len(tried), context.n_items))
        history = sp.csr_matrix(liked[owner] + extra)
        excluded = answered[owner]
        excluded[np.arange(len(tried)), tried] = True
        features = state.features[owner] if state.features is not None else None
        after = self._top_lists(context, state.user_ids[owner], history, features, excluded)
        kept = (after[:, :, None] == current[owner][:, None, :]).any(axis=2).sum(axis=1)
        change = 1.0 - kept / max(after.shape[1], 1)
        value = (probability[tried] * change).reshape(n_users, pool_size)
        value = np.where(pool_open, value, -np.inf)
        picks = pool[np.arange(n_users), np.argmax(value, axis=1)]
        picks[~pool_open.any(axis=1)] = -1
        return picks
