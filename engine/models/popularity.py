"""MostPopular: rank items by how many training users liked them, globally or within a recent time window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext, ModelConfig, Recommender
from engine.models._scoring import as_scores

SECONDS_PER_DAY = 86_400


class PopularityConfig(ModelConfig):
    """MostPopular's one knob: how far back to count."""

    window_days: float | None = Field(
        None, gt=0, title="Recent window (days)",
        description="Count only positives from the last N days of training (needs timestamps); empty = all time.",
    )


class PopularityRecommender(Recommender):
    """The same list for everyone: the items with the most positive training interactions (summed weights).

    New items are scored by their revealed interactions, counted the same way, so few-shot items compete fairly.
    """

    name = "mostpop"
    label = "MostPopular"
    family = "popularity"
    Config = PopularityConfig
    capabilities = Capabilities(new_users=True, item_fold_in=True)
    search_space = {"window_days": [None, 30.0, 90.0, 365.0]}

    def _fit(self, data: TrainData, context: FitContext) -> None:
        """Count positives per item, optionally only those within `window_days` of the latest training event."""
        self.popularity = torch.from_numpy(item_popularity(data, self.config.window_days))

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Each candidate's popularity, repeated for every user."""
        popularity = np.asarray(items.history.sum(axis=1), dtype=np.float64).ravel()
        known = items.index >= 0
        popularity[known] = self.popularity.numpy()[items.index[known]]
        return as_scores(np.broadcast_to(popularity, (len(users), len(items))))

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Popularity per training item."""
        return {"popularity": self.popularity}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Restore popularity per training item."""
        self.popularity = state["popularity"]


def item_popularity(data: TrainData, window_days: float | None) -> np.ndarray:
    """Summed positive weight per training item, within the last `window_days` of training when given."""
    if window_days is None:
        return np.asarray(data.matrix.sum(axis=0), dtype=np.float64).ravel()
    frame = data.interactions
    if "timestamp" not in frame.columns or frame["timestamp"].isna().all():
        raise ValueError("MostPopular: a recent window (window_days) needs interaction timestamps and this "
                         "dataset has none; leave the window empty to count all training positives")
    stamps = pd.to_numeric(frame["timestamp"], errors="coerce").to_numpy(dtype=np.float64)
    recent = stamps >= np.nanmax(stamps) - window_days * SECONDS_PER_DAY
    position = pd.Index(data.item_ids).get_indexer(frame["item_id"].astype(str))
    weight = frame["weight"].to_numpy(dtype=np.float64) if "weight" in frame.columns else np.ones(len(frame))
    return np.bincount(position[recent], weights=weight[recent], minlength=data.n_items).astype(np.float64)
