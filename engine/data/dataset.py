"""The canonical in-memory dataset every other part of the engine reads.

Interactions have string ids and, optionally, a numeric rating, unix-second timestamp and event type; item and
user attribute tables are keyed by `item_id` / `user_id` with one column per attribute, each with a declared kind.
How raw feedback turns into positives (rating threshold or event weights) is part of the dataset, so that every
protocol and model sees the same positives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

AttributeKind = Literal["categorical", "multi", "numeric", "date", "text", "ignore"]
ATTRIBUTE_KINDS: tuple[AttributeKind, ...] = ("categorical", "multi", "numeric", "date", "text", "ignore")
MULTI_VALUE_SEPARATOR = "|"


@dataclass(frozen=True)
class Feedback:
    """How interactions become positives.

    explicit: a row is positive when `rating >= positive_threshold`; other rows are kept for RMSE/MAE only.
    implicit: a row's weight is `event_weights[event]` (1.0 when there is no event column); weight <= 0 drops it.
    """

    kind: Literal["explicit", "implicit"] = "implicit"
    positive_threshold: float | None = None
    event_weights: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"kind": self.kind, "positive_threshold": self.positive_threshold, "event_weights": dict(self.event_weights)}

    @classmethod
    def from_json(cls, data: dict) -> "Feedback":
        return cls(
            kind=data.get("kind", "implicit"),
            positive_threshold=data.get("positive_threshold"),
            event_weights=dict(data.get("event_weights") or {}),
        )


@dataclass
class Dataset:
    """Validated interactions plus optional attribute tables, all with string ids.

    `interactions` columns: `user_id`, `item_id` (str) and any of `rating` (float), `timestamp` (int64 unix
    seconds), `event` (str). At most one row per (user, item): duplicates are resolved at intake.
    `items` / `users`: `item_id` / `user_id` plus attribute columns, whose kinds are in `item_kinds` / `user_kinds`.
    """

    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    item_kinds: dict[str, AttributeKind] = field(default_factory=dict)
    user_kinds: dict[str, AttributeKind] = field(default_factory=dict)
    feedback: Feedback = field(default_factory=Feedback)
    name: str = ""

    @property
    def has_ratings(self) -> bool:
        return "rating" in self.interactions.columns

    @property
    def has_timestamps(self) -> bool:
        return "timestamp" in self.interactions.columns

    def positives(self) -> pd.DataFrame:
        """Positive interactions with a `weight` column: what protocols split and models learn from."""
        frame = self.interactions
        if self.feedback.kind == "explicit":
            if "rating" not in frame.columns:
                raise ValueError("explicit feedback needs a rating column")
            threshold = self.feedback.positive_threshold
            keep = frame["rating"] >= threshold if threshold is not None else frame["rating"].notna()
            out = frame.loc[keep].copy()
            out["weight"] = 1.0
        else:
            out = frame.copy()
            if "event" in out.columns and self.feedback.event_weights:
                out["weight"] = out["event"].map(self.feedback.event_weights).fillna(0.0).astype("float64")
            else:
                out["weight"] = 1.0
            out = out.loc[out["weight"] > 0]
        return out.reset_index(drop=True)

    def attribute_kinds(self, side: Literal["user", "item"]) -> dict[str, AttributeKind]:
        return dict(self.user_kinds if side == "user" else self.item_kinds)

    def attribute_table(self, side: Literal["user", "item"]) -> pd.DataFrame | None:
        return self.users if side == "user" else self.items
