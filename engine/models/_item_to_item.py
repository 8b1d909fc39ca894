"""The shared shape of item-to-item models (ItemKNN, RP3beta, EASE): score = user history x item weights.

Because a user is represented only by the items in their history, users unseen in training are folded in for
free from their revealed interactions; new items have no row in the weights, so they cannot be scored.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import scipy.sparse as sp
import torch

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import FitContext, Recommender
from engine.models._scoring import as_scores, require_known_items, sparse_from_state, sparse_state


class ItemToItemRecommender(Recommender):
    """Base of models whose state is one item x item weight matrix W, sparse or dense."""

    def _fit(self, data: TrainData, context: FitContext) -> None:
        self.weights = self._item_weights(data, context)

    @abstractmethod
    def _item_weights(self, data: TrainData, context: FitContext) -> sp.csr_matrix | np.ndarray:
        """The n_items x n_items matrix W with score(u, j) = sum_i history[u, i] * W[i, j]."""

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """History times the weight columns of the candidates (all must be training items)."""
        columns = require_known_items(self, items)
        history = sp.csr_matrix(users.history, dtype=np.float32)
        weights = self.weights[:, columns]
        return as_scores(history @ weights)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The item weights: dense as one tensor, sparse as CSR parts."""
        if sp.issparse(self.weights):
            return sparse_state("weights", self.weights)
        return {"weights": torch.from_numpy(np.ascontiguousarray(self.weights, dtype=np.float32))}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the item weights in the form they were saved."""
        if "weights" in state:
            self.weights = state["weights"].numpy()
        else:
            self.weights = sparse_from_state("weights", state)
