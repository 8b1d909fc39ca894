"""What a protocol produces: the training part and named evaluation slices with explicit candidate sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class EvalSlice:
    """One evaluation slice: whom to rank for, which items are candidates, and what the model may see.

    `truth`: held-out positives (`user_id`, `item_id`, `weight`, optional `rating`), the items to find.
    `candidate_items`: item ids ranked for every user of the slice (recorded, never implicit).
    `revealed`: interactions of new users/items shown to the model at inference (few-shot), else None.
    `new_users` / `new_items`: whether the slice's users / candidate items are unseen in training.
    """

    name: str
    truth: pd.DataFrame
    candidate_items: np.ndarray
    new_users: bool = False
    new_items: bool = False
    revealed: pd.DataFrame | None = None
    shots: int | None = None
    candidate_rule: str = ""

    @property
    def users(self) -> np.ndarray:
        return self.truth["user_id"].astype(str).unique()


@dataclass
class Split:
    """A seeded, reproducible split of a dataset's positives (and ratings) into train / valid / test slices."""

    protocol: str
    seed: int
    params: dict[str, Any]
    train: pd.DataFrame
    valid: list[EvalSlice]
    test: list[EvalSlice]
    cold_users: list[str] = field(default_factory=list)
    cold_items: list[str] = field(default_factory=list)
    fingerprint: str = ""

    def valid_slice(self, name: str | None = None) -> EvalSlice:
        """The validation slice used for early stopping and tuning (the first one unless named)."""
        if name is None:
            return self.valid[0]
        return next(s for s in self.valid if s.name == name)
