"""Heater: randomized training plus a mixture-of-experts transform from attributes to preference factors.

Zhu, Sefati, Saadatpanah, Caverlee, "Recommendation for New Users and New Items via Randomized Training and
Mixture-of-Experts Transformation", SIGIR 2020.
A mixture of experts maps each side's attributes into the space of a warm backbone's factors (the gate lets
different kinds of items use different mappings). During training each user's and item's backbone factors are
randomly *replaced* by their content transform (rather than zeroed, as in DropoutNet), a similarity term pulls the
transform towards the factors, and shared layers on top are trained to reproduce the backbone score. New users
and items are served through their content transform.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from torch import nn

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext
from engine.models._backbone import (BackboneConfig, BackboneFactors, BackboneSpecialist, query_factors, query_rows,
                                     training_table)
from engine.models._scoring import as_scores
from engine.training.feature_modules import FeatureBag, SparseRows
from engine.training.loop import tuned_default
from engine.training.sampler import NegativeSampler


class HeaterConfig(BackboneConfig):
    """Heater hyper-parameters."""

    n_experts: int = Field(5, ge=1, le=64, title="Experts",
                           description="Linear experts in the mixture that maps attributes to factors.")
    hidden: int = Field(200, ge=4, le=4096, title="Hidden units",
                        description="Width of the attribute encoding and of the shared layer.")
    dim: int = Field(100, ge=2, le=1024, title="Output dimension",
                     description="Size of the final user and item vectors.")
    randomize: float = Field(0.5, ge=0.0, le=1.0, title="Randomized training rate",
                             description="Probability that a training example's factors are replaced by its "
                                         "content transform (the paper's randomized training).")
    similarity_weight: float = Field(1.0, ge=0.0, title="Similarity constraint",
                                     description="Weight of the squared distance between factors and their "
                                                 "content transform.")
    n_negatives: int = Field(4, ge=1, le=100, title="Random items per positive",
                             description="Unobserved items per positive whose backbone score is also regressed.")
    lr: float = tuned_default("lr", 0.001)


class MixtureOfExperts(nn.Module):
    """Attributes -> factors: a softmax gate over linear experts that read a shared tanh encoding."""

    def __init__(self, n_features: int, hidden: int, out: int, n_experts: int) -> None:
        super().__init__()
        self.encode = FeatureBag(n_features, hidden, init_std=hidden ** -0.5)
        self.experts = nn.Linear(hidden, out * n_experts)
        self.gate = nn.Linear(hidden, n_experts)
        self.out, self.n_experts = out, n_experts

    def forward(self, rows: SparseRows) -> torch.Tensor:
        hidden = torch.tanh(self.encode(rows))
        experts = self.experts(hidden).view(-1, self.n_experts, self.out)
        weights = torch.softmax(self.gate(hidden), dim=1)
        return (weights.unsqueeze(2) * experts).sum(dim=1)


class _Side(nn.Module):
    """One side (users or items): an optional content transform and the shared layers over the factors."""

    def __init__(self, pref_dim: int, n_features: int, cfg: HeaterConfig) -> None:
        super().__init__()
        self.transform = MixtureOfExperts(n_features, cfg.hidden, pref_dim, cfg.n_experts) if n_features else None
        self.layers = nn.Sequential(nn.Linear(pref_dim, cfg.hidden), nn.Tanh(), nn.Linear(cfg.hidden, cfg.dim))


class _HeaterModule(nn.Module):
    def __init__(self, sizes: dict[str, int], cfg: HeaterConfig) -> None:
        super().__init__()
        self.backbone = BackboneFactors(sizes["n_users"], sizes["n_items"], sizes["pref_dim"])
        self.users = _Side(sizes["pref_dim"], sizes["n_user_features"], cfg)
        self.items = _Side(sizes["pref_dim"], sizes["n_item_features"], cfg)


def _randomized(side: _Side, factors: torch.Tensor, rows: SparseRows | None,
                rate: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(representation with a random `rate` of rows replaced by the content transform, similarity loss)."""
    if side.transform is None or rows is None:
        return factors, factors.new_zeros(())
    content = side.transform(rows)
    replace = torch.rand(len(factors), device=factors.device) < rate
    similarity = ((content - factors) ** 2).sum(dim=1).mean()
    return torch.where(replace[:, None], content, factors), similarity


