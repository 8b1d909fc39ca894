"""BPR-MF: matrix factorization trained with Bayesian Personalised Ranking.

Rendle, Freudenthaler, Gantner, Schmidt-Thieme, "BPR: Bayesian Personalized Ranking from Implicit Feedback",
UAI 2009. A user ranks an item she interacted with above one she did not: the loss is -log sigmoid of the score
difference over sampled (user, positive, negative) triplets; scores are p_u . q_i + b_i.
New users and items with a few revealed interactions are folded in: their vector is fitted by the same BPR
objective with every trained factor held fixed (`engine.training.fold_in`), without retraining.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext
from engine.core.search_space import FloatRange, IntRange
from engine.training.fold_in import fold_in_vectors
from engine.training.loop import GradientConfig, tuned_default
from engine.training.losses import bpr_loss, l2_penalty
from engine.training.recommender import TorchRecommender
from engine.training.sampler import NegativeSampler
from engine.training.scoring import dot_scores, index_tensor


SPARSE_FROM_ROWS = 10_000
"""From this many users + items on, "auto" embedding updates are sparse: a dense Adam step rewrites every row of
the tables, which dominates the step on large catalogues (benchmarks/train_speed.py)."""


class BPRConfig(GradientConfig):
    """BPR-MF hyper-parameters (the shared training settings plus the factorization's own)."""

    n_factors: int = Field(64, ge=1, le=1024, title="Factors", description="Dimension of user and item vectors.")
    l2: float = Field(1e-4, ge=0, title="L2 regularisation",
                      description="Penalty on the squared norms of the vectors in each batch.")
    n_negatives: int = Field(1, ge=1, le=256, title="Negatives per positive",
                             description="Sampled negative items per training positive.")
    fold_in_steps: int = Field(50, ge=1, le=1000, title="Fold-in steps",
                               description="BPR steps fitting a new user's (item's) vector from revealed interactions.")
    embedding_updates: Literal["auto", "sparse", "dense"] = Field(
        "auto", title="Embedding updates",
        description="sparse: each step updates only the rows its batch touched (lazy Adam), much faster on large "
                    "catalogues; dense: every row every step; auto: sparse from "
                    f"{SPARSE_FROM_ROWS:,} users + items on.")
    epochs: int = tuned_default("epochs", 60)
    lr: float = tuned_default("lr", 0.005)
    patience: int = tuned_default("patience", 5)


class MatrixFactorization(nn.Module):
    """User and item vectors plus an item bias: score(u, i) = p_u . q_i + b_i."""

    def __init__(self, n_users: int, n_items: int, n_factors: int, sparse: bool = False) -> None:
        super().__init__()
        self.user_factors = nn.Embedding(n_users, n_factors, sparse=sparse)
        self.item_factors = nn.Embedding(n_items, n_factors, sparse=sparse)
        self.item_bias = nn.Embedding(n_items, 1, sparse=sparse)
        nn.init.normal_(self.user_factors.weight, std=0.1)
        nn.init.normal_(self.item_factors.weight, std=0.1)
        nn.init.zeros_(self.item_bias.weight)

    def triplet_scores(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scores of (B,) positives and (B, n) negatives, and the looked-up vectors for the L2 penalty.

        Each table is read once per batch: every lookup adds a backward pass over its table.
        """
        p = self.user_factors(users)
        items = torch.cat([positives.unsqueeze(1), negatives], dim=1)
        q = self.item_factors(items)
        scores = torch.einsum("bd,bnd->bn", p, q) + self.item_bias(items).squeeze(-1)
        return scores[:, 0], scores[:, 1:], torch.cat([p, q.flatten(1)], dim=1)


class BPRRecommender(TorchRecommender):
    """BPR-MF with fold-in of users and items known only through a few revealed interactions."""

    name = "bpr"
    label = "BPR-MF"
    family = "factorization"
    Config = BPRConfig
    capabilities = Capabilities(user_fold_in=True, item_fold_in=True)
    search_space = {"n_factors": IntRange(16, 256, log=True), "lr": FloatRange(0.001, 0.05, log=True),
                    "l2": FloatRange(1e-6, 1e-2, log=True)}
    test_params = {"epochs": 8, "batch_size": 128, "lr": 0.01, "n_factors": 8}
    config: BPRConfig

    def module_sizes(self, data: TrainData) -> dict[str, int]:
        return {"n_users": data.n_users, "n_items": data.n_items}

    def build_module(self, sizes: dict[str, int]) -> MatrixFactorization:
        updates = self.config.embedding_updates
        large = sizes["n_users"] + sizes["n_items"] >= SPARSE_FROM_ROWS
        # weight decay touches every row, so "auto" keeps dense updates when it is on
        sparse = updates == "sparse" or (updates == "auto" and large and not self.config.weight_decay)
        return MatrixFactorization(sizes["n_users"], sizes["n_items"], self.config.n_factors, sparse=sparse)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        module = self.init_module(data, context)
        sampler = NegativeSampler(data.matrix, batch_size=self.config.batch_size, n_negatives=self.config.n_negatives,
                                  kind=self.config.negative_sampling, alpha=self.config.popularity_alpha,
                                  seed=self.seed)
        l2 = self.config.l2

        def batch_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            users, positives, negatives, _ = batch
            positive, negative, vectors = module.triplet_scores(users, positives, negatives)
            return bpr_loss(positive, negative) + l2 * l2_penalty(vectors)

        self.run_training(sampler, batch_loss, context)

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """(user, item) factors whose dot product is the score: the item bias rides along as one more column."""
        module = self.fitted_module()
        users = module.user_factors.weight.detach().cpu()
        items = module.item_factors.weight.detach().cpu()
        bias = module.item_bias.weight.detach().cpu()
        return (torch.cat([users, torch.ones(len(users), 1)], dim=1).numpy(),
                torch.cat([items, bias], dim=1).numpy())

    def _user_vectors(self, users: UserQuery) -> torch.Tensor:
        module = self.fitted_module()
        vectors = torch.zeros((len(users), self.config.n_factors), device=self.device)
        known = users.index >= 0
        if known.any():
            vectors[torch.from_numpy(known)] = module.user_factors(index_tensor(users.index[known], self.device))
        if not known.all():
            # a new user without revealed interactions keeps a zero vector: ranked by item bias (popularity)
            new = np.flatnonzero(~known)
            vectors[torch.from_numpy(new)] = fold_in_vectors(
                users.history[new], module.item_factors.weight, module.item_bias.weight.squeeze(1),
                steps=self.config.fold_in_steps, l2=self.config.l2, seed=self.seed)
        return vectors

    def _item_vectors(self, items: ItemQuery) -> tuple[torch.Tensor, torch.Tensor]:
        module = self.fitted_module()
        vectors = torch.zeros((len(items), self.config.n_factors), device=self.device)
        # a folded-in item has no popularity of its own yet: it gets the average item bias
        bias = torch.full((len(items),), float(module.item_bias.weight.mean()), device=self.device)
        known = items.index >= 0
        if known.any():
            positions = index_tensor(items.index[known], self.device)
            vectors[torch.from_numpy(known)] = module.item_factors(positions)
            bias[torch.from_numpy(known)] = module.item_bias(positions).squeeze(1)
        if not known.all():
            new = np.flatnonzero(~known)
            vectors[torch.from_numpy(new)] = fold_in_vectors(
                items.history[new], module.user_factors.weight, steps=self.config.fold_in_steps,
                l2=self.config.l2, seed=self.seed)
        return vectors, bias

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        with torch.no_grad():
            item_vectors, item_bias = self._item_vectors(items)
            return dot_scores(self._user_vectors(users), item_vectors, item_bias)

