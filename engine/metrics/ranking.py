"""Accuracy of full rankings, per user, vectorised over a chunk of users in torch.

Inputs for a chunk: `scores` (users x candidates; -inf marks an excluded candidate, such as an item the user had in
training) and `relevant` (same shape; True for held-out positives). Definitions, with rel_r the relevance of the item
at rank r (1-based) of the top K and P the user's number of relevant candidates:
- recall@K = sum rel_r / P; precision@K = sum rel_r / K; hit@K = 1 if any rel_r;
- ndcg@K = sum rel_r / log2(r + 1) divided by the ideal DCG over min(P, K) relevant items (binary gains);
- map@K = sum_r rel_r * precision@r / min(P, K); mrr@K = 1 / (rank of the first relevant item), 0 if none in K;
- auc: the probability that a relevant candidate outscores a non-relevant one, ties counting one half.
Users with P = 0 get NaN (excluded and counted by the caller).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from engine.protocols.common import rng_for

AT_K_METRICS = ("recall", "ndcg", "hit", "precision", "map", "mrr")


def candidate_order(candidate_ids: Sequence, seed: int, name: str) -> np.ndarray:
    """The candidates in the seeded order every ranking scores them in (the evaluator's slices, Explore's lists).

    `top_k` (`engine.core.ranking`) keeps the earlier of tied candidates, so this order is the tie-break: a model
    that scores items equal ranks them at random, reproducibly for a seed and slice `name`, never in id order.
    """
    return rng_for(seed, f"candidate-order:{name}").permutation(np.asarray(candidate_ids, dtype=object))


def at_k_metrics(top_relevant: torch.Tensor, n_relevant: torch.Tensor, ks: Sequence[int]) -> dict[str, torch.Tensor]:
    """Metrics at each K from the relevance of the ranked top max(K) (users x max K, bool) and P per user."""
    n_users, depth = top_relevant.shape
    device = top_relevant.device
    rel = top_relevant.to(torch.float64)
    ranks = torch.arange(1, depth + 1, device=device, dtype=torch.float64)
    discounts = 1.0 / torch.log2(ranks + 1.0)
    hits = rel.cumsum(dim=1)
    dcg = (rel * discounts).cumsum(dim=1)
    ideal = discounts.cumsum(dim=0)
    precision_at_rank = hits / ranks
    ap_sum = (rel * precision_at_rank).cumsum(dim=1)
    # first relevant rank; depth + 1 when there is none in the list
    first = torch.where(rel > 0, ranks, torch.full_like(ranks, depth + 1.0)).min(dim=1).values
    positives = n_relevant.to(torch.float64)
    undefined = positives == 0
    names: list[str] = []
    columns: list[torch.Tensor] = []
    for k in ks:
        cut = min(k, depth) - 1
        if cut < 0:
            raise ValueError("ranking metrics need at least one candidate")
        n_ideal = torch.clamp(torch.minimum(positives, torch.tensor(float(k), device=device)), min=1)
        ideal_dcg = ideal[(n_ideal.long() - 1).clamp(max=depth - 1)]
        values = {
            "recall": hits[:, cut] / positives.clamp(min=1),
            "ndcg": dcg[:, cut] / ideal_dcg,
            "hit": (hits[:, cut] > 0).to(torch.float64),
            "precision": hits[:, cut] / float(k),
            "map": ap_sum[:, cut] / n_ideal,
            "mrr": torch.where(first <= k, 1.0 / first, torch.zeros_like(first)),
        }
        names += [f"{metric}@{k}" for metric in AT_K_METRICS]
        columns += [values[metric] for metric in AT_K_METRICS]
    # one masking pass for all metrics: users without a relevant candidate are undefined
    stacked = torch.stack(columns).masked_fill(undefined.unsqueeze(0), float("nan"))
    return dict(zip(names, stacked.unbind(0)))


def sorted_rows(scores: torch.Tensor) -> torch.Tensor:
    """Each row sorted ascending. On CPU NumPy's vectorised sort is an order of magnitude faster than torch's."""
    if scores.device.type == "cpu":
        return torch.from_numpy(np.sort(scores.numpy(), axis=1))
    return torch.sort(scores, dim=1).values


def auc_per_user(scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """Per-user AUC over the non-excluded candidates (Mann-Whitney U with mid-ranks for ties); NaN without a
    relevant or without a non-relevant candidate. `relevant` is a users x candidates boolean matrix."""
    rows, cols = (relevant & ~torch.isneginf(scores)).nonzero(as_tuple=True)
    return auc_from_positions(scores, rows, cols)


def auc_from_positions(scores: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """`auc_per_user` from the (user, candidate) positions of the relevant, non-excluded candidates.

    One sort per row; each relevant score's mid-rank among the non-excluded candidates comes from two binary
    searches, and excluded candidates (-inf) sort first, so their count is one more binary search.
    """
    device = scores.device
    n_users, n_candidates = scores.shape
    nan = torch.full((n_users,), float("nan"), dtype=torch.float64, device=device)
    if len(rows) == 0:
        return nan
    order = torch.argsort(rows, stable=True)
    rows, cols = rows[order], cols[order]
    n_pos = torch.bincount(rows, minlength=n_users)
    sorted_scores = sorted_rows(scores)
    n_excluded = torch.searchsorted(sorted_scores, torch.full((n_users, 1), float("-inf"), device=device,
                                                              dtype=scores.dtype), right=True)
    n_neg = n_candidates - n_excluded.squeeze(1) - n_pos
    # pack each user's relevant scores to the left of a (users x max P) matrix; `present` marks the real entries
    slot = torch.arange(len(rows), device=device) - torch.repeat_interleave(torch.cumsum(n_pos, 0) - n_pos, n_pos)
    width = int(n_pos.max().item())
    packed = torch.zeros((n_users, width), dtype=scores.dtype, device=device)
    packed[rows, slot] = scores[rows, cols]
    present = torch.zeros(packed.shape, dtype=torch.bool, device=device)
    present[rows, slot] = True
    below = (torch.searchsorted(sorted_scores, packed, right=False) - n_excluded).to(torch.float64)
    through = (torch.searchsorted(sorted_scores, packed, right=True) - n_excluded).to(torch.float64)
    mid_rank = below + (through - below + 1.0) / 2.0
    rank_sum = torch.where(present, mid_rank, torch.zeros_like(mid_rank)).sum(dim=1)
    n_pos_f, n_neg_f = n_pos.to(torch.float64), n_neg.to(torch.float64)
    auc = (rank_sum - n_pos_f * (n_pos_f + 1.0) / 2.0) / (n_pos_f * n_neg_f)
    return torch.where((n_pos == 0) | (n_neg == 0), nan, auc)
