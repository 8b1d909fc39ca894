"""ItemKNN: recommend items similar to those in the user's history (Sarwar et al., WWW 2001).

Shrunk cosine over the items' user columns, k neighbours kept per item; the tuned version is one of the
strongest baselines in Dacrema et al. (RecSys 2019).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from engine.core.data import TrainData
from engine.core.model import Capabilities, FitContext, ModelConfig
from engine.core.search_space import FloatRange, IntRange
from engine.models._item_to_item import ItemToItemRecommender
from engine.models._similarity import cosine_top_k


class ItemKNNConfig(ModelConfig):
    """Neighbourhood size and shrinkage, the two knobs Dacrema et al. tune."""

    k: int = Field(100, ge=1, title="Neighbours", description="How many most similar items each item keeps.")
    shrink: float = Field(10.0, ge=0, title="Shrinkage",
                          description="Added to the cosine denominator: damps similarities of rarely co-liked items.")


class ItemKNNRecommender(ItemToItemRecommender):
    """Item-based k-nearest neighbours over shrunk cosine similarity."""

    name = "itemknn"
    label = "ItemKNN"
    family = "neighbourhood"
    Config = ItemKNNConfig
    capabilities = Capabilities(user_fold_in=True)
    search_space = {"k": IntRange(5, 1000, log=True), "shrink": FloatRange(0.0, 500.0)}

    def _item_weights(self, data: TrainData, context: FitContext) -> sp.csr_matrix:
        """Item i's row holds its k most similar items j (neighbours of i vote for j)."""
        item_vectors = data.matrix.T
        return cosine_top_k(item_vectors, item_vectors, self.config.k, self.config.shrink,
                            self_index=np.arange(data.n_items))
