"""Fold-in: a vector for a user (or item) unseen in training from a few revealed interactions, the rest fixed.

Like implicit's "recalculate user", but for ranking losses: the new rows are fitted by a few full-batch BPR steps
against the fixed factors of the other side, so no retraining of the model is needed at inference.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from engine.training.feature_modules import take_rows
from engine.training.losses import bpr_loss


def known_or_new_vectors(index: np.ndarray, history: sp.spmatrix, trained: torch.Tensor,
                         new_vectors: Callable[[sp.csr_matrix], torch.Tensor]) -> torch.Tensor:
    """A query's vectors: the row of `trained` for each entity known in training (index >= 0) and, for the new
    ones (index -1), `new_vectors` of their history rows (revealed interactions), in query order.

    The one assembly of "known or new" for every model that folds entities in (ALS's least-squares fold-in, BPR's
    ranking fold-in, the backbone specialists' history mean); on `trained`'s device and dtype.
    """
    index = np.asarray(index)
    device = trained.device
    out = torch.zeros((len(index), trained.shape[1]), dtype=trained.dtype, device=device)
    known = np.flatnonzero(index >= 0)
    if len(known):
        out[torch.as_tensor(known, device=device)] = trained.detach()[torch.as_tensor(index[known], device=device)]
    new = np.flatnonzero(index < 0)
    if len(new):
        out[torch.as_tensor(new, device=device)] = new_vectors(sp.csr_matrix(history)[new]).to(out)
    return out


def average_where_unrevealed(vectors: torch.Tensor, revealed: sp.spmatrix, trained: torch.Tensor) -> torch.Tensor:
    """`vectors` (one per new entity) with the rows of those that revealed nothing set, in place, to the average of
    `trained`: what a map from attributes with its intercept alone predicts, where a zero vector would tie every
    candidate."""
    empty = torch.from_numpy(sp.csr_matrix(revealed).getnnz(axis=1) == 0).to(vectors.device)
    vectors[empty] = trained.mean(dim=0).to(vectors)
    return vectors


def fold_in_vectors(history: sp.csr_matrix, fixed: torch.Tensor, fixed_bias: torch.Tensor | None = None, *,
                    steps: int = 50, lr: float = 0.05, l2: float = 0.01, n_negatives: int = 8,
                    seed: int = 0) -> torch.Tensor:
    """(n_rows, dim) vectors x minimising BPR of each revealed pair over sampled negatives: x.(f_pos - f_neg).

    `history` is n_rows x len(fixed) (revealed interactions, by position in `fixed`); rows without any stay zero,
    so a model scores them by its biases alone. `fixed_bias` is added to the fixed side's scores when it has one.
    """
    history = sp.csr_matrix(history)
    device = fixed.device
    fixed = fixed.detach().float()
    bias = fixed_bias.detach().float() if fixed_bias is not None else torch.zeros(len(fixed), device=device)
    vectors = torch.zeros((history.shape[0], fixed.shape[1]), device=device)
    coo = history.tocoo()
    if coo.nnz == 0:
        return vectors
    rows = torch.as_tensor(coo.row.astype(np.int64), device=device)
    positives = torch.as_tensor(coo.col.astype(np.int64), device=device)
    # scoring runs under no_grad (validation, evaluation), yet fitting the new rows needs gradients
    with torch.enable_grad():
        vectors.requires_grad_(True)
        optimizer = torch.optim.Adam([vectors], lr=lr)
        generator = torch.Generator(device=device).manual_seed(seed)
        for _ in range(steps):
            negatives = torch.randint(0, len(fixed), (len(rows), n_negatives), generator=generator, device=device)
            row_vectors = take_rows(vectors, rows)
            positive = (row_vectors * fixed[positives]).sum(dim=1) + bias[positives]
            negative = torch.einsum("bd,bnd->bn", row_vectors, fixed[negatives]) + bias[negatives]
            loss = bpr_loss(positive, negative) + l2 * row_vectors.pow(2).sum(dim=1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return vectors.detach()
