"""Content: recommend items whose attributes resemble those of the items a user liked (content-based filtering).

Items are their encoded attributes (TF-IDF text, multi-hot categories, scaled numerics), each kind weighted and
every item vector L2-normalised; a user's profile is the sum of the vectors of the items in their history, so
score(u, j) = sum over liked i of cos(i, j). New items are served from their attributes; a new user without
history gets the profile of the users sharing their attributes (their segment, as in SegmentPopular).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from engine.models._scoring import as_scores, sparse_from_state, sparse_state
from engine.models._similarity import (column_kinds, feature_rows, indicator_columns, l2_normalize_rows,
                                       segment_item_rates, segment_scores)
from engine.models.base import Capabilities, FitContext, ItemQuery, ModelConfig, Recommender, TrainData, UserQuery
from engine.models.search_space import FloatRange


class ContentConfig(ModelConfig):
    """Weights of the attribute kinds, and smoothing of the new-user segment profiles."""

    category_weight: float = Field(1.0, ge=0, title="Category weight",
                                   description="Weight of categorical and multi-valued attributes (genres, tags).")
    text_weight: float = Field(0.5, ge=0, title="Text weight", description="Weight of TF-IDF text attributes.")
    numeric_weight: float = Field(0.5, ge=0, title="Numeric weight",
                                  description="Weight of numeric attributes (z-score and quantile bins).")
    segment_smoothing: float = Field(20.0, ge=0, title="Segment smoothing (new users)",
                                     description="Pseudo-users of global taste mixed into each user segment's profile.")


class ContentRecommender(Recommender):
    """Content-based filtering over the shared attribute encoding."""

    name = "content"
    label = "Content (attributes)"
    family = "content"
    Config = ContentConfig
    capabilities = Capabilities(new_users=True, new_items=True, user_fold_in=True,
                                uses_user_features=True, uses_item_features=True)
    search_space = {"category_weight": FloatRange(0.0, 3.0), "text_weight": FloatRange(0.0, 3.0),
                    "numeric_weight": FloatRange(0.0, 3.0), "segment_smoothing": FloatRange(1.0, 1000.0, log=True)}

    def _fit(self, data: TrainData, context: FitContext) -> None:
        """Weighted, normalised vectors of the training items, and one taste profile per user attribute value."""
        if data.item_features is None:
            raise ValueError("Content needs item attributes and this dataset has none; add an items table "
                             "(genres, tags, descriptions) or choose a collaborative model")
        kinds = column_kinds(data.item_features)
        weight_of = {"category": self.config.category_weight, "text": self.config.text_weight,
                     "numeric": self.config.numeric_weight}
        self.column_weights = torch.tensor([weight_of[k] for k in kinds], dtype=torch.float32)
        # kept in float32, the precision it is saved in, so a loaded model scores identically
        self.train_items = sp.csr_matrix(self._item_vectors(data.item_features.rows(data.item_ids)), dtype=np.float32)
        segments = feature_rows(data.user_features, data.user_ids, indicator_columns(data.user_features))
        rates, global_rate = segment_item_rates(segments, data.matrix, self.config.segment_smoothing)
        self.segment_columns = torch.from_numpy(indicator_columns(data.user_features))
        self.segment_profiles = torch.from_numpy(np.asarray(rates @ self.train_items, dtype=np.float32))
        self.global_profile = torch.from_numpy(np.asarray(global_rate @ self.train_items, dtype=np.float32).ravel())

    def _item_vectors(self, features: sp.spmatrix) -> sp.csr_matrix:
        weighted = sp.csr_matrix(features, dtype=np.float64) @ sp.diags(self.column_weights.numpy().astype(np.float64))
        return l2_normalize_rows(weighted)

    def user_profiles(self, users: UserQuery) -> np.ndarray:
        """History profiles; the segment profile for users without history."""
        history = sp.csr_matrix(users.history, dtype=np.float64)
        profiles = np.asarray((history @ self.train_items).todense())
        empty = np.asarray(history.getnnz(axis=1) == 0)
        if empty.any():
            if users.features is None or self.segment_columns.numel() == 0:
                query = sp.csr_matrix((int(empty.sum()), 0))
            else:
                query = sp.csr_matrix(users.features)[np.flatnonzero(empty)][:, self.segment_columns.numpy()]
            profiles[empty] = segment_scores(query, self.segment_profiles.numpy().astype(np.float64),
                                             self.global_profile.numpy().astype(np.float64))
        return profiles

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Dot product of user profiles with the candidates' attribute vectors (known or new items alike)."""
        if items.features is None:
            raise ValueError("Content needs the candidates' attributes; the item query carries none")
        candidates = self._item_vectors(items.features)
        return as_scores((candidates @ self.user_profiles(users).T).T)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Column weights, training item vectors and the segment profiles."""
        return {"column_weights": self.column_weights, "segment_columns": self.segment_columns,
                "segment_profiles": self.segment_profiles, "global_profile": self.global_profile,
                **sparse_state("train_items", self.train_items)}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Restore column weights, item vectors and segment profiles."""
        self.column_weights, self.segment_columns = state["column_weights"], state["segment_columns"]
        self.segment_profiles, self.global_profile = state["segment_profiles"], state["global_profile"]
        self.train_items = sparse_from_state("train_items", state)
