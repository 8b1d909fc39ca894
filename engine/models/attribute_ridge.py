"""Attribute ridge: closed-form linear maps from attributes to interactions, for new items and new users alike.

New items: each user's taste is a ridge regression of their interactions on the training items' attributes, solved
for every user at once through one shared Gram matrix, w_u = (FᵀF + λI)⁻¹ Fᵀ r_u, and a candidate scores f·w_u.
Unlike a cosine profile it learns from what a user passed over too (attributes on many items but few of the user's
get negative weight) and discounts attributes that always come together. A few pseudo-users of the catalogue's
average taste are added to every history, so a light user leans on what everyone likes (hierarchical shrinkage).
New users: the interactions of a user are regressed on user attributes plus an intercept, W = (AᵀA + λI)⁻¹ AᵀR, so
a new user gets the items their attribute values predict, and popularity without attributes. It is the
attribute-only linear model of the closed-form family of EASE (Steck 2019) with side information (Jeunen, Van Balen
and Goethals, "Closed-form models for collaborative filtering with side-information", RecSys 2020), one solve per
side. Vocabularies of thousands of tags are first reduced to their leading singular directions, so the solve stays
small whatever the vocabulary. Items enter as the attribute vectors content compares (`_attribute_vectors`), so
the weighting of attribute kinds and values is searched the same way for both.
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
from engine.models._similarity import feature_rows


SVD_SAMPLE_ROWS = 4096
"""Items read to find the leading attribute directions of a wide vocabulary: enough to span 1,024 directions."""


class AttributeRidgeConfig(AttributeWeightingConfig):
    """Attribute weighting, regularisation of the two regressions, the pull towards average taste, and the attribute dimensions kept."""

    item_l2: float = Field(10.0, gt=0, title="Regularisation (item attributes)",
                           description="Ridge penalty of each user's regression on item attributes, relative to the "
                                       "attributes' mean energy: larger trusts each user's history less.")
    user_l2: float = Field(1.0, gt=0, title="Regularisation (user attributes)",
                           description="Ridge penalty of the items' regression on user attributes, relative to the "
                                       "attributes' mean energy.")
    average_taste: float = Field(0.0, ge=0, title="Average taste (pseudo-users)",
                                 description="How many users' worth of the catalogue's average taste is added to "
                                             "every history: light users lean on what everyone likes.")
    max_dimensions: int = Field(512, ge=8, le=4096, title="Attribute dimensions kept",
                                description="Item attributes with more columns than this (large tag vocabularies, "
                                            "text) are first reduced to this many leading singular directions.")


class AttributeRidgeRecommender(Recommender):
    """Users' tastes regressed on item attributes, and items' audiences regressed on user attributes."""

    name = "attrridge"
    label = "Attribute ridge"
    family = "content"
    Config = AttributeRidgeConfig
    capabilities = Capabilities(new_users=True, new_items=True, user_fold_in=True,
                                uses_user_features=True, uses_item_features=True)
    search_space = {**ATTRIBUTE_WEIGHTING_SPACE, "item_l2": FloatRange(0.1, 1000.0, log=True),
                    "user_l2": FloatRange(0.01, 100.0, log=True), "average_taste": FloatRange(0.0, 10.0),
                    "max_dimensions": [128, 512, 1024]}

    def _fit(self, data: TrainData, context: FitContext) -> None:
        """One ridge solve per side: the item side's metric over the (reduced) attribute vectors of the training
        items, the user side's map from user attributes to a predicted history."""
        if data.item_features is None:
            raise ValueError("Attribute ridge needs item attributes and this dataset has none; add an items table "
                             "(genres, tags, descriptions) or choose a collaborative model")
        matrix = sp.csr_matrix(data.matrix, dtype=np.float64)
        self.vectors = AttributeVectors.fit(data.item_features, self.config)
        projection = _projection(self.vectors.transform(data.item_features.matrix), self.config.max_dimensions,
                                 self.seed)
        train_items = (self.vectors.transform(data.item_features.rows(data.item_ids)) @ projection).toarray()
        users = _with_intercept(feature_rows(data.user_features, data.user_ids))
        self.projection = projection
        self.train_items = _tensor(train_items)
        self.metric = _tensor(_ridge_inverse(train_items.T @ train_items, self.config.item_l2))
        self.average_history = _tensor(np.asarray(matrix.sum(axis=0)).ravel() / max(matrix.shape[0], 1))
        self.history_map = _tensor(_ridge_inverse((users.T @ users).toarray(), self.config.user_l2)
                                   @ (users.T @ matrix).toarray())

    def predicted_histories(self, features: sp.spmatrix | None, n_users: int) -> np.ndarray:
        """What users' attributes predict they interacted with, over the training items (popularity without any)."""
        attributes = sp.csr_matrix((n_users, self.history_map.shape[0] - 1))
        if features is not None and self.history_map.shape[0] > 1:
            attributes = sp.csr_matrix(features, dtype=np.float64)
        return _with_intercept(attributes) @ _array(self.history_map)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Every candidate from its attributes against each user's taste; a user without history has the history
        their attributes predict, which also scores the training items among the candidates directly."""
        if items.features is None:
            raise ValueError("Attribute ridge needs the candidates' attributes; the item query carries none")
        train_items = _array(self.train_items)
        history = sp.csr_matrix(users.history, dtype=np.float64)
        profiles = np.asarray(history @ train_items)
        empty = np.flatnonzero(history.getnnz(axis=1) == 0)
        predicted = self.predicted_histories(None if users.features is None else users.features[empty], len(empty))
        profiles[empty] = predicted @ train_items
        if self.config.average_taste:
            profiles += self.config.average_taste * (_array(self.average_history) @ train_items)[None, :]
        candidates = (self.vectors.transform(items.features) @ self.projection).toarray()
        scores = profiles @ _array(self.metric) @ candidates.T
        known = np.flatnonzero(~items.is_new)
        scores[np.ix_(empty, known)] = predicted[:, items.index[known]]
        return as_scores(scores)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The attribute weighting and projection, the reduced training items, the solved metric, the average
        history and the map from user attributes to a predicted history."""
        return {**self.vectors.state_tensors(), **sparse_state("projection", self.projection),
                "train_items": self.train_items,
                "metric": self.metric, "average_history": self.average_history, "history_map": self.history_map}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the attribute weighting and the matrices."""
        self.vectors = AttributeVectors.from_state(state, self.config)
        self.projection = sparse_from_state("projection", state)
        self.train_items, self.metric = state["train_items"], state["metric"]
        self.average_history, self.history_map = state["average_history"], state["history_map"]


def _tensor(array: np.ndarray) -> torch.Tensor:
    """Kept in float32, the precision artifacts are saved in, so a loaded model scores like the fitted one."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.numpy().astype(np.float64)


