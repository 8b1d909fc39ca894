"""SVD++: rating prediction from explicit ratings plus the implicit signal of which items a user chose.

Koren, "Factorization Meets the Neighborhood: a Multifaceted Collaborative Filtering Model", KDD 2008.
r(u, i) = mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 * sum_{j in N(u)} y_j), fitted by squared error on the
training ratings. N(u) is the user's positive items (the history a query carries), so a user unseen in training is
folded in exactly as the model defines her: no p_u and no b_u, only the y of her revealed items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from torch import nn

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext
from engine.training.batches import TensorBatches
from engine.training.feature_modules import FeatureBag, FeatureTable, SparseRows
from engine.training.loop import GradientConfig, tuned_default
from engine.training.losses import l2_penalty
from engine.training.recommender import TorchRecommender
from engine.training.scoring import dot_scores, index_tensor, require_known


class SVDPPConfig(GradientConfig):
    """SVD++ hyper-parameters (the shared training settings plus the model's own)."""

    n_factors: int = Field(32, ge=1, le=1024, title="Factors", description="Dimension of p_u, q_i and y_j.")
    l2: float = Field(0.02, ge=0, title="L2 regularisation",
                      description="Penalty on the squared norms of the factors and biases in each batch.")
    batch_size: int = tuned_default("batch_size", 512)
    epochs: int = tuned_default("epochs", 40)
    lr: float = tuned_default("lr", 0.003)
    patience: int = tuned_default("patience", 4)


def implicit_rows(history: sp.csr_matrix) -> sp.csr_matrix:
    """N(u) as weights: 1/sqrt(|N(u)|) on each of the user's items, an empty row for an empty history."""
    binary = sp.csr_matrix(history, dtype=np.float32, copy=True)
    binary.data[:] = 1.0
    counts = np.asarray(binary.sum(axis=1)).ravel()
    scale = np.divide(1.0, np.sqrt(counts), out=np.zeros_like(counts), where=counts > 0)
    return sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ binary)


class SVDPlusPlus(nn.Module):
    """Biases, explicit factors p_u / q_i and implicit factors y_j."""

    def __init__(self, n_users: int, n_items: int, n_factors: int) -> None:
        super().__init__()
        self.user_factors = nn.Embedding(n_users, n_factors)
        self.item_factors = nn.Embedding(n_items, n_factors)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        self.implicit = FeatureBag(n_items, n_factors, init_std=0.01)
        self.register_buffer("global_mean", torch.zeros(()))
        for embedding in (self.user_factors, self.item_factors):
            nn.init.normal_(embedding.weight, std=0.01)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def user_vectors(self, index: torch.Tensor, implicit: SparseRows) -> tuple[torch.Tensor, torch.Tensor]:
        """(p_u + normalised sum of y_j, b_u); users unseen in training (index -1) have no p_u and no b_u."""
        known = (index >= 0).unsqueeze(1)
        safe = index.clamp(min=0)
        vectors = self.user_factors(safe) * known + self.implicit(implicit)
        return vectors, (self.user_bias(safe) * known).squeeze(1)


class SVDPPRecommender(TorchRecommender):
    """SVD++ for explicit ratings: predicts ratings, ranks by them, folds in new users from revealed items."""

    name = "svdpp"
    label = "SVD++"
    family = "factorization"
    Config = SVDPPConfig
    capabilities = Capabilities(user_fold_in=True, needs_ratings=True, predicts_ratings=True)
    search_space = {"n_factors": [16, 32, 64], "lr": [0.001, 0.003, 0.01], "l2": [0.005, 0.02, 0.05]}
    test_params = {"epochs": 8, "batch_size": 128, "lr": 0.01, "n_factors": 8}
    config: SVDPPConfig

    def module_sizes(self, data: TrainData) -> dict[str, int]:
        return {"n_users": data.n_users, "n_items": data.n_items}

    def build_module(self, sizes: dict[str, int]) -> SVDPlusPlus:
        return SVDPlusPlus(sizes["n_users"], sizes["n_items"], self.config.n_factors)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        if data.ratings is None or data.ratings.nnz == 0:
            raise ValueError(f"{self.label} needs explicit ratings and this training part has none: choose a "
                             "dataset with a rating column, or an implicit-feedback model such as bpr")
        module = self.init_module(data, context)
        ratings = data.ratings.tocoo()
        module.global_mean.fill_(float(ratings.data.mean()))
        implicit = FeatureTable(implicit_rows(data.matrix), self.device)
        batches = TensorBatches(torch.from_numpy(ratings.row.astype(np.int64)),
                                torch.from_numpy(ratings.col.astype(np.int64)),
                                torch.from_numpy(ratings.data.astype(np.float32)),
                                batch_size=self.config.batch_size, seed=self.seed)
        l2 = self.config.l2

        def batch_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            users, items, target = batch
            user_vectors, user_bias = module.user_vectors(users, implicit.rows(users))
            item_vectors = module.item_factors(items)
            predicted = module.global_mean + user_bias + module.item_bias(items).squeeze(1) + \
                (user_vectors * item_vectors).sum(dim=1)
            penalty = l2_penalty(user_vectors, item_vectors, user_bias, module.item_bias(items))
            return nn.functional.mse_loss(predicted.float(), target) + l2 * penalty

        self.run_training(batches, batch_loss, context)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Predicted ratings of every (user, item) pair."""
        require_known(items.index, "items", self.label, "SVD++ uses no item attributes and does not fold in items")
        module = self.fitted_module()
        with torch.no_grad():
            user_index = index_tensor(users.index, self.device)
            user_vectors, user_bias = module.user_vectors(
                user_index, SparseRows.from_csr(implicit_rows(users.history), self.device))
            item_index = index_tensor(items.index, self.device)
            scores = dot_scores(user_vectors, module.item_factors(item_index), module.item_bias(item_index).squeeze(1))
            return scores + (module.global_mean + user_bias).cpu().unsqueeze(1)
