"""The one negative sampler: (user, positive item, negative items) mini-batches over TrainData.matrix.

Each epoch visits every positive (user, item) pair once in a seeded random order and draws negatives for it,
uniformly or in proportion to (item popularity + 1) ** alpha (word2vec's smoothed unigram; alpha = 0 is uniform).
With `reject_positives`, negatives that happen to be the user's own positives are redrawn (a few vectorised rounds;
the rare survivors of very dense users are kept, as in implicit's BPR).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch

from engine.training import cpu_kernels
from engine.training.batches import check_batch_size

NegativeSampling = Literal["uniform", "popularity"]
_REJECTION_ROUNDS = 10
_DENSE_LOOKUP_MAX_CELLS = 1 << 29
"""Up to this many user x item cells, "is a positive?" is a lookup in a dense table of one bit per cell (at most
64 MB): one memory access per question, where a binary search over the sorted keys makes twenty (a third of a BPR
epoch's time on 1M interactions)."""
_CHUNK_SAMPLES = 1 << 16
"""Positives whose negatives are drawn in one vectorised pass (whole batches of them)."""


class NegativeSampler:
    """Seeded, vectorised triplet batches: (users, positive items, negatives (B, n_negatives), weights)."""

    def __init__(self, matrix: sp.csr_matrix, *, batch_size: int, n_negatives: int = 1,
                 kind: NegativeSampling = "uniform", alpha: float = 0.75, reject_positives: bool = True,
                 seed: int = 0) -> None:
        matrix = sp.csr_matrix(matrix)
        if matrix.nnz == 0:
            raise ValueError("the training part has no positive interactions to sample from")
        if n_negatives < 1:
            raise ValueError(f"n_negatives must be at least 1, got {n_negatives}")
        if kind not in ("uniform", "popularity"):
            raise ValueError(f"unknown negative sampling {kind!r}; use 'uniform' or 'popularity'")
        if alpha < 0:
            raise ValueError(f"popularity alpha must be >= 0, got {alpha}")
        self.batch_size = check_batch_size(batch_size)
        self.n_negatives = n_negatives
        self.kind = kind
        self.reject_positives = reject_positives
        self.seed = seed
        self.n_items = matrix.shape[1]
        # the pairs in the matrix's stored order (tocoo's), without building a COO copy
        self.users = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
        self.items = matrix.indices.astype(np.int64)
        self.weights = matrix.data.astype(np.float32)
        # a dense bit table answers "is this a positive?" in O(1) for catalogues of ordinary size; beyond that, a
        # compiled binary search in the user's own sorted items (a cache line or two; a CSR matrix with sorted
        # indices already holds them, so no sort: 0.22 -> 0.03 CPU s of a 10M set-up), or without
        # numba one vectorised binary search over all sorted (user, item) keys (twenty scattered reads: as long as
        # a BPR step on 10M interactions)
        cells = matrix.shape[0] * matrix.shape[1]
        self._dense_positives: np.ndarray | None = None
        self._positive_keys: np.ndarray | None = None
        self._user_items: tuple[np.ndarray, np.ndarray] | None = None
        if cells <= _DENSE_LOOKUP_MAX_CELLS:
            keys = self.users * self.n_items + self.items
            self._dense_positives = np.zeros(cells // 8 + 1, dtype=np.uint8)
            np.bitwise_or.at(self._dense_positives, keys >> 3, (1 << (keys & 7)).astype(np.uint8))
        elif cpu_kernels.available():
            rows = matrix if matrix.has_sorted_indices else matrix.sorted_indices()
            self._user_items = (rows.indptr.astype(np.int64), rows.indices.astype(np.int64))
        else:
            self._positive_keys = np.sort(self.users * self.n_items + self.items)
        if kind == "popularity":
            popularity = np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.float64)
            self._cumulative = np.cumsum((popularity + 1.0) ** alpha)
            self._cumulative /= self._cumulative[-1]
        else:
            self._cumulative = None

    def n_batches(self) -> int:
        return -(-len(self.users) // self.batch_size)

    def n_samples(self) -> int:
        return len(self.users)

    def log_probabilities(self) -> np.ndarray:
        """Log of each item's probability of being drawn as a negative (the noise distribution of word2vec)."""
        if self._cumulative is None:
            return np.full(self.n_items, -np.log(self.n_items))
        return np.log(np.diff(self._cumulative, prepend=0.0))

    def draw(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        """Item indices drawn from the sampling distribution (no rejection)."""
        if self._cumulative is None:
            return rng.integers(0, self.n_items, size=size, dtype=np.int64)
        picks = np.searchsorted(self._cumulative, rng.random(size=size), side="right")
        return np.minimum(picks, self.n_items - 1).astype(np.int64)

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Whether each (user, item) pair (broadcast) is a training positive."""
        if self._user_items is not None:
            users, items = np.broadcast_arrays(users, items)
            starts, user_items = self._user_items
            found = cpu_kernels.in_sorted_rows(starts, user_items, np.ascontiguousarray(users, dtype=np.int64).ravel(),
                                               np.ascontiguousarray(items, dtype=np.int64).ravel())
            return found.reshape(users.shape)
        if self._dense_positives is not None and cpu_kernels.available():
            users, items = np.broadcast_arrays(users, items)
            found = cpu_kernels.in_bit_table(self._dense_positives, self.n_items,
                                             np.ascontiguousarray(users, dtype=np.int64).ravel(),
                                             np.ascontiguousarray(items, dtype=np.int64).ravel())
            return found.reshape(users.shape)
        keys = users * self.n_items + items
        if self._dense_positives is not None:
            return ((self._dense_positives[keys >> 3] >> (keys & 7).astype(np.uint8)) & 1) == 1
        at = np.searchsorted(self._positive_keys, keys)
        at = np.minimum(at, len(self._positive_keys) - 1)
        return self._positive_keys[at] == keys

    def negatives_for(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(len(users), n_negatives) negative items for these users."""
        negatives = self.draw(rng, (len(users), self.n_negatives))
        if not self.reject_positives:
            return negatives
        owners = np.broadcast_to(users[:, None], negatives.shape).reshape(-1)
        flat = negatives.reshape(-1)
        suspects = np.flatnonzero(self.is_positive(owners, flat))
        # each round redraws the slots that hit a positive and re-checks only those
        for _ in range(_REJECTION_ROUNDS):
            if not len(suspects):
                break
            flat[suspects] = self.draw(rng, len(suspects))
            suspects = suspects[self.is_positive(owners[suspects], flat[suspects])]
        return negatives

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """Batches of (users, positives, negatives, weights) covering every positive once.

        Negatives are drawn for a chunk of many batches in one vectorised pass, then cut into batches: per batch,
        numpy's call overheads would cost as much as a compiled training step; chunks bound the memory.
        """
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.users))
        chunk = self.batch_size * max(1, _CHUNK_SAMPLES // self.batch_size)
        for chunk_start in range(0, len(order), chunk):
            rows = order[chunk_start:chunk_start + chunk]
            users, items, weights = self.users[rows], self.items[rows], self.weights[rows]
            negatives = self.negatives_for(users, rng)
            for start in range(0, len(rows), self.batch_size):
                batch = slice(start, start + self.batch_size)
                yield (torch.from_numpy(users[batch]), torch.from_numpy(items[batch]),
                       torch.from_numpy(negatives[batch]), torch.from_numpy(weights[batch]))
