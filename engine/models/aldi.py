"""ALDI: warm items teach a content generator for cold items through three alignment losses.

Huang, Wang, Huang, Qian, Li, Chen, "Aligning Distillation For Cold-start Item Recommendation", SIGIR 2023.
The warm backbone is the teacher and stays untouched, so warm items keep their scores (the paper's answer to
dropout models hurting the warm slice). A student generator maps item attributes to factors, and a user mapper
maps each user's factors into the student's space; on (user, positive, negative) triples the student learns from
- a BPR-style supervised loss on the real interactions,
- rating distribution aligning: |teacher score - student score| for both items,
- ranking aligning: the student's score gap matches the teacher's, sigmoid(teacher gap) as a soft label,
- identification aligning: how much more an item resembles itself than other items, student vs teacher,
with the ranking and identification terms weighted per positive item by the teacher-qualifying weight
tanh(a * frequency), capped at tanh(M): teachers with few interactions are less trusted.
New items are scored with mapped user factors times generated item factors; warm items with the teacher.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext
from engine.models._backbone import (BackboneConfig, BackboneFactors, BackboneSpecialist, ContentEncoder, query_rows,
                                     training_table)
from engine.models._scoring import as_scores, require_known_users
from engine.training.loop import tuned_default
from engine.training.sampler import NegativeSampler


class ALDIConfig(BackboneConfig):
    """ALDI hyper-parameters (loss weights default to the authors' alpha 0.9, beta 0.05, gamma 0.1, M 4)."""

    hidden: int = Field(200, ge=4, le=4096, title="Hidden units", description="Width of the student's layers.")
    ranking_weight: float = Field(0.9, ge=0.0, title="Ranking aligning (alpha)",
                                  description="Weight of matching the teacher's positive-negative score gap.")
    identification_weight: float = Field(0.05, ge=0.0, title="Identification aligning (beta)",
                                         description="Weight of matching how distinguishable items are.")
    rating_weight: float = Field(0.1, ge=0.0, title="Rating distribution aligning (gamma)",
                                 description="Weight of matching the teacher's scores themselves.")
    qualifying_cap: float = Field(4.0, ge=0.0, title="Teacher-qualifying cap (M)",
                                  description="A teacher of average frequency gets weight tanh(M) (capped there); "
                                              "0 turns the weighting off (every teacher weighs 1).")
    lr: float = tuned_default("lr", 0.001)


class _Student(nn.Module):
    """The teacher's factors (frozen buffers), the item generator and the user mapper."""

    def __init__(self, sizes: dict[str, int], hidden: int) -> None:
        super().__init__()
        pref_dim = sizes["pref_dim"]
        self.backbone = BackboneFactors(sizes["n_users"], sizes["n_items"], pref_dim)
        self.items = ContentEncoder(sizes["n_item_features"], hidden, pref_dim)
        self.users = nn.Sequential(nn.Linear(pref_dim, hidden), nn.Tanh(), nn.Linear(hidden, pref_dim))


def teacher_qualifying_weights(matrix: sp.spmatrix, cap: float) -> torch.Tensor:
    """Per item tanh(a * f_i) capped at tanh(M), with f_i = sum over its users of 1 / user degree and
    a = M / E[f] (ALDI's frequency weighting); all ones when M is 0."""
    binary = (matrix > 0).astype(np.float32).tocsr()
    n_users, n_items = binary.shape
    if cap <= 0:
        return torch.ones(n_items)
    degree = np.asarray(binary.sum(axis=1)).ravel()
    inverse = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
    frequency = np.asarray(binary.multiply(inverse[:, None]).sum(axis=0)).ravel()
    expected = n_users / max(n_items, 1)
    weights = np.minimum(np.tanh(cap / expected * frequency), np.tanh(cap))
    return torch.from_numpy(weights.astype(np.float32))


def _soft_bce(logits: torch.Tensor, teacher_logits: torch.Tensor, weights: torch.Tensor | float) -> torch.Tensor:
    return torch.mean(weights * F.binary_cross_entropy_with_logits(logits, torch.sigmoid(teacher_logits),
                                                                   reduction="none"))


class ALDI(BackboneSpecialist):
    name: ClassVar[str] = "aldi"
    label: ClassVar[str] = "ALDI"
    family: ClassVar[str] = "cold-start"
    Config = ALDIConfig
    capabilities: ClassVar[Capabilities] = Capabilities(new_items=True, uses_item_features=True)
    search_space: ClassVar[dict[str, list]] = {"lr": [0.001, 0.003], "hidden": [200, 400],
                                               "qualifying_cap": [0.0, 4.0]}
    test_params: ClassVar[dict] = {"epochs": 6, "batch_size": 128, "lr": 0.003, "backbone_factors": 8, "hidden": 16}
    """A small, fast configuration for the conformance suite."""

    config: ALDIConfig

    def build_module(self, sizes: dict[str, int]) -> nn.Module:
        return _Student(sizes, self.config.hidden)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        if data.item_features is None or data.item_features.n_features == 0:
            raise ValueError("ALDI generates cold items from their attributes, but this dataset has no item "
                             "attributes; add an items table or pick a model that does not need one")
        cfg = self.config
        student = self.init_with_teacher(data, context)
        users_v, items_v = student.backbone.users, student.backbone.items
        qualifying = teacher_qualifying_weights(data.matrix, cfg.qualifying_cap).to(self.device)
        item_table = training_table(data.item_features, data.item_ids, self.device)
        sampler = NegativeSampler(data.matrix, batch_size=cfg.batch_size, kind=cfg.negative_sampling,
                                  alpha=cfg.popularity_alpha, seed=self.seed)

        def batch_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            users, positives, negatives, _ = batch
            negatives = negatives[:, 0]
            teacher_user, teacher_pos, teacher_neg = users_v[users], items_v[positives], items_v[negatives]
            student_user = student.users(teacher_user)
            student_pos = student.items(item_table.rows(positives))
            student_neg = student.items(item_table.rows(negatives))
            s_pos, s_neg = (student_user * student_pos).sum(1), (student_user * student_neg).sum(1)
            t_pos, t_neg = (teacher_user * teacher_pos).sum(1), (teacher_user * teacher_neg).sum(1)
            supervised = F.softplus(s_neg - s_pos).mean()
            weight = qualifying[positives]
            ranking = _soft_bce(s_pos - s_neg, t_pos - t_neg, weight)
            # identification: self-similarity minus mean similarity to the batch's negatives
            s_ident = (student_pos * student_pos).sum(1) - (student_pos @ student_neg.T).mean(1)
            t_ident = (teacher_pos * teacher_pos).sum(1) - (teacher_pos @ teacher_neg.T).mean(1)
            identification = _soft_bce(s_ident, t_ident, weight)
            rating = torch.mean((t_pos - s_pos).abs() + (t_neg - s_neg).abs())
            return (supervised + cfg.ranking_weight * ranking + cfg.identification_weight * identification
                    + cfg.rating_weight * rating)

        self.run_training(sampler, batch_loss, context)

    @torch.no_grad()
    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Teacher scores for warm items, mapped-user x generated-item scores for new items."""
        net = self.fitted_module().eval()
        device = self.device
        teacher_users = net.backbone.users[torch.as_tensor(require_known_users(self, users), device=device)]
        scores = torch.zeros(len(users), len(items), device=device)
        known = items.index >= 0
        if known.any():
            known_items = torch.as_tensor(items.index[known], device=device)
            scores[:, torch.as_tensor(np.flatnonzero(known), device=device)] = \
                teacher_users @ net.backbone.items[known_items].T
        if (~known).any():
            new_rows = np.flatnonzero(~known)
            generated = net.items(query_rows(items.features[new_rows], len(new_rows), device))
            scores[:, torch.as_tensor(new_rows, device=device)] = net.users(teacher_users) @ generated.T
        return as_scores(scores)
