"""Item attribute vectors for the models that compare or regress on attributes (content, attribute ridge).

Every value of a categorical, multi-valued or text attribute (a genre, a tag, a word) weighs its inverse document
frequency over the catalogue, text counts enter sublinearly, and values found on too few or too many items are
dropped: with a vocabulary of thousands of free tags, a rare shared tag says far more than "toread" (the
vector-space model of Salton and Buckley 1988, here for every attribute, not text only). Each attribute is scaled
to unit length, numerics pass through, each kind is weighted and every item vector L2-normalised. The weights are
read from the whole catalogue's attributes, known at serving time for new items too; no interaction is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from engine.core.features import FeatureMatrix
from engine.core.model import ModelConfig
from engine.core.search_space import FloatRange, IntRange, SearchSpace
from engine.models._similarity import column_kinds, l2_normalize_rows, smooth_idf, tfidf_rows

_KIND_CODES = {"numeric": 0, "category": 1, "text": 2}


class AttributeWeightingConfig(ModelConfig):
    """How much each kind of attribute counts, and how attribute values are weighted."""

    category_weight: float = Field(1.0, ge=0, title="Category weight",
                                   description="Weight of categorical and multi-valued attributes (genres, tags).")
    text_weight: float = Field(0.5, ge=0, title="Text weight", description="Weight of TF-IDF text attributes.")
    numeric_weight: float = Field(0.5, ge=0, title="Numeric weight",
                                  description="Weight of numeric attributes (z-score and quantile bins).")
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


ATTRIBUTE_WEIGHTING_SPACE: SearchSpace = {
    "category_weight": FloatRange(0.0, 3.0), "text_weight": FloatRange(0.0, 3.0),
    "numeric_weight": FloatRange(0.0, 3.0), "weighting": ["tfidf", "encoded"], "sublinear_tf": [True, False],
    "min_df": IntRange(1, 20, log=True), "max_df": FloatRange(0.05, 1.0, log=True)}
"""The search space of `AttributeWeightingConfig`'s fields, for the models whose configs extend it."""


@dataclass
class AttributeVectors:
    """Per-column kind, weight, idf and whether it is kept: what turns encoded attribute rows into item vectors."""

    config: AttributeWeightingConfig
    column_weights: torch.Tensor
    column_kinds: torch.Tensor
    column_field: torch.Tensor
    column_kept: torch.Tensor
    column_idf: torch.Tensor

    @classmethod
    def fit(cls, features: FeatureMatrix, config: AttributeWeightingConfig) -> AttributeVectors:
        """Column weights, idf and cut-offs from the whole catalogue's attributes."""
        kinds = column_kinds(features)
        weight_of = {"category": config.category_weight, "text": config.text_weight,
                     "numeric": config.numeric_weight}
        kind_codes = np.asarray([_KIND_CODES[k] for k in kinds], dtype=np.int8)
        n_items = features.matrix.shape[0]
        df = np.asarray(sp.csr_matrix(features.matrix).getnnz(axis=0))
        terms = kind_codes != _KIND_CODES["numeric"]
        kept = ~terms | ((df >= config.min_df) & (df <= config.max_df * n_items))
        return cls(config, torch.tensor([weight_of[k] for k in kinds], dtype=torch.float32),
                   torch.from_numpy(kind_codes), torch.from_numpy(np.asarray(features.column_field, dtype=np.int64)),
                   torch.from_numpy(kept), torch.from_numpy(smooth_idf(df, n_items)))

    def transform(self, features: sp.spmatrix) -> sp.csr_matrix:
        """Unit-length item vectors of encoded attribute rows (known or new items alike)."""
        kinds, kept = self.column_kinds.numpy(), self.column_kept.numpy()
        if self.config.weighting == "tfidf":
            matrix = tfidf_rows(features, self.column_idf.numpy(), kept, self.column_field.numpy(),
                                kinds == _KIND_CODES["text"], kinds == _KIND_CODES["numeric"],
                                self.config.sublinear_tf)
        else:
            matrix = sp.csr_matrix(features, dtype=np.float64) @ sp.diags(kept.astype(np.float64))
        return l2_normalize_rows(matrix @ sp.diags(self.column_weights.numpy().astype(np.float64)))

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"column_weights": self.column_weights, "column_kinds": self.column_kinds,
                "column_field": self.column_field, "column_kept": self.column_kept, "column_idf": self.column_idf}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor], config: AttributeWeightingConfig) -> AttributeVectors:
        return cls(config, state["column_weights"], state["column_kinds"], state["column_field"],
                   state["column_kept"], state["column_idf"])
