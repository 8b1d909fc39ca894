"""The canonical in-memory dataset every other part of the engine reads.

Interactions have string ids and, optionally, a numeric rating, unix-second timestamp and event type; item and
user attribute tables are keyed by `item_id` / `user_id` with one column per attribute, each with a declared kind.
How raw feedback turns into positives (rating threshold or event weights) is part of the dataset, so that every
protocol and model sees the same positives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

CountWeight = Literal["log", "capped"]
COUNT_WEIGHTS: tuple[CountWeight, ...] = ("log", "capped")
AttributeKind = Literal["categorical", "multi", "numeric", "date", "text", "ignore"]
ATTRIBUTE_KINDS: tuple[AttributeKind, ...] = ("categorical", "multi", "numeric", "date", "text", "ignore")
MULTI_VALUE_SEPARATOR = "|"


@dataclass(frozen=True)
class Feedback:
    """How interactions become positives.

    explicit: a row is positive when `rating >= positive_threshold`; other rows are kept for RMSE/MAE only.
    implicit: a row's weight is `event_weights[event]` (1.0 when there is no event column); weight <= 0 drops it.
      A `rating` column then holds counts or strengths (plays, views, quantities), never a rating scale: with
      `count_weight` a row weighs `log(1 + count)` ("log") or `min(count, count_cap)` ("capped") times its event
      weight, and rows below `positive_threshold` (default: a count of 0) are not positives. Without `count_weight`
      every row weighs 1 (the column is only a filter). Counts are never used as ratings (no RMSE, no SVD++).
    """

    kind: Literal["explicit", "implicit"] = "implicit"
    positive_threshold: float | None = None
    event_weights: dict[str, float] = field(default_factory=dict)
    count_weight: CountWeight | None = None
    count_cap: float | None = None

    def to_json(self) -> dict:
        data = {"kind": self.kind, "positive_threshold": self.positive_threshold,
                "event_weights": dict(self.event_weights)}
        if self.count_weight is not None:  # older stored datasets keep their fingerprint
            data |= {"count_weight": self.count_weight, "count_cap": self.count_cap}
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Feedback":
        return cls(
            kind=data.get("kind", "implicit"),
            positive_threshold=data.get("positive_threshold"),
            event_weights=dict(data.get("event_weights") or {}),
            count_weight=data.get("count_weight"),
            count_cap=data.get("count_cap"),
        )

    def describe(self) -> str:
        """One line for pages and the CLI: how a row becomes a positive and what it weighs."""
        if self.kind == "explicit":
            threshold = self.positive_threshold
            return "explicit ratings" + (f", positive from {threshold:g}" if threshold is not None else "")
        text = "implicit feedback"
        if self.count_weight == "log":
            text += ", each row weighted by log(1 + count)"
        elif self.count_weight == "capped":
            text += f", each row weighted by its count capped at {self.count_cap:g}"
        if self.positive_threshold is not None:
            text += f", counts from {self.positive_threshold:g}"
        if self.event_weights:
            text += ", event weights " + ", ".join(f"{e} {w:g}" for e, w in self.event_weights.items())
        return text


@dataclass
class Dataset:
    """Validated interactions plus optional attribute tables, all with string ids.

    `interactions` columns: `user_id`, `item_id` (str) and any of `rating` (float: a rating under explicit feedback,
    a count under implicit feedback), `timestamp` (int64 unix seconds), `event` (str). At most one row per (user, item): duplicates are resolved at intake.
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
        """Star ratings (explicit feedback); under implicit feedback a `rating` column holds counts."""
        return self.feedback.kind == "explicit" and "rating" in self.interactions.columns

    @property
    def has_counts(self) -> bool:
        return self.feedback.kind == "implicit" and "rating" in self.interactions.columns

    @property
    def has_timestamps(self) -> bool:
        return "timestamp" in self.interactions.columns

    def positives(self) -> pd.DataFrame:
        """Positive interactions with a `weight` column: what protocols split and models learn from."""
        weights = self.positive_weights()
        keep = weights > 0
        frame = self.interactions
        if self.feedback.kind == "implicit" and "rating" in frame.columns:
            frame = frame.drop(columns="rating")  # counts became the weight
        return frame.loc[keep].assign(weight=weights[keep]).reset_index(drop=True)

    def positive_weights(self) -> np.ndarray:
        """Each interaction's weight as a positive, 0 for rows that are not positives (one value per row, without
        copying the table: intake checks that some row is a positive this way)."""
        frame = self.interactions
        if self.feedback.kind == "explicit":
            if "rating" not in frame.columns:
                raise ValueError("explicit feedback needs a rating column")
            threshold = self.feedback.positive_threshold
            ratings = frame["rating"]
            keep = ratings >= threshold if threshold is not None else ratings.notna()
            return keep.to_numpy(bool).astype(np.float64)
        if "event" in frame.columns and self.feedback.event_weights:
            weights = frame["event"].map(self.feedback.event_weights).fillna(0.0).to_numpy(np.float64)
        else:
            weights = np.ones(len(frame))
        if "rating" in frame.columns:
            weights = weights * self._count_weights(frame["rating"])
        return weights

    def _count_weights(self, counts: pd.Series) -> np.ndarray:
        """Each row's factor from its count under implicit feedback (0 for rows that are not positives)."""
        feedback = self.feedback
        values = counts.to_numpy(np.float64)
        floor = feedback.positive_threshold
        keep = values >= floor if floor is not None else (values > 0 if feedback.count_weight else True)
        if feedback.count_weight == "log":
            factor = np.log1p(np.maximum(values, 0.0))
        elif feedback.count_weight == "capped":
            factor = np.minimum(values, feedback.count_cap if feedback.count_cap is not None else np.inf)
        else:
            factor = np.ones_like(values)
        return np.where(keep, factor, 0.0)

    def attribute_kinds(self, side: Literal["user", "item"]) -> dict[str, AttributeKind]:
        return dict(self.user_kinds if side == "user" else self.item_kinds)

    def attribute_table(self, side: Literal["user", "item"]) -> pd.DataFrame | None:
        return self.users if side == "user" else self.items

    def described_sides(self) -> tuple[str, ...]:
        """The sides ('user', 'item') with at least one attribute a model reads."""
        return described_sides(self.user_kinds, self.item_kinds)


def described_sides(user_kinds: dict[str, str], item_kinds: dict[str, str]) -> tuple[str, ...]:
    """The sides ('user', 'item') with at least one attribute a model reads (not set to 'ignore')."""
    return tuple(side for side, kinds in (("user", user_kinds), ("item", item_kinds))
                 if any(kind != "ignore" for kind in kinds.values()))
