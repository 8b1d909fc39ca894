"""The one top-k every ranking uses (the evaluator, Explore, the serving API): best score first, and among tied
scores the candidate that comes first in the order the candidates were given.

`torch.topk` alone returns tied candidates in an order that depends on k, the row length and the kernel, so a
top-10 was not always the start of the top-20 and two callers ranking the same scores could disagree. With this
rule the order of the candidates is the tie-break; callers put candidates in the seeded order of
`engine.metrics.ranking.candidate_order`, so a model that scores items equal ranks them at random, reproducibly.
"""

from __future__ import annotations

import torch


def top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best (scores, candidate positions) of each row of `scores` (users x candidates), best first, ties in
    candidate order; k is capped at the number of candidates. NaN ranks as -inf (last), never first."""
    n = scores.shape[1]
    k = min(k, n)
    if torch.isnan(scores.sum()):  # one reduction: NaN (or +inf with -inf, harmlessly) anywhere
        scores = scores.nan_to_num(nan=-torch.inf, posinf=torch.inf, neginf=-torch.inf)
    # one more than asked: a row whose (k+1)-th score equals its k-th has tied candidates left out, chosen by the
    # kernel, not by candidate order (only those rows pay for a second pass)
    values, positions = torch.topk(scores, min(k + 1, n), dim=1)
    repeated = values[:, 1:] == values[:, :-1]
    if not bool(repeated.any()):  # no tie reaches the list: the kernel's order is the rule's (the common case)
        return values[:, :k], positions[:, :k]
    crowded = torch.nonzero(repeated[:, k - 1]).squeeze(1) if k < n else positions[:0, 0]
    values, positions = values[:, :k], positions[:, :k]
    if len(crowded):
        threshold = values[crowded, k - 1:]
        room = (values[crowded] == threshold).sum(dim=1)  # places the candidates tied at the k-th score share
        earlier_first = torch.arange(n, 0, -1, device=scores.device)  # a larger key for an earlier candidate
        earliest = torch.topk(torch.where(scores[crowded] == threshold, earlier_first, 0), int(room.max()),
                              dim=1).indices
        tail = torch.arange(k, device=scores.device) - (k - room).unsqueeze(1)  # index among the tied places
        positions[crowded] = torch.where(tail >= 0, earliest.gather(1, tail.clamp(min=0)), positions[crowded])
    positions = torch.sort(positions, dim=1).values
    kept = scores.gather(1, positions)
    order = torch.sort(kept, dim=1, descending=True, stable=True).indices
    return kept.gather(1, order), positions.gather(1, order)
