"""Two-tower retrieval model: a user tower and an item tower over ids and attributes, scored by a dot product.

Huang, He, Gao, Deng, Acero, Heck, "Learning Deep Structured Semantic Models for Web Search using Clickthrough
Data" (DSSM), CIKM 2013; trained with the in-batch softmax and its sampling-bias (log Q) correction of Yi, Yang,
Hong, Cheng, Heldt, Kumthekar, Zhao, Wei, Chi, "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item
Recommendations", RecSys 2019, or with a softmax over sampled negatives. Each tower embeds an entity's id and its
attributes, passes them through an MLP and L2-normalises the result. Users and items unseen in training have no id
part and are served by their attributes; `id_dropout` blanks ids during training so towers learn to do that.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext
from engine.core.search_space import FloatRange, IntRange
from engine.training import cpu_kernels
from engine.training.distinct import distinct
from engine.training.dropout import Dropout
from engine.training.feature_modules import (Attributes, FeatureBag, FeatureTable, query_rows, take_rows,
                                             training_table)
from engine.training.loop import GradientConfig, tuned_default
from engine.training.losses import sampled_softmax_loss
from engine.training.recommender import TorchRecommender
from engine.training.sampler import NegativeSampler
from engine.training.scoring import dot_scores, index_tensor
from engine.training.tower_pass import TowerWeights, tower_vectors


class TwoTowerConfig(GradientConfig):
    """Two-tower hyper-parameters (the shared training settings plus the towers and the softmax)."""

    n_factors: int = Field(64, ge=1, le=1024, title="Embedding size",
                           description="Dimension of the id and attribute embeddings and of the output vectors.")
    hidden: int = Field(128, ge=1, le=4096, title="Tower width", description="Width of each tower's hidden layer.")
    softmax: Literal["in_batch", "sampled"] = Field(
        "in_batch", title="Softmax", description="in_batch: the batch's other items are the negatives (log Q "
                                                 "corrected); sampled: n_negatives drawn by the negative sampler.")
    n_negatives: int = Field(64, ge=1, le=4096, title="Sampled negatives",
                             description="Negatives per positive when softmax is 'sampled'.")
    temperature: float = Field(0.1, gt=0, le=10, title="Temperature",
                               description="Softmax temperature over cosine similarities.")
    id_dropout: float = Field(0.3, ge=0, le=1, title="Id dropout",
                              description="Chance of blanking an id in training, so the attribute path learns to "
                                          "serve new users and items.")
    dropout: float = Field(0.1, ge=0, lt=1, title="Dropout", description="Dropout inside the towers.")
    epochs: int = tuned_default("epochs", 40)
    lr: float = tuned_default("lr", 0.002)
    patience: int = tuned_default("patience", 5)


class Tower(nn.Module):
    """concat(id embedding, attribute bag) -> Linear -> ReLU -> Linear -> L2 normalisation, computed by the
    hand-written pass of `engine.training.tower_pass` (these modules hold its weights)."""

    def __init__(self, n_ids: int, n_features: int, config: TwoTowerConfig) -> None:
        super().__init__()
        dim = config.n_factors
        # sparse: each step updates only the batch's id rows (lazy Adam), not the whole table and its moments;
        # weight decay touches every row, so it keeps the table dense
        self.ids = nn.Embedding(n_ids, dim, sparse=not config.weight_decay)
        nn.init.normal_(self.ids.weight, std=0.05)
        self.features = FeatureBag(n_features, dim, init_std=0.05) if n_features else None
        inputs = dim * (2 if n_features else 1)
        self.mlp = nn.Sequential(nn.Linear(inputs, config.hidden), nn.ReLU(), Dropout(config.dropout),
                                 nn.Linear(config.hidden, dim))

    def weights(self) -> TowerWeights:
        """The tower's weights for the hand-written pass (`engine.training.tower_pass`)."""
        hidden, out = self.mlp[0], self.mlp[3]
        return TowerWeights(self.ids.weight, self.ids.sparse,
                            self.features.bag.weight if self.features is not None else None,
                            hidden.weight, hidden.bias, out.weight, out.bias)

    def forward(self, index: torch.Tensor, rows: Attributes | None, mask: torch.Tensor | None = None,
                weights: TowerWeights | None = None) -> torch.Tensor:
        """Unit vectors for entities at training `index` (-1 = unseen, or id dropped out: no id part; distinct in
        training, so the id rows' gradient needs no summing) with attribute `rows` (`Attributes`: sparse, dense or
        compiled); `mask`: the hidden layer's dropout mask (`dropout_mask`), None when scoring. `weights`: this
        tower's `weights()` when the caller holds them (a training loop, saving the lookups every batch)."""
        return tower_vectors(weights or self.weights(), index, rows if self.features is not None else None, mask)

    def dropout_mask(self, n_rows: int, device: torch.device) -> torch.Tensor | None:
        """The training dropout mask of `n_rows` entities' hidden layer (None: nothing dropped, or evaluating)."""
        return self.mlp[2].mask((n_rows, self.mlp[0].out_features), device)