def _projection(vectors: sp.csr_matrix, max_dimensions: int, seed: int) -> sp.csr_matrix:
    """The identity when the attributes are few; else the leading right singular vectors of the attribute vectors
    (seeded randomised SVD, Halko, Martinsson and Tropp 2011), which also regularise: the ridge keeps the directions
    many items share. They are read from a sample of at most `SVD_SAMPLE_ROWS` items, which spans the leading
    directions as well, and kept sparse: a column no item uses (a value dropped as too rare) stays a zero row."""
    n_columns = vectors.shape[1]
    if n_columns <= max_dimensions:
        return sp.identity(n_columns, dtype=np.float32, format="csr")
    rng = np.random.default_rng(seed)
    rows = vectors if vectors.shape[0] <= SVD_SAMPLE_ROWS else \
        vectors[np.sort(rng.choice(vectors.shape[0], SVD_SAMPLE_ROWS, replace=False))]
    used = np.flatnonzero(rows.getnnz(axis=0))
    rank = min(max_dimensions, len(used), rows.shape[0])
    coo = sp.coo_matrix(rows[:, used], dtype=np.float32)
    torch.manual_seed(seed)
    tensor = torch.sparse_coo_tensor(np.vstack([coo.row, coo.col]), coo.data, coo.shape, check_invariants=True)
    _, _, right = torch.svd_lowrank(tensor, q=rank, niter=2)
    basis = np.zeros((n_columns, max_dimensions), dtype=np.float32)
    basis[used, :rank] = right.numpy()
    return sp.csr_matrix(basis)


def _ridge_inverse(gram: np.ndarray, relative_l2: float) -> np.ndarray:
    """(G + λI)⁻¹ with λ = relative_l2 times G's mean diagonal, so the penalty means the same at any scale."""
    penalty = relative_l2 * max(float(np.trace(gram)) / max(len(gram), 1), 1e-12)
    return np.linalg.inv(gram + penalty * np.eye(len(gram)))


def _with_intercept(attributes: sp.spmatrix) -> sp.csr_matrix:
    """Attributes with a leading constant column, which carries the popularity every user shares."""
    return sp.hstack([sp.csr_matrix(np.ones((attributes.shape[0], 1))), attributes], format="csr")
