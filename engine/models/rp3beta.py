"""RP3beta: a popularity-damped 3-step random walk on the user-item graph (Paudel et al., ACM TiiS 2017).

Simple and, tuned, among the most accurate warm baselines (Dacrema et al., RecSys 2019).
"""

from __future__ import annotations

import scipy.sparse as sp
from pydantic import Field

from engine.core.data import TrainData
from engine.core.model import Capabilities, FitContext, ModelConfig
from engine.core.search_space import FloatRange, IntRange
from engine.models._item_to_item import ItemToItemRecommender
from engine.models._similarity import rp3beta_top_k


class RP3betaConfig(ModelConfig):
    """Walk sharpness, popularity damping and neighbourhood size."""

    alpha: float = Field(1.0, gt=0, title="Alpha",
                         description="Exponent on the transition probabilities; below 1 flattens them.")
    beta: float = Field(0.6, ge=0, title="Beta (popularity damping)",
                        description="Divides each target item's weight by its popularity to this power: "
                                    "0 = plain random walk, higher = more long-tail items.")
    k: int = Field(200, ge=1, title="Neighbours", description="How many strongest item-to-item weights each item keeps.")


class RP3betaRecommender(ItemToItemRecommender):
    """Item-to-item weights from a popularity-damped random walk."""

    name = "rp3beta"
    label = "RP3beta"
    family = "neighbourhood"
    Config = RP3betaConfig
    capabilities = Capabilities(user_fold_in=True)
    search_space = {"alpha": FloatRange(0.2, 2.0), "beta": FloatRange(0.0, 1.0), "k": IntRange(10, 1000, log=True)}

    def _item_weights(self, data: TrainData, context: FitContext) -> sp.csr_matrix:
        return rp3beta_top_k(data.matrix, self.config.alpha, self.config.beta, self.config.k)
