"""DropoutNet: one network for warm, new-user and new-item scoring, trained with dropout of the preference input.

Volkovs, Yu, Poutanen, "DropoutNet: Addressing Cold Start in Recommender Systems", NeurIPS 2017.
Each side's tower reads [preference factors of a warm backbone ; attributes]. During training the preference
input is randomly zeroed (or, for users, replaced by the mean of their items' factors, the paper's "transform"),
so the towers learn to fall back on attributes, while the target stays the backbone's score U_u . V_i. At inference
a new item gets a zero preference input, and a few-shot user the mean factors of the items they revealed.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import nn

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext
from engine.models._backbone import (BackboneConfig, BackboneFactors, BackboneSpecialist, ContentEncoder,
                                     history_mean, query_factors, query_rows, training_table)
from engine.models._scoring import as_scores
from engine.training.feature_modules import SparseRows
from engine.training.loop import tuned_default
from engine.training.sampler import NegativeSampler


class DropoutNetConfig(BackboneConfig):
    """DropoutNet hyper-parameters (the paper's defaults scaled to small catalogues)."""

    hidden: int = Field(200, ge=4, le=4096, title="Hidden units", description="Width of each tower's hidden layer.")
    dim: int = Field(100, ge=2, le=1024, title="Output dimension",
                     description="Size of the user and item vectors whose dot product is the score.")
    dropout: float = Field(0.5, ge=0.0, le=1.0, title="Preference dropout",
                           description="Probability that a training example's preference input is zeroed "
                                       "(the paper's key idea; 0 = plain content+preference regression).")
    n_negatives: int = Field(4, ge=1, le=100, title="Random items per positive",
                             description="Unobserved items per positive whose backbone score is also regressed.")
    epochs: int = tuned_default("epochs", 30)
    lr: float = tuned_default("lr", 0.001)


class _Tower(nn.Module):
    """[preference ; attributes] -> vector: the preference is linearly projected and added to the content
    projection (a linear layer over their concatenation), then a tanh layer and a linear output."""

    def __init__(self, pref_dim: int, n_features: int, hidden: int, dim: int) -> None:
        super().__init__()
        self.preference = nn.Linear(pref_dim, hidden)
        self.content = ContentEncoder(n_features, hidden, hidden) if n_features else None
        self.head = nn.Sequential(nn.Tanh(), nn.Linear(hidden, dim))

    def forward(self, preference: torch.Tensor, rows: SparseRows | None) -> torch.Tensor:
        hidden = self.preference(preference)
        if self.content is not None and rows is not None:
            hidden = hidden + self.content(rows)
        return self.head(hidden)


class _DropoutNetModule(nn.Module):
    def __init__(self, sizes: dict[str, int], hidden: int, dim: int) -> None:
        super().__init__()
        self.backbone = BackboneFactors(sizes["n_users"], sizes["n_items"], sizes["pref_dim"])
        self.user_tower = _Tower(sizes["pref_dim"], sizes["n_user_features"], hidden, dim)
        self.item_tower = _Tower(sizes["pref_dim"], sizes["n_item_features"], hidden, dim)


class DropoutNet(BackboneSpecialist):
    name: ClassVar[str] = "dropoutnet"
    label: ClassVar[str] = "DropoutNet"
    family: ClassVar[str] = "cold-start"
    Config = DropoutNetConfig
    capabilities: ClassVar[Capabilities] = Capabilities(
        new_users=True, new_items=True, user_fold_in=True, item_fold_in=True,
        uses_user_features=True, uses_item_features=True)
    search_space: ClassVar[dict[str, list]] = {"dropout": [0.3, 0.5, 0.8], "lr": [0.001, 0.003], "dim": [64, 100]}
    test_params: ClassVar[dict] = {"epochs": 6, "batch_size": 128, "lr": 0.003, "backbone_factors": 8, "hidden": 16,
                                   "dim": 8}
    """A small, fast configuration for the conformance suite."""

    config: DropoutNetConfig

    def build_module(self, sizes: dict[str, int]) -> nn.Module:
        return _DropoutNetModule(sizes, self.config.hidden, self.config.dim)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        cfg = self.config
        net = self.init_with_teacher(data, context)
        device = self.device
        users_v, items_v = net.backbone.users, net.backbone.items
        # the paper's user "transform": a user's preference replaced by the mean of their items' factors
        users_mean = history_mean(data.matrix, items_v)
        user_table = training_table(data.user_features, data.user_ids, device)
        item_table = training_table(data.item_features, data.item_ids, device)
        sampler = NegativeSampler(data.matrix, batch_size=cfg.batch_size, n_negatives=cfg.n_negatives,
                                  kind=cfg.negative_sampling, alpha=cfg.popularity_alpha, seed=self.seed)

        def batch_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            users, positives, negatives, _ = batch
            items = torch.cat([positives[:, None], negatives], dim=1)  # (B, 1 + n_neg)
            n_per_user = items.shape[1]
            u_pref = users_v[users]
            drop_user = torch.rand(len(users), device=users.device) < cfg.dropout
            # half of the dropped users get the transform, half nothing: few-shot users and new users
            transform = drop_user & (torch.rand(len(users), device=users.device) < 0.5)
            u_pref = torch.where(transform[:, None], users_mean[users], u_pref)
            u_pref = torch.where((drop_user & ~transform)[:, None], torch.zeros_like(u_pref), u_pref)
            flat_items = items.reshape(-1)
            i_pref = items_v[flat_items]
            drop_item = torch.rand(len(flat_items), device=users.device) < cfg.dropout
            i_pref = torch.where(drop_item[:, None], torch.zeros_like(i_pref), i_pref)
            u_vec = net.user_tower(u_pref, user_table.rows(users) if user_table else None)
            i_vec = net.item_tower(i_pref, item_table.rows(flat_items) if item_table else None)
            predicted = (u_vec.repeat_interleave(n_per_user, dim=0) * i_vec).sum(dim=1)
            target = (users_v[users].repeat_interleave(n_per_user, dim=0) * items_v[flat_items]).sum(dim=1)
            return torch.mean((predicted - target) ** 2)

        self.run_training(sampler, batch_loss, context)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Dot product of the two towers; new entities enter with zero or history-mean preference input."""
        return as_scores(self.user_vectors(users) @ self.item_vectors(items).T)

    @torch.no_grad()
    def user_vectors(self, users: UserQuery) -> torch.Tensor:
        """User tower outputs: backbone factors for known users, mean revealed-item factors for new ones."""
        net = self.fitted_module().eval()
        preference = query_factors(users.index, users.history, net.backbone.users, net.backbone.items)
        rows = query_rows(users.features, len(users), self.device) if net.user_tower.content is not None else None
        return net.user_tower(preference, rows)

    @torch.no_grad()
    def item_vectors(self, items: ItemQuery) -> torch.Tensor:
        """Item tower outputs: backbone factors for known items, zeros (or revealed users' mean) for new ones."""
        net = self.fitted_module().eval()
        preference = query_factors(items.index, items.history, net.backbone.items, net.backbone.users)
        rows = query_rows(items.features, len(items), self.device) if net.item_tower.content is not None else None
        return net.item_tower(preference, rows)
