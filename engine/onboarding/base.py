"""The one interface of onboarding strategies: which item to ask a new user about next.

A strategy sees what an onboarding screen would know: the training data (popularity, ratings, attributes), the
fitted model, and for each new user the items already asked and the answers so far (liked, not liked, never seen).
It never sees the user's held-out history. Strategies follow Rashid et al., "Getting to know you: learning new user
preferences in recommender systems" (IUI 2002) and the survey of Elahi, Ricci and Rubens (2016).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Recommender

LIKED, NOT_LIKED, NEVER_SEEN = 1, -1, 0
"""The three answers a user gives about an item (values of `OnboardingState.answers`)."""


class OnboardingError(ValueError):
    """An onboarding run that cannot be done as asked (unknown strategy, a strategy the data cannot feed)."""


@dataclass
class OnboardingContext:
    """What every strategy may read, fixed for a whole simulation.

    `items` holds every training item in the simulation's candidate order; `popularity[j]` is the number of
    training users with a positive on candidate j; `ratings` holds the training users' rows on the candidates
    (rating values, positives and not, under explicit feedback; None otherwise).
    """

    model: Recommender
    train: TrainData
    items: ItemQuery
    popularity: np.ndarray
    ratings: sp.csr_matrix | None
    seed: int

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def known_probability(self) -> np.ndarray:
        """Chance that a newcomer can answer about each candidate: its share of training users."""
        return self.popularity / max(self.train.n_users, 1)


@dataclass
class OnboardingState:
    """Where a chunk of new users stand: `answers` (users x candidates, NEVER_SEEN where not asked or unknown)
    and `asked` (True once asked, whatever the answer). `features` are the users' attribute rows."""

    user_ids: np.ndarray
    answers: np.ndarray
    asked: np.ndarray
    features: sp.csr_matrix | None = None

    @classmethod
    def empty(cls, user_ids: np.ndarray, n_items: int, features: sp.csr_matrix | None) -> "OnboardingState":
        """Nobody asked anything yet."""
        n = len(user_ids)
        return cls(np.asarray(user_ids, dtype=object), np.zeros((n, n_items), dtype=np.int8),
                   np.zeros((n, n_items), dtype=bool), features)

    def liked_history(self) -> sp.csr_matrix:
        """The liked answers as the history a model folds in (users x candidates)."""
        return sp.csr_matrix((self.answers == LIKED).astype(np.float32))

    def query(self, context: OnboardingContext, history: sp.csr_matrix | None = None) -> UserQuery:
        """The users as new users with `history` (by default their liked answers), in training item columns."""
        history = self.liked_history() if history is None else history
        return user_query_for(context, self.user_ids, history, self.features)

    def answered(self) -> np.ndarray:
        """Users x candidates: True where the user gave an answer other than 'never seen' (excluded from lists)."""
        return self.answers != NEVER_SEEN


def user_query_for(context: OnboardingContext, user_ids: np.ndarray, history: sp.csr_matrix,
                   features: sp.csr_matrix | None) -> UserQuery:
    """New users whose `history` is over the context's candidates, re-indexed to the model's training columns."""
    columns = context.items.index
    history = sp.csr_matrix(history)
    coo = history.tocoo()
    in_training = sp.csr_matrix((coo.data, (coo.row, columns[coo.col])),
                                shape=(history.shape[0], context.train.n_items), dtype=np.float32)
    return UserQuery(np.asarray(user_ids, dtype=object), np.full(len(user_ids), -1, dtype=np.int64), in_training,
                     features)


class OnboardingStrategy(ABC):
    """Picks, for each user of a state, the next candidate to ask about (never one already asked)."""

    name: ClassVar[str]
    """Registry key, e.g. `popularity`."""
    label: ClassVar[str]
    """Human name for tables and charts."""
    description: ClassVar[str]
    """One plain sentence for a non-programmer: what the sign-up screen shows first."""

    def prepare(self, context: OnboardingContext) -> None:
        """Precompute what the strategy needs from the training data; raise `OnboardingError` when it cannot."""

    @abstractmethod
    def choose(self, context: OnboardingContext, state: OnboardingState) -> np.ndarray:
        """One candidate position per user of `state`, or -1 for a user who has been asked about everything."""


class ItemScoreStrategy(OnboardingStrategy):
    """A strategy that ranks the catalogue once (the same questions for everybody): the best item not yet asked."""

    def prepare(self, context: OnboardingContext) -> None:
        self._scores = np.asarray(self.item_scores(context), dtype=np.float64)

    @abstractmethod
    def item_scores(self, context: OnboardingContext) -> np.ndarray:
        """One score per candidate; higher is asked sooner."""

    def choose(self, context: OnboardingContext, state: OnboardingState) -> np.ndarray:
        return best_not_asked(np.broadcast_to(self._scores, state.asked.shape), state.asked)


def best_not_asked(scores: np.ndarray, asked: np.ndarray) -> np.ndarray:
    """Per row, the position of the highest score among columns not asked (first on ties), -1 when none is left."""
    masked = np.where(asked, -np.inf, scores)
    picks = np.argmax(masked, axis=1)
    picks[asked.all(axis=1)] = -1
    return picks
