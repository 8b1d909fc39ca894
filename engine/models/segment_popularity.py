"""SegmentPopular: what users sharing your attribute values liked, the classic baseline for new users."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext, ModelConfig, Recommender
from engine.models._scoring import as_scores, require_known_items
from engine.models._similarity import feature_rows, indicator_columns, segment_item_rates, segment_scores


class SegmentPopularityConfig(ModelConfig):
    """How strongly small segments lean on global popularity."""

    smoothing: float = Field(
        20.0, ge=0,
        title="Smoothing (pseudo-users)",
        description="How many users' worth of global popularity is mixed into each segment: larger values pull "
                    "small segments (a rare occupation) towards the global ranking.",
    )


class SegmentPopularityRecommender(Recommender):
    """Each attribute value (gender=F, age bin, occupation=writer, a genre tag...) is a segment with its own item
    popularity; a user's ranking averages the segments they belong to. Known users are ranked by their own
    segments too, so the model never uses a user's history: it is the attribute-only reference."""

    name = "segmentpop"
    label = "SegmentPopular"
    family = "popularity"
    Config = SegmentPopularityConfig
    capabilities = Capabilities(new_users=True, uses_user_features=True)
    search_space = {"smoothing": [0.0, 5.0, 20.0, 100.0, 500.0]}

    def _fit(self, data: TrainData, context: FitContext) -> None:
        """Smoothed item rates per user attribute value, from the training users' positives."""
        columns = indicator_columns(data.user_features)
        segments = feature_rows(data.user_features, data.user_ids, columns)
        rates, global_rate = segment_item_rates(segments, data.matrix, self.config.smoothing)
        self.columns = torch.from_numpy(columns)
        self.rates = torch.from_numpy(rates.astype(np.float32))
        self.global_rate = torch.from_numpy(global_rate.astype(np.float32))

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """The candidates' rates averaged over each user's segments (global popularity without attributes)."""
        item_index = require_known_items(self, items)
        if users.features is None or self.columns.numel() == 0:
            query = sp.csr_matrix((len(users), 0))
        else:
            query = sp.csr_matrix(users.features)[:, self.columns.numpy()]
        rates = self.rates.numpy()[:, item_index].astype(np.float64)
        scores = segment_scores(query, rates, self.global_rate.numpy()[item_index].astype(np.float64))
        return as_scores(scores)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Segment columns used, item rates per segment and the global rates."""
        return {"columns": self.columns, "rates": self.rates, "global_rate": self.global_rate}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Restore segment columns and rates."""
        self.columns, self.rates, self.global_rate = state["columns"], state["rates"], state["global_rate"]
