"""Implicit ALS: weighted matrix factorisation for one-class feedback (Hu, Koren & Volinsky, ICDM 2008).

Confidence c_ui = 1 + alpha * r_ui on observed positives and 1 elsewhere; each half-step solves the user (item)
least-squares problems with a few conjugate-gradient steps warm-started from the previous solution (Takacs et
al., RecSys 2011; the solver of the `implicit` library). New users and items with a few revealed interactions
are folded in by solving for their vector with the other side fixed, like implicit's `recalculate_user`.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext, ModelConfig, Recommender
from engine.core.search_space import FloatRange, IntRange
from engine.models._scoring import as_scores
from engine.training.fold_in import known_or_new_vectors

FOLD_IN_CG_STEPS = 32
"""CG steps when folding in a vector from zero: enough to converge for the factor sizes used here."""


class ALSConfig(ModelConfig):
    """Implicit ALS hyper-parameters; defaults tuned on MovieLens 100K warm validation."""

    factors: int = Field(32, ge=1, le=1024, title="Factors", description="Length of the user and item vectors.")
    regularization: float = Field(20.0, ge=0, title="L2 regularisation",
                                  description="Penalty on vector norms; larger = smoother, less overfit.")
    alpha: float = Field(2.0, gt=0, title="Confidence scaling (alpha)",
                         description="Confidence of a positive is 1 + alpha x weight; unobserved pairs count 1.")
    iterations: int = Field(15, ge=1, le=200, title="Iterations", description="Alternating sweeps over users and items.")
    cg_steps: int = Field(3, ge=1, le=64, title="CG steps",
                          description="Conjugate-gradient steps per vector and sweep (3 is implicit's default).")


def _csr(crow: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A torch CSR matrix over the (already sorted, validated) pattern of a scipy CSR matrix."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(crow, cols, values, size=shape, check_invariants=False)


def solve_factors(matrix: sp.spmatrix, fixed: torch.Tensor, start: torch.Tensor, regularization: float,
                  alpha: float, steps: int, prior: torch.Tensor | None = None) -> torch.Tensor:
    """One ALS half-step for every row of `matrix`: min sum_i c_ui (p_ui - x_u y_i)^2 + reg |x_u - m_u|^2, by batched
    CG, where the prior means m_u are the rows of `prior` (zero without one, the usual ALS penalty).

    All rows are solved at once (vectorised over users), starting from `start`. The (C_u - I) term is a sparse
    matrix of alpha * r_ui * (x_u . y_i) times the fixed factors, so each CG step is one dense product, one
    sampled product (the dots x_u . y_i at observed (u, i) only, never the dense users x items product) and one
    sparse product.
    """
    csr = sp.csr_matrix(matrix, dtype=np.float32)
    csr.sort_indices()
    device, dtype = fixed.device, fixed.dtype
    crow = torch.from_numpy(csr.indptr.astype(np.int64)).to(device)
    cols = torch.from_numpy(csr.indices.astype(np.int64)).to(device)
    extra = torch.from_numpy(csr.data * np.float32(alpha)).to(device, dtype)
    shape = csr.shape
    gram = fixed.T @ fixed + regularization * torch.eye(fixed.shape[1], device=device, dtype=dtype)

    pattern = _csr(crow, cols, torch.ones(len(cols), device=device, dtype=dtype), shape)
    fixed_t = fixed.T.contiguous()

    def apply(v: torch.Tensor) -> torch.Tensor:
        observed_dots = torch.sparse.sampled_addmm(pattern, v, fixed_t, beta=0.0).values()
        return v @ gram + _csr(crow, cols, extra * observed_dots, shape) @ fixed

    # right-hand side: sum over observed i of c_ui * y_i (preference p_ui = 1 there, 0 elsewhere)
    rhs = _csr(crow, cols, 1.0 + extra, shape) @ fixed
    if prior is not None:
        rhs = rhs + regularization * prior.to(device, dtype)
    x = start.clone()
    residual = rhs - apply(x)
    direction = residual.clone()
    rs_old = (residual * residual).sum(dim=1)
    for _ in range(steps):
        a_dir = apply(direction)
        denom = (direction * a_dir).sum(dim=1)
        step = torch.where(denom > 0, rs_old / denom.clamp_min(1e-30), torch.zeros_like(denom))
        x = x + step[:, None] * direction
        residual = residual - step[:, None] * a_dir
        rs_new = (residual * residual).sum(dim=1)
        ratio = torch.where(rs_old > 1e-30, rs_new / rs_old.clamp_min(1e-30), torch.zeros_like(rs_old))
        direction = residual + ratio[:, None] * direction
        rs_old = rs_new
    return x


def weighted_loss(matrix: sp.spmatrix, users: torch.Tensor, items: torch.Tensor, regularization: float,
                  alpha: float) -> float:
    """The ALS objective sum_ui c_ui (p_ui - x_u y_i)^2 + reg (|X|^2 + |Y|^2), per unit of confidence (implicit's
    `calculate_loss`), for the training curve.

    The sum over every pair is split as sum_ui (x_u y_i)^2 = <X'X, Y'Y> plus a correction on the observed pairs, so
    the dense users x items product is never formed.
    """
    csr = sp.csr_matrix(matrix, dtype=np.float32)
    csr.sort_indices()
    device, dtype = users.device, users.dtype
    crow = torch.from_numpy(csr.indptr.astype(np.int64)).to(device)
    cols = torch.from_numpy(csr.indices.astype(np.int64)).to(device)
    pattern = _csr(crow, cols, torch.ones(len(cols), device=device, dtype=dtype), csr.shape)
    dots = torch.sparse.sampled_addmm(pattern, users, items.T.contiguous(), beta=0.0).values()
    confidence = 1.0 + alpha * torch.from_numpy(csr.data).to(device, dtype)
    every_pair = ((users.T @ users) * (items.T @ items)).sum()
    observed = (confidence * (1.0 - dots) ** 2 - dots ** 2).sum()
    penalty = regularization * ((users * users).sum() + (items * items).sum())
    total_confidence = csr.shape[0] * csr.shape[1] + alpha * float(csr.data.sum())
    return float((every_pair + observed + penalty) / total_confidence)


class ALSRecommender(Recommender):
    """Weighted matrix factorisation by alternating least squares, with fold-in of unseen users and items."""

    name = "als"
    label = "ALS (implicit)"
    family = "factorization"
    Config = ALSConfig
    factors_field = "factors"
    """The latent dimension's config field (the `FactorModel` interface of backbones)."""
    capabilities = Capabilities(user_fold_in=True, item_fold_in=True)
    search_space = {
        "factors": IntRange(8, 256, log=True),
        "regularization": FloatRange(0.01, 1000.0, log=True),
        "alpha": FloatRange(0.1, 100.0, log=True),
        "iterations": IntRange(5, 30),
    }
    test_params = {"factors": 8, "iterations": 4}
    """A smaller configuration that keeps the conformance suite fast."""

    def _fit(self, data: TrainData, context: FitContext) -> None:
        """Alternate user and item half-steps from small seeded random vectors."""
        config = self.config
        device = torch.device(context.device)
        generator = torch.Generator().manual_seed(self.seed)
        scale = 0.01
        users = (torch.rand(data.n_users, config.factors, generator=generator, dtype=torch.float32) * scale).to(device)
        items = (torch.rand(data.n_items, config.factors, generator=generator, dtype=torch.float32) * scale).to(device)
        matrix = sp.csr_matrix(data.matrix)
        transposed = sp.csr_matrix(matrix.T)
        for iteration in range(config.iterations):
            users = solve_factors(matrix, items, users, config.regularization, config.alpha, config.cg_steps)
            items = solve_factors(transposed, users, items, config.regularization, config.alpha, config.cg_steps)
            if context.progress is not None:
                if context.watched:  # the objective is computed only for someone watching: about one CG step
                    loss = weighted_loss(matrix, users, items, config.regularization, config.alpha)
                    context.progress.report(epoch=iteration + 1, n_epochs=config.iterations, loss=loss)
                if context.progress.should_stop():
                    break
        self.user_factors = users.cpu()
        self.item_factors = items.cpu()

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """(user, item) factors whose dot product is the score (the `FactorModel` interface of backbones)."""
        return self.user_factors.numpy(), self.item_factors.numpy()

    def fold_in(self, history: sp.spmatrix, fixed: torch.Tensor) -> torch.Tensor:
        """Vectors for rows unseen in training, solved from their revealed interactions with `fixed` held fixed."""
        start = torch.zeros(history.shape[0], fixed.shape[1], dtype=fixed.dtype)
        return solve_factors(history, fixed, start, self.config.regularization, self.config.alpha, FOLD_IN_CG_STEPS)

    def user_vectors(self, users: UserQuery) -> torch.Tensor:
        """Trained vectors for known users, folded-in vectors for new ones (zero without revealed items)."""
        return known_or_new_vectors(users.index, users.history, self.user_factors,
                                    lambda h: self.fold_in(h, self.item_factors))

    def item_vectors(self, items: ItemQuery) -> torch.Tensor:
        """Trained vectors for known items, folded-in vectors for new ones (zero without revealed users)."""
        return known_or_new_vectors(items.index, items.history, self.item_factors,
                                    lambda h: self.fold_in(h, self.user_factors))

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Dot products of user and item vectors (trained or folded in)."""
        return as_scores(self.user_vectors(users) @ self.item_vectors(items).T)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """User and item factors."""
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Restore user and item factors."""
        self.user_factors, self.item_factors = state["user_factors"], state["item_factors"]
