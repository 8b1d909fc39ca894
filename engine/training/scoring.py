"""Batched scoring shared by the gradient models: dot products and pairwise networks, chunked to bound memory."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

_MAX_PAIRS_PER_CHUNK = 1 << 18


def index_tensor(index: np.ndarray, device: torch.device) -> torch.Tensor:
    """A query's training indices as a LongTensor on the model's device."""
    return torch.as_tensor(np.asarray(index, dtype=np.int64), device=device)


def dot_scores(user_vectors: torch.Tensor, item_vectors: torch.Tensor,
               item_bias: torch.Tensor | None = None) -> torch.Tensor:
    """(n_users, n_items) = U @ V.T (+ item bias), as the float32 CPU tensor `Recommender.score` returns."""
    scores = user_vectors.float() @ item_vectors.float().T
    if item_bias is not None:
        scores = scores + item_bias.float().unsqueeze(0)
    return scores.cpu()


def pairwise_scores(n_users: int, n_items: int, score_rows: Callable[[slice], torch.Tensor]) -> torch.Tensor:
    """Scores of every (user, item) pair for networks that cannot factor into a dot product (NeuMF, DeepFM).

    `score_rows(rows)` returns the (len(rows), n_items) block for a slice of the users; blocks are sized so one
    block holds about a quarter of a million pairs (a few hundred MB of activations at most), whatever the
    catalogue size.
    """
    out = torch.empty((n_users, n_items), dtype=torch.float32)
    rows_per_chunk = max(1, _MAX_PAIRS_PER_CHUNK // max(n_items, 1))
    for start in range(0, n_users, rows_per_chunk):
        rows = slice(start, min(start + rows_per_chunk, n_users))
        out[rows] = score_rows(rows).float().cpu()
    return out


def require_known(index: np.ndarray, what: str, label: str, why: str) -> None:
    """Refuse a query holding entities unseen in training, for models that cannot score them."""
    new = int((np.asarray(index) < 0).sum())
    if new:
        raise ValueError(f"{label} cannot score {new} of {len(index)} {what} that were not in training: {why}")
