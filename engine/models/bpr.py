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
from engine.training.fold_in import fold_in_vectors, known_or_new_vectors
from engine.training import cpu_kernels
from engine.training.loop import FusedStep, GradientConfig, HandGradients, tuned_default
from engine.training.losses import bpr_loss_gradient
from engine.training.recommender import TorchRecommender
from engine.training.row_gradients import RowGradients
from engine.training.sampler import NegativeSampler
from engine.training.scoring import dot_scores


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
        description="sparse: each step updates only the rows its batch touched (lazy Adam; on a CPU one compiled "
                    "step, as fast as implicit's BPR); dense: every row every step (Adam); auto: sparse unless "
                    "weight decay is on (it touches every row).")
    epochs: int = tuned_default("epochs", 60)
    lr: float = tuned_default("lr", 0.005)
    patience: int = tuned_default("patience", 5)


class MatrixFactorization(nn.Module):
    """User and item vectors plus an item bias: score(u, i) = p_u . q_i + b_i."""

    def __init__(self, n_users: int, n_items: int, n_factors: int, sparse: bool = False) -> None:
        super().__init__()
        # skip_init: no default N(0, 1) fill before the fill below (on 10M interactions a second pass of the
        # random generator over 500k user rows)
        self.user_factors = nn.utils.skip_init(nn.Embedding, n_users, n_factors, sparse=sparse)
        self.item_factors = nn.utils.skip_init(nn.Embedding, n_items, n_factors, sparse=sparse)
        self.item_bias = nn.utils.skip_init(nn.Embedding, n_items, 1, sparse=sparse)
        nn.init.normal_(self.user_factors.weight, std=0.1)
        nn.init.normal_(self.item_factors.weight, std=0.1)
        nn.init.zeros_(self.item_bias.weight)

    def bpr_gradients(self, batch: tuple[torch.Tensor, ...], l2: float, gradients: RowGradients) -> float:
        """The BPR loss with the L2 penalty of the batch's vectors, its gradient written by hand (no autograd).

        Scores are p_u . q_i + b_i for the positive and the negatives; the objective is `bpr_loss` over them plus
        l2 * `l2_penalty` of p and the q's, differentiated in closed form (g = d loss / d score):
        d/dp = sum_i g_i q_i + 2 l2 p / B, d/dq_i = g_i p + 2 l2 q_i / B, d/db_i = g_i.
        """
        users, positives, negatives, _ = batch
        p = self.user_factors.weight[users]
        items = torch.cat([positives.unsqueeze(1), negatives], dim=1)
        q = self.item_factors.weight[items]
        scores = torch.bmm(q, p.unsqueeze(2)).squeeze(2) + self.item_bias.weight[items, 0]
        loss, d_positive, d_negative = bpr_loss_gradient(scores[:, 0], scores[:, 1:])
        d_scores = torch.cat([d_positive.unsqueeze(1), d_negative], dim=1)
        decay = 2.0 * l2 / len(users)
        penalty = l2 * (p.pow(2).sum() + q.pow(2).sum()) / len(users)
        gradients.add(self.user_factors.weight, users, torch.bmm(d_scores.unsqueeze(1), q).squeeze(1) + decay * p)
        gradients.add(self.item_factors.weight, items, d_scores.unsqueeze(2) * p.unsqueeze(1) + decay * q)
        gradients.add(self.item_bias.weight, items, d_scores)
        gradients.finish()
        return loss + float(penalty)


class BPRRecommender(TorchRecommender):
    """BPR-MF with fold-in of users and items known only through a few revealed interactions."""

    name = "bpr"
    label = "BPR-MF"
    family = "factorization"
    Config = BPRConfig
    factors_field = "n_factors"
    """The latent dimension's config field (the `FactorModel` interface of backbones)."""
    capabilities = Capabilities(user_fold_in=True, item_fold_in=True)
    search_space = {"n_factors": IntRange(16, 256, log=True), "lr": FloatRange(0.001, 0.05, log=True),
                    "l2": FloatRange(1e-6, 1e-2, log=True)}
    test_params = {"epochs": 8, "batch_size": 128, "lr": 0.01, "n_factors": 8}
    config: BPRConfig

    def module_sizes(self, data: TrainData) -> dict[str, int]:
        return {"n_users": data.n_users, "n_items": data.n_items}

    def build_module(self, sizes: dict[str, int]) -> MatrixFactorization:
        updates = self.config.embedding_updates
        sparse = updates == "sparse" or (updates == "auto" and not self.config.weight_decay)
        return MatrixFactorization(sizes["n_users"], sizes["n_items"], self.config.n_factors, sparse=sparse)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        module = self.init_module(data, context)
        sampler = NegativeSampler(data.matrix, batch_size=self.config.batch_size, n_negatives=self.config.n_negatives,
                                  kind=self.config.negative_sampling, alpha=self.config.popularity_alpha,
                                  seed=self.seed)
        self.run_training(sampler, self.training_step(module), context)

    def training_step(self, module: MatrixFactorization) -> FusedStep | HandGradients:
        """The compiled CPU step where it applies (lazy Adam on a CPU with numba), else hand-written gradients
        for the configured torch optimizer (any device): the same objective and, for lazy Adam, the same update."""
        config = self.config
        if (module.user_factors.sparse and config.optimizer == "adam" and self.device.type == "cpu"
                and cpu_kernels.available()):
            return FusedStep(cpu_kernels.BPRLazyAdamStep(module.user_factors.weight, module.item_factors.weight,
                                                         module.item_bias.weight, config.l2,
                                                         cpu_kernels.LazyAdam(config.lr)))
        gradients = RowGradients(module)
        return HandGradients(lambda batch: module.bpr_gradients(batch, config.l2, gradients))

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """(user, item) factors whose dot product is the score: the item bias rides along as one more column."""
        module = self.fitted_module()
        users = module.user_factors.weight.detach().cpu()
        items = module.item_factors.weight.detach().cpu()
        bias = module.item_bias.weight.detach().cpu()
        return (torch.cat([users, torch.ones(len(users), 1)], dim=1).numpy(),
                torch.cat([items, bias], dim=1).numpy())

    def _user_vectors(self, users: UserQuery) -> torch.Tensor:
        # a new user without revealed interactions keeps a zero vector: ranked by item bias (popularity)
        module = self.fitted_module()
        return known_or_new_vectors(users.index, users.history, module.user_factors.weight, lambda history: (
            fold_in_vectors(history, module.item_factors.weight, module.item_bias.weight.squeeze(1),
                            steps=self.config.fold_in_steps, l2=self.config.l2, seed=self.seed)))

    def _item_vectors(self, items: ItemQuery) -> tuple[torch.Tensor, torch.Tensor]:
        module = self.fitted_module()
        vectors = known_or_new_vectors(items.index, items.history, module.item_factors.weight, lambda history: (
            fold_in_vectors(history, module.user_factors.weight, steps=self.config.fold_in_steps,
                            l2=self.config.l2, seed=self.seed)))
        # a folded-in item has no popularity of its own yet: it gets the average item bias
        average = module.item_bias.weight.detach().mean().reshape(1, 1)
        bias = known_or_new_vectors(items.index, items.history, module.item_bias.weight,
                                    lambda history: average.expand(history.shape[0], 1))
        return vectors, bias.squeeze(1)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        with torch.no_grad():
            item_vectors, item_bias = self._item_vectors(items)
            return dot_scores(self._user_vectors(users), item_vectors, item_bias)

