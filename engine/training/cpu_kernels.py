"""Compiled CPU training steps for the factorization models (numba), the speed of implicit's and LightFM's loops.

On a CPU, a batch of BPR triplets is a few hundred thousand multiply-adds; dispatching them as a dozen torch
operations over (batch, negatives, factors) temporaries costs several times that, and an optimizer step over whole
tables more still. `bpr_lazy_adam_step` does the same batch update in one pass: the gradient of the batch loss
(`BPRRecommender`'s objective, as `MatrixFactorization.bpr_gradients` writes it for the torch path) accumulated
per touched row, then lazy Adam (torch's SparseAdam, to the float) on those rows only. The torch path stays the
reference and the GPU path; tests assert both take the same step.

numba compiles on first use (cached on disk afterwards); without numba, models train on the torch path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

try:
    import numba
except ImportError:  # the torch path trains without it
    numba = None


def available() -> bool:
    """Whether the compiled kernels can run here (numba is installed)."""
    return numba is not None


@dataclass
class LazyAdamTable:
    """One embedding table with the Adam moments of its rows and a gradient scratch, as numpy views.

    The views share memory with the torch weight, so the kernel's in-place updates are the module's weights.
    `uses` counts each row's lookups in the current batch (0: untouched), for lazy Adam and the L2 penalty.
    """

    weight: np.ndarray
    first: np.ndarray
    second: np.ndarray
    grad: np.ndarray
    uses: np.ndarray

    @classmethod
    def of(cls, weight: torch.Tensor) -> "LazyAdamTable":
        """Views of a CPU float32 weight (2-d: rows x columns) plus zeroed moments and scratch."""
        array = weight.detach().numpy()
        return cls(array, np.zeros_like(array), np.zeros_like(array), np.zeros_like(array),
                   np.zeros(len(array), dtype=np.float32))

    def apply(self, rows: np.ndarray, optimizer: "LazyAdam", step_size: np.float32, decay: float) -> float:
        """Lazy Adam on the batch's rows (each once), with `decay` * uses * row added to their gradient (the L2
        penalty of every lookup); returns the penalty's sum of uses * squared row norm, before the update."""
        beta1, beta2 = (np.float32(beta) for beta in optimizer.betas)
        return _adam_rows(rows, self.weight, self.first, self.second, self.grad, self.uses, beta1, beta2,
                          np.float32(optimizer.eps), step_size, np.float32(decay))


class LazyAdam:
    """SparseAdam's rule for the tables a kernel updates: step count, betas, epsilon, learning rate."""

    def __init__(self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.lr, self.betas, self.eps = lr, betas, eps
        self.step = 0

    def next_step_size(self) -> float:
        """lr * sqrt(1 - beta2^t) / (1 - beta1^t) for the next step t, as torch's SparseAdam computes it."""
        self.step += 1
        beta1, beta2 = self.betas
        return self.lr * math.sqrt(1 - beta2 ** self.step) / (1 - beta1 ** self.step)


def _compile(function):
    # error_model="numpy": a float division by zero gives inf/nan instead of raising, so numba drops the per-element
    # zero test that kept LLVM from vectorising Adam's m / (sqrt(v) + eps) (3x faster on the batch's rows)
    if numba is None:
        return function
    return numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")(function)


@_compile
def _adam_rows(rows, weight, first, second, grad, uses, beta1, beta2, eps, step_size, decay):
    """Lazy Adam on each distinct row of `rows` (those with uses > 0), the L2 gradient added; clears the row's
    gradient and uses. The scalars come as float32, so the arithmetic stays in float32 (as torch's)."""
    keep1 = np.float32(1) - beta1
    keep2 = np.float32(1) - beta2
    penalty = np.float32(0)
    for r in rows:
        count = uses[r]
        if count == 0:
            continue
        uses[r] = 0
        w, m, v, g = weight[r], first[r], second[r], grad[r]
        norm = np.float32(0)
        for c in range(len(w)):
            norm += w[c] * w[c]
        penalty += count * norm
        shrink = decay * count
        # separate simple loops vectorise; one loop doing everything does not
        for c in range(len(w)):
            gradient = g[c] + shrink * w[c]
            m[c] = m[c] * beta1 + gradient * keep1
            v[c] = v[c] * beta2 + gradient * gradient * keep2
            w[c] = w[c] - step_size * m[c] / (np.sqrt(v[c]) + eps)
        for c in range(len(w)):
            g[c] = 0
    return float(penalty)


@_compile
def _bpr_gradients(users, items, p, q, b, gp, gq, gb, user_uses, item_uses):
    """Accumulate the batch's BPR gradient into the scratch rows and count each row's lookups; returns the loss
    (the L2 penalty is added row by row in `_adam_rows`)."""
    batch, width = items.shape
    n_pairs = batch * (width - 1)
    dim = p.shape[1]
    loss = 0.0
    for s in range(batch):
        u = users[s]
        i = items[s, 0]
        user_uses[u] += 1
        item_uses[i] += 1
        pu, gpu, qi, gqi = p[u], gp[u], q[i], gq[i]
        positive = b[i, 0]
        for c in range(dim):
            positive += pu[c] * qi[c]
        for k in range(1, width):
            j = items[s, k]
            item_uses[j] += 1
            qj, gqj = q[j], gq[j]
            negative = b[j, 0]
            for c in range(dim):
                negative += pu[c] * qj[c]
            x = float(positive - negative)
            # -log sigmoid(x), stably, and its slope -sigmoid(-x), weighed by 1 / (number of pairs)
            loss += (math.log1p(math.exp(-x)) if x > 0 else -x + math.log1p(math.exp(x))) / n_pairs
            z = np.float32(1.0 / (1.0 + math.exp(x)) / n_pairs)
            for c in range(dim):
                gpu[c] -= z * (qi[c] - qj[c])
                gqi[c] -= z * pu[c]
                gqj[c] += z * pu[c]
            gb[i, 0] -= z
            gb[j, 0] += z
    return loss


class BPRLazyAdamStep:
    """One compiled BPR step with lazy Adam on the rows of the batch, for `train` (a `FusedStep`)."""

    def __init__(self, user_factors: torch.Tensor, item_factors: torch.Tensor, item_bias: torch.Tensor,
                 l2: float, optimizer: LazyAdam) -> None:
        self.users = LazyAdamTable.of(user_factors)
        self.items = LazyAdamTable.of(item_factors)
        self.bias = LazyAdamTable.of(item_bias)
        self.l2 = l2
        self.optimizer = optimizer

    def __call__(self, batch: tuple[torch.Tensor, ...]) -> float:
        users, positives, negatives, _ = batch
        users = users.numpy()
        items = np.concatenate([positives.numpy()[:, None], negatives.numpy()], axis=1)
        loss = _bpr_gradients(users, items, self.users.weight, self.items.weight, self.bias.weight,
                              self.users.grad, self.items.grad, self.bias.grad, self.users.uses, self.items.uses)
        flat = items.reshape(-1)
        self.bias.uses[flat] = 1  # a bias row is looked up with its item row (and carries no L2 penalty)
        step_size = np.float32(self.optimizer.next_step_size())
        decay = 2.0 * self.l2 / len(users)
        penalty = self.users.apply(users, self.optimizer, step_size, decay)
        penalty += self.items.apply(flat, self.optimizer, step_size, decay)
        self.bias.apply(flat, self.optimizer, step_size, 0.0)
        return float(loss) + self.l2 * penalty / len(users)