class Heater(BackboneSpecialist):
    name: ClassVar[str] = "heater"
    label: ClassVar[str] = "Heater"
    family: ClassVar[str] = "cold-start"
    Config = HeaterConfig
    capabilities: ClassVar[Capabilities] = Capabilities(
        new_users=True, new_items=True, user_fold_in=True, item_fold_in=True,
        uses_user_features=True, uses_item_features=True)
    search_space: ClassVar[dict[str, list]] = {"randomize": [0.3, 0.5, 0.8], "n_experts": [3, 5],
                                               "lr": [0.001, 0.003]}
    test_params: ClassVar[dict] = {"epochs": 6, "batch_size": 128, "lr": 0.003, "backbone_factors": 8, "hidden": 16,
                                   "dim": 8}
    """A small, fast configuration for the conformance suite."""

    config: HeaterConfig

    def build_module(self, sizes: dict[str, int]) -> nn.Module:
        return _HeaterModule(sizes, self.config)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        cfg = self.config
        net = self.init_with_teacher(data, context)
        users_v, items_v = net.backbone.users, net.backbone.items
        user_table = training_table(data.user_features, data.user_ids, self.device)
        item_table = training_table(data.item_features, data.item_ids, self.device)
        sampler = NegativeSampler(data.matrix, batch_size=cfg.batch_size, n_negatives=cfg.n_negatives,
                                  kind=cfg.negative_sampling, alpha=cfg.popularity_alpha, seed=self.seed)

        def batch_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            users, positives, negatives, _ = batch
            items = torch.cat([positives[:, None], negatives], dim=1).reshape(-1)
            n_per_user = negatives.shape[1] + 1
            u_rep, u_sim = _randomized(net.users, users_v[users], user_table.rows(users) if user_table else None,
                                       cfg.randomize)
            i_rep, i_sim = _randomized(net.items, items_v[items], item_table.rows(items) if item_table else None,
                                       cfg.randomize)
            predicted = (net.users.layers(u_rep).repeat_interleave(n_per_user, dim=0) * net.items.layers(i_rep)).sum(1)
            target = (users_v[users].repeat_interleave(n_per_user, dim=0) * items_v[items]).sum(dim=1)
            return torch.mean((predicted - target) ** 2) + cfg.similarity_weight * (u_sim + i_sim)

        self.run_training(sampler, batch_loss, context)

    @torch.no_grad()
    def _side_vectors(self, side: _Side, index: np.ndarray, history: sp.csr_matrix,
                      features: sp.csr_matrix | None, own: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """Known entities use their factors; new ones with revealed interactions the mean of those
        counterparts' factors, new ones without any the content transform (zeros when there are no attributes)."""
        rep = query_factors(index, history, own, other)
        if side.transform is not None and features is not None:
            cold = torch.as_tensor((index < 0) & (history.getnnz(axis=1) == 0), device=rep.device)
            if cold.any():
                content = side.transform(query_rows(features, len(index), rep.device))
                rep = torch.where(cold[:, None], content, rep)
        return side.layers(rep)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Dot product of the final user and item vectors."""
        net = self.fitted_module().eval()
        user_vectors = self._side_vectors(net.users, users.index, users.history, users.features,
                                          net.backbone.users, net.backbone.items)
        item_vectors = self._side_vectors(net.items, items.index, items.history, items.features,
                                          net.backbone.items, net.backbone.users)
        return as_scores(user_vectors @ item_vectors.T)
