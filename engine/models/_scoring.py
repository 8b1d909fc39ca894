"""Plumbing shared by the non-gradient models: score tensors, sparse state round trips, serving guards, stable hashes.

Kept apart from the maths (`_similarity.py`) so a model file reads as its idea plus a few calls.
"""

from __future__ import annotations

import zlib

import numpy as np
import scipy.sparse as sp
import torch

from engine.core.data import ItemQuery, UserQuery
from engine.core.model import Recommender


def as_scores(values: np.ndarray | sp.spmatrix | torch.Tensor) -> torch.Tensor:
    """A dense float32 CPU tensor, the one shape `Recommender.score` returns."""
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float32).contiguous()
    if sp.issparse(values):
        values = values.toarray()
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def sparse_state(prefix: str, matrix: sp.spmatrix) -> dict[str, torch.Tensor]:
    """A sparse matrix as named CSR tensors, so artifacts stay tensors-only (loadable with weights_only=True)."""
    csr = sp.csr_matrix(matrix, dtype=np.float32)
    csr.sort_indices()
    return {
        f"{prefix}.indptr": torch.from_numpy(csr.indptr.astype(np.int64)),
        f"{prefix}.indices": torch.from_numpy(csr.indices.astype(np.int64)),
        f"{prefix}.data": torch.from_numpy(csr.data.astype(np.float32)),
        f"{prefix}.shape": torch.tensor(csr.shape, dtype=torch.int64),
    }


def sparse_from_state(prefix: str, state: dict[str, torch.Tensor]) -> sp.csr_matrix:
    """Inverse of `sparse_state`."""
    shape = tuple(int(x) for x in state[f"{prefix}.shape"].tolist())
    return sp.csr_matrix(
        (state[f"{prefix}.data"].numpy(), state[f"{prefix}.indices"].numpy(), state[f"{prefix}.indptr"].numpy()),
        shape=shape,
    )


def require_known_items(model: Recommender, items: ItemQuery) -> np.ndarray:
    """The training indices of `items`, or a clear error when some are new and the model cannot score them."""
    if items.is_new.any():
        reason = type(model).cannot_serve(new_users=False, new_items=True,
                                          revealed_items=bool(items.history.nnz))
        raise ValueError(f"{reason or type(model).label + ' cannot score these items'}: "
                         f"{int(items.is_new.sum())} of {len(items)} candidate items were not in training "
                         "(choose a protocol whose candidates are training items)")
    return items.index


def require_known_users(model: Recommender, users: UserQuery) -> np.ndarray:
    """The training indices of `users`, or a clear error when some are new and the model cannot score them."""
    if users.is_new.any():
        reason = type(model).cannot_serve(new_users=True, new_items=False, revealed_users=bool(users.history.nnz))
        raise ValueError(f"{reason or type(model).label + ' cannot score these users'}: "
                         f"{int(users.is_new.sum())} of {len(users)} users were not in training")
    return users.index


def stable_id_hash(ids: np.ndarray) -> np.ndarray:
    """A uint64 per id that is the same in every process (Python's `hash` of str is salted per run)."""
    return np.fromiter((zlib.crc32(str(x).encode()) for x in ids), dtype=np.uint64, count=len(ids))


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: turns structured integers into well-mixed pseudo-random ones, elementwise."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))
