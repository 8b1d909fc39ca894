"""NeuMF: neural collaborative filtering, a generalised MF tower and an MLP tower fused by one output layer.

He, Liao, Zhang, Nie, Hu, Chua, "Neural Collaborative Filtering", WWW 2017. GMF: p_u * q_i (element-wise);
MLP: ReLU layers over concat(p'_u, q'_i) with their own embeddings; the prediction is sigmoid(h . [GMF; MLP]).
Trained as the paper does, with binary cross-entropy on each positive and a few sampled negatives. Ids are its
only input, so it serves warm users and items only.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext
from engine.training.loop import GradientConfig, tuned_default
from engine.training.pair_mlp import PairMLP
from engine.training.recommender import TorchRecommender
from engine.training.sampler import NegativeSampler
from engine.training.scoring import index_tensor, pairwise_scores, require_known

_WHY_WARM_ONLY = "NeuMF learns one embedding per id and uses no attributes"


class NeuMFConfig(GradientConfig):
    """NeuMF hyper-parameters (the shared training settings plus the architecture)."""

    n_factors: int = Field(32, ge=1, le=512, title="GMF factors", description="Dimension of the GMF embeddings.")
    mlp_layers: list[int] = Field([64, 32, 16], min_length=1, max_length=6, title="MLP layers",
                                  description="Widths of the MLP tower; its embeddings are half the first width.")
    n_negatives: int = Field(4, ge=1, le=64, title="Negatives per positive",
                             description="Sampled negatives per positive (the paper uses 4).")
    dropout: float = Field(0.0, ge=0, lt=1, title="Dropout", description="Dropout between MLP layers.")
    epochs: int = tuned_default("epochs", 60)
    lr: float = tuned_default("lr", 0.001)
    patience: int = tuned_default("patience", 4)


class NeuralMF(nn.Module):
    """GMF and MLP towers with separate embeddings, fused by a linear output layer."""

    def __init__(self, n_users: int, n_items: int, config: NeuMFConfig) -> None:
        super().__init__()
        mlp_dim = max(1, config.mlp_layers[0] // 2)
        self.gmf_users = nn.Embedding(n_users, config.n_factors)
        self.gmf_items = nn.Embedding(n_items, config.n_factors)
        self.mlp_users = nn.Embedding(n_users, mlp_dim)
        self.mlp_items = nn.Embedding(n_items, mlp_dim)
        self.mlp = PairMLP(mlp_dim, mlp_dim, config.mlp_layers, config.dropout)
        self.output = nn.Linear(config.n_factors + self.mlp.out_dim, 1)
        for embedding in (self.gmf_users, self.gmf_items, self.mlp_users, self.mlp_items):
            nn.init.normal_(embedding.weight, std=0.01)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits of aligned pairs; `items` may be (B, n) for several items per user."""
        if items.dim() == 2:
            users = users.unsqueeze(1).expand_as(items)
        gmf = self.gmf_users(users) * self.gmf_items(items)
        mlp = self.mlp(self.mlp_users(users), self.mlp_items(items))
        return self.output(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    def all_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits of every user with every item, (len(users), len(items))."""
        gmf = self.gmf_users(users).unsqueeze(1) * self.gmf_items(items).unsqueeze(0)
        mlp = self.mlp.all_pairs(self.mlp_users(users), self.mlp_items(items))
        return self.output(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)


class NeuMFRecommender(TorchRecommender):
    """NeuMF for warm users and items."""

    name = "neumf"
    label = "NeuMF"
    family = "deep"
    Config = NeuMFConfig
    capabilities = Capabilities()
    search_space = {"n_factors": [16, 32, 64], "lr": [0.0005, 0.001, 0.003], "n_negatives": [4, 8]}
    test_params = {"epochs": 8, "batch_size": 128, "lr": 0.01, "n_factors": 8, "mlp_layers": [16, 8]}
    config: NeuMFConfig

    def module_sizes(self, data: TrainData) -> dict[str, int]:
        return {"n_users": data.n_users, "n_items": data.n_items}

    def build_module(self, sizes: dict[str, int]) -> NeuralMF:
        return NeuralMF(sizes["n_users"], sizes["n_items"], self.config)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        module = self.init_module(data, context)
        sampler = NegativeSampler(data.matrix, batch_size=self.config.batch_size, n_negatives=self.config.n_negatives,
                                  kind=self.config.negative_sampling, alpha=self.config.popularity_alpha,
                                  seed=self.seed)

        def batch_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            users, positives, negatives, _ = batch
            logits = module(users, torch.cat([positives.unsqueeze(1), negatives], dim=1))
            labels = torch.zeros_like(logits, dtype=torch.float32)
            labels[:, 0] = 1.0
            return nn.functional.binary_cross_entropy_with_logits(logits.float(), labels)

        self.run_training(sampler, batch_loss, context)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        require_known(users.index, "users", self.label, _WHY_WARM_ONLY)
        require_known(items.index, "items", self.label, _WHY_WARM_ONLY)
        module = self.fitted_module()
        user_index = index_tensor(users.index, self.device)
        item_index = index_tensor(items.index, self.device)
        with torch.no_grad():
            return pairwise_scores(len(users), len(items), lambda rows: module.all_pairs(user_index[rows], item_index))
