"""The items that set each user's scale when auto blends models: a fixed sample of the catalogue, not the query.

A blend sums its models' scores after putting them on one scale per user (z-scores: centred by the user's mean
score, divided by its spread). Measured over the items of the query, a score would depend on which other items
were asked about: one item scored for every user (a new item's audience) is every user's mean, so every score is
0 and the audience comes out in id order, and re-ranking a shortlist would reorder items the full ranking orders
otherwise. Measured over a fixed reference set of training items, the score of a user and an item is the same
whatever else is asked. New items are referred to training items presented as new (attributes only), since
models score those on another scale; known and few-shot items to training items as they are (a model that folds a
few-shot item in from its revealed interactions scores items presented with none all alike). The reference is the
whole catalogue up to `REFERENCE_ITEMS` (a full-catalogue ranking then scales exactly as before), else a seeded
sample of that size, which estimates a user's mean and spread to within a few percent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from engine.core.data import ItemQuery, TrainData
from engine.data.indexing import item_query
from engine.models._scoring import sparse_from_state, sparse_state

REFERENCE_ITEMS = 2_000


@dataclass(frozen=True)
class ScaleReference:
    """Training items as known (ids, training columns, attributes); `as_new` gives them as new items."""

    known: ItemQuery

    @classmethod
    def sample(cls, data: TrainData, seed: int) -> "ScaleReference":
        """The whole catalogue, or `REFERENCE_ITEMS` of it drawn with `seed`, in catalogue order."""
        positions = np.arange(data.n_items)
        if data.n_items > REFERENCE_ITEMS:
            positions = np.sort(np.random.default_rng([seed, 3]).choice(data.n_items, REFERENCE_ITEMS, replace=False))
        return cls(item_query(data, data.item_ids[positions]))

    @property
    def as_new(self) -> ItemQuery:
        """The same items as a model meets items it never saw in training: attributes, no index, no history."""
        return ItemQuery(self.known.ids, np.full(len(self.known), -1, dtype=np.int64),
                         sp.csr_matrix(self.known.history.shape, dtype=np.float32), self.known.features)

    def for_items(self, new_items: bool) -> ItemQuery:
        """The reference for a query of new items, or of known and few-shot ones."""
        return self.as_new if new_items else self.known

    def state_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """Its items' training positions, training columns and attributes, as tensors."""
        state = {f"{prefix}.index": torch.from_numpy(self.known.index), **sparse_state(f"{prefix}.history",
                                                                                      self.known.history)}
        if self.known.features is not None:
            state.update(sparse_state(f"{prefix}.features", self.known.features))
        return state

    @classmethod
    def from_state(cls, prefix: str, state: dict[str, torch.Tensor], item_ids: np.ndarray) -> "ScaleReference | None":
        """Inverse of `state_tensors`, for a model whose training items are `item_ids`; None for a model saved
        without a reference (one that never blends needs none)."""
        if f"{prefix}.index" not in state:
            return None
        index = state[f"{prefix}.index"].numpy().astype(np.int64)
        features = sparse_from_state(f"{prefix}.features", state) if f"{prefix}.features.shape" in state else None
        return cls(ItemQuery(np.asarray(item_ids, dtype=object)[index], index,
                             sparse_from_state(f"{prefix}.history", state), features))


def same_items(items: ItemQuery, reference: ItemQuery) -> bool:
    """Whether a query asks about exactly the reference's items, in its order and as new or known alike."""
    return len(items) == len(reference) and np.array_equal(items.is_new, reference.is_new) \
        and np.array_equal(items.ids, reference.ids)


def per_user_z(scores: torch.Tensor, reference_scores: torch.Tensor) -> torch.Tensor:
    """`scores` centred and scaled per user by the mean and spread of that user's `reference_scores` (a user whose
    reference scores are all equal is only centred)."""
    reference = reference_scores.detach().to("cpu", torch.float64)
    mean = reference.mean(dim=1, keepdim=True)
    spread = reference.std(dim=1, unbiased=False, keepdim=True)
    spread = torch.where(spread > 1e-12, spread, torch.ones_like(spread))
    return (scores.detach().to("cpu", torch.float64) - mean) / spread
