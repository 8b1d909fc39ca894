"""UserKNN: recommend what the most similar users liked (Resnick et al., CSCW 1994; Herlocker et al., SIGIR 1999).

Shrunk cosine over users' item rows, k neighbours per user. Neighbours are found at query time from the
user's history, so new users fold in from revealed interactions, and a new item is scored through the
neighbours among its revealed users.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext, ModelConfig, Recommender
from engine.core.search_space import FloatRange, IntRange
from engine.models._scoring import as_scores, sparse_from_state, sparse_state
from engine.models._similarity import cosine_top_k


class UserKNNConfig(ModelConfig):
    """Neighbourhood size and shrinkage."""

    k: int = Field(50, ge=1, title="Neighbours", description="How many most similar training users vote.")
    shrink: float = Field(10.0, ge=0, title="Shrinkage",
                          description="Added to the cosine denominator: damps similarities of users with little overlap.")


class UserKNNRecommender(Recommender):
    """User-based k-nearest neighbours over shrunk cosine similarity, computed per query."""

    name = "userknn"
    label = "UserKNN"
    family = "neighbourhood"
    Config = UserKNNConfig
    capabilities = Capabilities(user_fold_in=True, item_fold_in=True)
    search_space = {"k": IntRange(5, 1000, log=True), "shrink": FloatRange(0.0, 500.0)}

    def _fit(self, data: TrainData, context: FitContext) -> None:
        """Keep the training matrix: neighbourhoods are computed per query."""
        self.matrix = sp.csr_matrix(data.matrix, dtype=np.float32)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Neighbour similarities times each candidate's users (training column plus revealed users)."""
        neighbours = cosine_top_k(users.history, self.matrix, self.config.k, self.config.shrink,
                                  self_index=users.index)
        return as_scores(neighbours @ sp.csr_matrix(items.history, dtype=np.float64).T)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The training matrix, as CSR parts."""
        return sparse_state("matrix", self.matrix)

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the training matrix."""
        self.matrix = sparse_from_state("matrix", state)
