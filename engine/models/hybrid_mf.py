"""Hybrid feature factorization: the LightFM model, in PyTorch.

Kula, "Metadata Embeddings for User and Item Cold-start Recommendations", CBRecSys@RecSys 2015. A user (item) is
the sum of the embeddings of its id and of its attribute values; score(u, i) = u . i + b_i, where the item bias
is likewise the sum of id and attribute biases. Trained with BPR or a WARP-style loss (Weston et al., IJCAI 2011)
over sampled negatives. Because attributes carry part of every representation, users and items never seen in
training are scored from their attributes alone; `use_item_ids=False` drops the item ids, which is LightFM's
strongest variant for new items (everything learned about items then transfers to new ones).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext
from engine.core.search_space import FloatRange, IntRange
from engine.training.feature_modules import (FeatureTable, IdAndFeatureEmbedding, query_rows, table_rows,
                                             take_rows, training_table)
from engine.training.loop import GradientConfig, tuned_default
from engine.training.losses import bpr_loss, l2_penalty, warp_loss
from engine.training.recommender import TorchRecommender
from engine.training.sampler import NegativeSampler
from engine.training.scoring import dot_scores, index_tensor


class HybridMFConfig(GradientConfig):
    """Hybrid factorization hyper-parameters (the shared training settings plus LightFM's own)."""

    n_factors: int = Field(64, ge=1, le=1024, title="Factors", description="Dimension of every embedding.")
    loss: Literal["warp", "bpr"] = Field("warp", title="Loss",
                                         description="warp pushes low-ranked positives hardest; bpr treats all alike.")
    n_negatives: int = Field(16, ge=1, le=512, title="Negatives per positive",
                             description="Sampled negatives per positive (WARP estimates the rank from them).")
    use_user_ids: bool = Field(True, title="User id embeddings",
                               description="Off: users are their attributes only.")
    use_item_ids: bool = Field(True, title="Item id embeddings",
                               description="Off: items are their attributes only (LightFM's best for new items).")
    use_user_features: bool = Field(True, title="Use user attributes",
                                    description="Add user attribute embeddings (needed to serve new users).")
    use_item_features: bool = Field(True, title="Use item attributes",
                                    description="Add item attribute embeddings (needed to serve new items).")
    average: bool = Field(True, title="Average features",
                          description="Divide a representation by its total feature weight (id + attribute values), "
                                      "as LightFM's normalised feature rows do; off: plain sum.")
    l2: float = Field(1e-5, ge=0, title="L2 regularisation",
                      description="Penalty on the squared norms of the representations in each batch.")
    epochs: int = tuned_default("epochs", 60)
    lr: float = tuned_default("lr", 0.005)
    patience: int = tuned_default("patience", 5)


class HybridFactorization(nn.Module):
    """User and item encoders (id + attributes); items also carry a bias."""

    def __init__(self, sizes: dict[str, int], n_factors: int, average: bool) -> None:
        super().__init__()
        self.users = IdAndFeatureEmbedding(sizes["n_user_ids"], sizes["n_user_features"], n_factors, average=average)
        self.items = IdAndFeatureEmbedding(sizes["n_item_ids"], sizes["n_item_features"], n_factors, with_bias=True,
                                           average=average)


class HybridMFRecommender(TorchRecommender):
    """LightFM-style hybrid: serves warm, new users and new items with one model."""

    name = "hybridmf"
    label = "Hybrid MF (LightFM-style)"
    family = "hybrid"
    Config = HybridMFConfig
    capabilities = Capabilities(new_users=True, new_items=True, uses_user_features=True, uses_item_features=True)
    search_space = {"n_factors": IntRange(16, 128, log=True), "lr": FloatRange(0.001, 0.05, log=True),
                    "loss": ["warp", "bpr"],
                    "use_item_ids": [True, False], "use_user_ids": [True, False]}
    test_params = {"epochs": 8, "batch_size": 128, "lr": 0.01, "n_factors": 8}
    config: HybridMFConfig

    def module_sizes(self, data: TrainData) -> dict[str, int]:
        config = self.config
        sizes: dict[str, int] = {}
        for side, features, n_ids, use_ids, use_features in (
                ("user", data.user_features, data.n_users, config.use_user_ids, config.use_user_features),
                ("item", data.item_features, data.n_items, config.use_item_ids, config.use_item_features)):
            n_features = features.n_features if features is not None and use_features else 0
            if not use_ids and n_features == 0:
                raise ValueError(f"{self.label} with use_{side}_ids off needs {side} attributes, and this dataset has "
                                 f"none (or use_{side}_features is off): turn use_{side}_ids on")
            sizes[f"n_{side}_ids"] = n_ids if use_ids else 0
            sizes[f"n_{side}_features"] = n_features
        return sizes

    def build_module(self, sizes: dict[str, int]) -> HybridFactorization:
        return HybridFactorization(sizes, self.config.n_factors, self.config.average)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        module = self.init_module(data, context)
        user_table = training_table(data.user_features, data.user_ids, self.device, use=self.config.use_user_features)
        item_table = training_table(data.item_features, data.item_ids, self.device, use=self.config.use_item_features)
        sampler = NegativeSampler(data.matrix, batch_size=self.config.batch_size, n_negatives=self.config.n_negatives,
                                  kind=self.config.negative_sampling, alpha=self.config.popularity_alpha,
                                  seed=self.seed)
        config, n_items = self.config, data.n_items

        def encode(encoder: IdAndFeatureEmbedding, table: FeatureTable | None, index: torch.Tensor):
            return encoder(index, table_rows(table, index))

        def batch_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            users, positives, negatives, _ = batch
            user_vectors, _ = encode(module.users, user_table, users)
            # encode each distinct item of the batch once, then spread to positive and negative slots
            distinct, slots = torch.unique(torch.cat([positives.unsqueeze(1), negatives], dim=1), return_inverse=True)
            item_vectors, item_bias = encode(module.items, item_table, distinct)
            scores = torch.einsum("bd,bnd->bn", user_vectors, take_rows(item_vectors, slots)) + \
                take_rows(item_bias, slots)
            positive, negative = scores[:, 0], scores[:, 1:]
            loss = warp_loss(positive, negative, n_items) if config.loss == "warp" else bpr_loss(positive, negative)
            return loss + config.l2 * l2_penalty(user_vectors, take_rows(item_vectors, slots[:, 0]))

        self.run_training(sampler, batch_loss, context)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        module = self.fitted_module()
        user_rows = query_rows(users.features, self.device, use=self.sizes["n_user_features"] > 0)
        item_rows = query_rows(items.features, self.device, use=self.sizes["n_item_features"] > 0)
        with torch.no_grad():
            user_vectors, _ = module.users(index_tensor(users.index, self.device), user_rows)
            item_vectors, item_bias = module.items(index_tensor(items.index, self.device), item_rows)
            return dot_scores(user_vectors, item_vectors, item_bias)