class TwoTowerNetwork(nn.Module):
    """The user and item towers, plus each item's log sampling probability for the in-batch correction."""

    def __init__(self, sizes: dict[str, int], config: TwoTowerConfig) -> None:
        super().__init__()
        self.users = Tower(sizes["n_users"], sizes["n_user_features"], config)
        self.items = Tower(sizes["n_items"], sizes["n_item_features"], config)
        self.register_buffer("item_log_q", torch.zeros(sizes["n_items"]))


class TwoTowerRecommender(TorchRecommender):
    """DSSM-style two-tower model: serves warm, new users and new items."""

    name = "twotower"
    label = "Two-tower"
    family = "deep"
    Config = TwoTowerConfig
    capabilities = Capabilities(new_users=True, new_items=True, uses_user_features=True, uses_item_features=True)
    search_space = {"n_factors": IntRange(16, 128, log=True), "temperature": FloatRange(0.02, 0.5, log=True),
                    "id_dropout": FloatRange(0.0, 0.8)}
    test_params = {"epochs": 8, "batch_size": 128, "lr": 0.01, "n_factors": 8, "hidden": 16}
    config: TwoTowerConfig

    def module_sizes(self, data: TrainData) -> dict[str, int]:
        return {"n_users": data.n_users, "n_items": data.n_items,
                "n_user_features": data.user_features.n_features if data.user_features is not None else 0,
                "n_item_features": data.item_features.n_features if data.item_features is not None else 0}

    def build_module(self, sizes: dict[str, int]) -> TwoTowerNetwork:
        return TwoTowerNetwork(sizes, self.config)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        module = self.init_module(data, context)
        config = self.config
        if self.device.type == "cpu":
            for tower in (module.users, module.items):
                # a batch's id rows are scattered over tables of up to hundreds of MB (`zeros_in_huge_pages`)
                cpu_kernels.move_to_huge_pages(tower.ids.weight)
        popularity = np.asarray((data.matrix > 0).sum(axis=0)).ravel().astype(np.float64) + 1.0
        module.item_log_q.copy_(torch.from_numpy(np.log(popularity / popularity.sum())).float())
        user_table = training_table(data.user_features, data.user_ids, self.device)
        item_table = training_table(data.item_features, data.item_ids, self.device)
        n_negatives = config.n_negatives if config.softmax == "sampled" else 1
        sampler = NegativeSampler(data.matrix, batch_size=config.batch_size, n_negatives=n_negatives,
                                  kind=config.negative_sampling, alpha=config.popularity_alpha, seed=self.seed)
        user_weights, item_weights = module.users.weights(), module.items.weights()

        def encode(tower: Tower, weights: TowerWeights, table: FeatureTable | None,
                   index: torch.Tensor) -> torch.Tensor:
            # each distinct entity goes through its tower once (about half a batch's rows on MovieLens), and its
            # occurrences share that pass: its id dropout and tower dropout are drawn once per batch
            blanked = torch.where(torch.rand(index.shape, device=index.device) < config.id_dropout, -1, index) \
                if config.id_dropout > 0 else index
            return tower(blanked, table.attributes(index) if table is not None else None,
                         tower.dropout_mask(len(index), index.device), weights)

        def batch_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            users, positives, negatives, _ = batch
            users, user_slots = distinct(users, data.n_users)
            user_vectors = encode(module.users, user_weights, user_table, users)
            if config.softmax == "in_batch":
                items, labels = distinct(positives, data.n_items)
                return sampled_softmax_loss(user_vectors, encode(module.items, item_weights, item_table, items),
                                            config.temperature, module.item_log_q[items], labels, user_slots)
            items, item_slots = distinct(torch.cat([positives.unsqueeze(1), negatives], dim=1), data.n_items)
            item_vectors = take_rows(encode(module.items, item_weights, item_table, items), item_slots)
            logits = torch.einsum("bd,bnd->bn", take_rows(user_vectors, user_slots), item_vectors) / config.temperature
            labels = torch.zeros(len(logits), dtype=torch.int64, device=logits.device)
            return F.cross_entropy(logits.float(), labels)

        self.run_training(sampler, batch_loss, context)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        module = self.fitted_module()
        with torch.no_grad():
            user_rows = query_rows(users.features, self.device, use=self.sizes["n_user_features"] > 0)
            item_rows = query_rows(items.features, self.device, use=self.sizes["n_item_features"] > 0)
            return dot_scores(module.users(index_tensor(users.index, self.device), user_rows),
                              module.items(index_tensor(items.index, self.device), item_rows))

