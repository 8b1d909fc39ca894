"""Content: recommend items whose attributes resemble those of the items a user liked (content-based filtering).

Items are their attribute vectors (`_attribute_vectors`: TF-IDF over every genre, tag or word, unit length per
attribute, weighted by kind). A user's profile is the weighted sum of the vectors of the items in their history, damped
elementwise and L2-normalised, so a heavy user's hundreds of items neither outweigh nor drown their distinctive
tastes in the values everyone shares. New items are served from their attributes; a new user without history gets
the profile of the users sharing their attributes (their segment, as in SegmentPopular).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext, Recommender
from engine.core.search_space import FloatRange
from engine.models._attribute_vectors import ATTRIBUTE_WEIGHTING_SPACE, AttributeVectors, AttributeWeightingConfig
from engine.models._scoring import as_scores, sparse_from_state, sparse_state
from engine.models._similarity import (feature_rows, indicator_columns, l2_normalize_rows, segment_item_rates,
                                       segment_scores)


class ContentConfig(AttributeWeightingConfig):
    """How attribute values are weighted, how user profiles are damped, and smoothing of the new-user segments."""

    segment_smoothing: float = Field(20.0, ge=0, title="Segment smoothing (new users)",
                                     description="Pseudo-users of global taste mixed into each user segment's profile.")
    profile_damping: float = Field(0.5, gt=0, le=1, title="Profile damping (heavy users)",
                                   description="Each entry of a user's summed profile is raised to this power "
                                               "before normalising: 1 is a plain sum, 0.5 a square root, so the "
                                               "values all of a heavy user's items share do not drown the rest.")


class ContentRecommender(Recommender):
    """Content-based filtering over the shared attribute encoding."""

    name = "content"
    label = "Content (attributes)"
    family = "content"
    Config = ContentConfig
    capabilities = Capabilities(new_users=True, new_items=True, user_fold_in=True,
                                uses_user_features=True, uses_item_features=True)
    search_space = {**ATTRIBUTE_WEIGHTING_SPACE, "segment_smoothing": FloatRange(1.0, 1000.0, log=True),
                    "profile_damping": FloatRange(0.2, 1.0)}

    def _fit(self, data: TrainData, context: FitContext) -> None:
        """Per-column weights from the catalogue's attributes, normalised vectors of the training items, and one
        taste profile per user attribute value."""
        if data.item_features is None:
            raise ValueError("Content needs item attributes and this dataset has none; add an items table "
                             "(genres, tags, descriptions) or choose a collaborative model")
        self.vectors = AttributeVectors.fit(data.item_features, self.config)
        # kept in float32, the precision it is saved in, so a loaded model scores identically
        self.train_items = sp.csr_matrix(self.vectors.transform(data.item_features.rows(data.item_ids)),
                                         dtype=np.float32)
        segments = feature_rows(data.user_features, data.user_ids, indicator_columns(data.user_features))
        rates, global_rate = segment_item_rates(segments, data.matrix, self.config.segment_smoothing)
        self.segment_columns = torch.from_numpy(indicator_columns(data.user_features))
        self.segment_profiles = torch.from_numpy(np.asarray(rates @ self.train_items, dtype=np.float32))
        self.global_profile = torch.from_numpy(np.asarray(global_rate @ self.train_items, dtype=np.float32).ravel())

    def user_profiles(self, users: UserQuery) -> sp.csr_matrix:
        """Damped, unit-length history profiles; the segment profile for users without history."""
        history = sp.csr_matrix(users.history, dtype=np.float64)
        profiles = sp.lil_matrix(history @ self.train_items)
        empty = np.asarray(history.getnnz(axis=1) == 0)
        if empty.any():
            if users.features is None or self.segment_columns.numel() == 0:
                query = sp.csr_matrix((int(empty.sum()), 0))
            else:
                query = sp.csr_matrix(users.features)[np.flatnonzero(empty)][:, self.segment_columns.numpy()]
            profiles[np.flatnonzero(empty)] = segment_scores(query, self.segment_profiles.numpy().astype(np.float64),
                                                             self.global_profile.numpy().astype(np.float64))
        damped = sp.csr_matrix(profiles)
        damped.data = np.sign(damped.data) * np.abs(damped.data) ** self.config.profile_damping
        return l2_normalize_rows(damped)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Dot product of user profiles with the candidates' attribute vectors (known or new items alike)."""
        if items.features is None:
            raise ValueError("Content needs the candidates' attributes; the item query carries none")
        candidates = self.vectors.transform(items.features)
        return as_scores((candidates @ self.user_profiles(users).T).T)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Per-column weights, training item vectors and the segment profiles."""
        return {**self.vectors.state_tensors(), "segment_columns": self.segment_columns,
                "segment_profiles": self.segment_profiles, "global_profile": self.global_profile,
                **sparse_state("train_items", self.train_items)}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Restore per-column weights, item vectors and segment profiles."""
        self.vectors = AttributeVectors.from_state(state, self.config)
        self.segment_columns = state["segment_columns"]
        self.segment_profiles, self.global_profile = state["segment_profiles"], state["global_profile"]
        self.train_items = sparse_from_state("train_items", state)
