"""Beyond-accuracy metrics of top-K lists: catalogue coverage, popularity bias, novelty, intra-list diversity.

Definitions (for a user's top K list of candidates, excluded candidates never counted):
- coverage@K: share of the slice's candidates that appear in at least one user's top K (one value per slice);
- popularity@K: mean over the list of an item's training popularity, the share of training users who had it;
- novelty@K: mean over the list of -log2((count + 1) / (n training users + 1)), the item's self-information with
  add-one smoothing, so items never seen in training are finite and the most novel;
- diversity@K: mean pairwise cosine distance (1 - cosine) of the listed items' attribute vectors; an item without
  attributes is at distance 1 from every other. Needs item attributes; lists shorter than 2 give NaN.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch

def candidate_popularity(train_counts: np.ndarray, candidate_index: np.ndarray, n_train_users: int) -> np.ndarray:
    """Training popularity counts of candidates (0 for items new to training)."""
    counts = np.zeros(len(candidate_index), dtype=np.float64)
    known = candidate_index >= 0
    counts[known] = train_counts[candidate_index[known]]
    return counts


def normalized_rows(features: sp.csr_matrix) -> sp.csr_matrix:
    """Attribute rows scaled to unit length (all-zero rows stay zero)."""
    norms = np.sqrt(np.asarray(features.multiply(features).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ features)


def intra_list_diversity(top_items: np.ndarray, listed: np.ndarray, unit_features: sp.csr_matrix) -> np.ndarray:
    """Per-user mean pairwise cosine distance of listed items, via sum_{i != j} cos = |sum v|^2 - sum |v|^2.

    `top_items` (users x K) are candidate positions, `listed` marks the real entries of each list.
    """
    n_users, depth = top_items.shape
    rows = np.repeat(np.arange(n_users), depth)[listed.ravel()]
    cols = top_items.ravel()[listed.ravel()]
    choice = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, unit_features.shape[0]))
    summed = choice @ unit_features
    squared_sum = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
    self_similarity = np.asarray(choice @ np.asarray(unit_features.multiply(unit_features).sum(axis=1))).ravel()
    length = listed.sum(axis=1).astype(np.float64)
    pairs = length * (length - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_similarity = (squared_sum - self_similarity) / pairs
    return np.where(pairs > 0, 1.0 - mean_similarity, np.nan)


def beyond_accuracy(top_positions: torch.Tensor, listed: torch.Tensor, popularity_counts: np.ndarray,
                    n_train_users: int, ks: Sequence[int],
                    unit_features: sp.csr_matrix | None) -> dict[str, np.ndarray]:
    """Per-user popularity, novelty and (with attributes) diversity at each K for a chunk of top lists."""
    positions = top_positions.cpu().numpy()
    real = listed.cpu().numpy()
    share = popularity_counts / max(n_train_users, 1)
    information = -np.log2((popularity_counts + 1.0) / (n_train_users + 1.0))
    out: dict[str, np.ndarray] = {}
    for k in ks:
        cut_positions, cut_listed = positions[:, :k], real[:, :k]
        length = cut_listed.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"popularity@{k}"] = np.where(cut_listed, share[cut_positions], 0).sum(axis=1) / length
            out[f"novelty@{k}"] = np.where(cut_listed, information[cut_positions], 0).sum(axis=1) / length
        if unit_features is not None:
            out[f"diversity@{k}"] = intra_list_diversity(cut_positions, cut_listed, unit_features)
    return out


def coverage(covered: np.ndarray) -> float:
    """Share of candidates recommended to someone (the slice's `covered` flags, accumulated over chunks)."""
    return float(covered.mean()) if len(covered) else float("nan")
