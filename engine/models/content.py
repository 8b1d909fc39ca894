"""Content: recommend items whose attributes resemble those of the items a user liked (content-based filtering).

Items are their encoded attributes. By default every value of a categorical, multi-valued or text attribute (a
genre, a tag, a word) weighs its inverse document frequency over the catalogue, text counts enter sublinearly, and
values found on too few or too many items are dropped: with a vocabulary of thousands of free tags, a rare shared
tag says far more than "toread" (the vector-space model of Salton and Buckley 1988, here for every attribute, not
text only). Each attribute is scaled to unit length, numerics pass through, each kind is weighted and every item
vector L2-normalised. A user's profile is the weighted sum of the vectors of the items in their history, damped
elementwise and L2-normalised, so a heavy user's hundreds of items neither outweigh nor drown their distinctive
tastes in the values everyone shares. New items are served from their attributes; a new user without history gets
the profile of the users sharing their attributes (their segment, as in SegmentPopular).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.features import FeatureMatrix
from engine.core.model import Capabilities, FitContext, ModelConfig, Recommender
from engine.core.search_space import FloatRange, IntRange
from engine.models._scoring import as_scores, sparse_from_state, sparse_state
from engine.models._similarity import (column_kinds, feature_rows, indicator_columns, l2_normalize_rows,
                                       segment_item_rates, segment_scores, smooth_idf, tfidf_rows)

_KIND_CODES = {"numeric": 0, "category": 1, "text": 2}


class ContentConfig(ModelConfig):
    """Weights of the attribute kinds, how attribute values are weighted, and smoothing of the new-user segments."""

    category_weight: float = Field(1.0, ge=0, title="Category weight",
                                   description="Weight of categorical and multi-valued attributes (genres, tags).")
    text_weight: float = Field(0.5, ge=0, title="Text weight", description="Weight of TF-IDF text attributes.")
    numeric_weight: float = Field(0.5, ge=0, title="Numeric weight",
                                  description="Weight of numeric attributes (z-score and quantile bins).")
    segment_smoothing: float = Field(20.0, ge=0, title="Segment smoothing (new users)",
                                     description="Pseudo-users of global taste mixed into each user segment's profile.")
    weighting: Literal["tfidf", "encoded"] = Field(
        "tfidf", title="Attribute value weighting",
        description="tfidf: each genre, tag or word weighs its inverse document frequency (a rare tag shared with a "
                    "liked item says more than a common one) and each attribute has unit length; encoded: values "
                    "as the shared encoding gives them (an item's k tags weigh 1/k each).")
    sublinear_tf: bool = Field(True, title="Sublinear word counts",
                               description="With tfidf, a word said n times in a text counts 1 + log(n), not n.")
    min_df: int = Field(3, ge=1, title="Fewest items per value",
                        description="Drop attribute values (tags, words, categories) found on fewer items than "
                                    "this: a value on one or two items links them to almost no other.")
    max_df: float = Field(1.0, gt=0, le=1, title="Largest share of items per value",
                          description="Drop attribute values found on more than this share of the items (1: keep "
                                      "all; idf already weighs them down, and with two genres one of them is on "
                                      "most items yet still tells them apart).")
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
    search_space = {"category_weight": FloatRange(0.0, 3.0), "text_weight": FloatRange(0.0, 3.0),
                    "numeric_weight": FloatRange(0.0, 3.0), "segment_smoothing": FloatRange(1.0, 1000.0, log=True),
                    "weighting": ["tfidf", "encoded"], "sublinear_tf": [True, False],
                    "min_df": IntRange(1, 20, log=True), "max_df": FloatRange(0.05, 1.0, log=True),
                    "profile_damping": FloatRange(0.2, 1.0)}

    def _fit(self, data: TrainData, context: FitContext) -> None:
        """Per-column weights from the catalogue's attributes, normalised vectors of the training items, and one
        taste profile per user attribute value."""
        if data.item_features is None:
            raise ValueError("Content needs item attributes and this dataset has none; add an items table "
                             "(genres, tags, descriptions) or choose a collaborative model")
        self._fit_columns(data.item_features)
        # kept in float32, the precision it is saved in, so a loaded model scores identically
        self.train_items = sp.csr_matrix(self._item_vectors(data.item_features.rows(data.item_ids)), dtype=np.float32)
        segments = feature_rows(data.user_features, data.user_ids, indicator_columns(data.user_features))
        rates, global_rate = segment_item_rates(segments, data.matrix, self.config.segment_smoothing)
        self.segment_columns = torch.from_numpy(indicator_columns(data.user_features))
        self.segment_profiles = torch.from_numpy(np.asarray(rates @ self.train_items, dtype=np.float32))
        self.global_profile = torch.from_numpy(np.asarray(global_rate @ self.train_items, dtype=np.float32).ravel())

    def _fit_columns(self, features: FeatureMatrix) -> None:
        """Kind, weight, idf and whether each column is kept, read from the whole catalogue's attributes (known at
        serving time for new items too; no interaction is used)."""
        kinds = column_kinds(features)
        weight_of = {"category": self.config.category_weight, "text": self.config.text_weight,
                     "numeric": self.config.numeric_weight}
        self.column_weights = torch.tensor([weight_of[k] for k in kinds], dtype=torch.float32)
        self.column_kinds = torch.tensor([_KIND_CODES[k] for k in kinds], dtype=torch.int8)
        self.column_field = torch.from_numpy(np.asarray(features.column_field, dtype=np.int64))
        n_items = features.matrix.shape[0]
        df = np.asarray(sp.csr_matrix(features.matrix).getnnz(axis=0))
        terms = self.column_kinds.numpy() != _KIND_CODES["numeric"]
        kept = ~terms | ((df >= self.config.min_df) & (df <= self.config.max_df * n_items))
        self.column_kept = torch.from_numpy(kept)
        self.column_idf = torch.from_numpy(smooth_idf(df, n_items))

    def _item_vectors(self, features: sp.spmatrix) -> sp.csr_matrix:
        kinds, kept = self.column_kinds.numpy(), self.column_kept.numpy()
        if self.config.weighting == "tfidf":
            matrix = tfidf_rows(features, self.column_idf.numpy(), kept, self.column_field.numpy(),
                                kinds == _KIND_CODES["text"], kinds == _KIND_CODES["numeric"], self.config.sublinear_tf)
        else:
            matrix = sp.csr_matrix(features, dtype=np.float64) @ sp.diags(kept.astype(np.float64))
        return l2_normalize_rows(matrix @ sp.diags(self.column_weights.numpy().astype(np.float64)))

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
        candidates = self._item_vectors(items.features)
        return as_scores((candidates @ self.user_profiles(users).T).T)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Per-column weights, training item vectors and the segment profiles."""
        return {"column_weights": self.column_weights, "column_kinds": self.column_kinds,
                "column_field": self.column_field, "column_kept": self.column_kept, "column_idf": self.column_idf,
                "segment_columns": self.segment_columns, "segment_profiles": self.segment_profiles,
                "global_profile": self.global_profile, **sparse_state("train_items", self.train_items)}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Restore per-column weights, item vectors and segment profiles."""
        self.column_weights, self.column_kinds = state["column_weights"], state["column_kinds"]
        self.column_field, self.column_kept, self.column_idf = (state["column_field"], state["column_kept"],
                                                                state["column_idf"])
        self.segment_columns = state["segment_columns"]
        self.segment_profiles, self.global_profile = state["segment_profiles"], state["global_profile"]
        self.train_items = sparse_from_state("train_items", state)
