"""EASE: a closed-form linear item-to-item autoencoder with a zero diagonal (Steck, WWW 2019).

B = I - P diag(1 / diag(P)), P = (X^T X + lambda I)^-1. One dense solve; strong on small and medium catalogues.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

from engine.core.data import TrainData
from engine.core.model import Capabilities, FitContext, ModelConfig
from engine.core.search_space import FloatRange
from engine.models._item_to_item import ItemToItemRecommender

MAX_ITEMS = 25_000
"""Above this, the dense item x item inverse no longer fits a typical machine's memory (float64)."""


class EASEConfig(ModelConfig):
    """EASE has one hyper-parameter, its L2 penalty."""

    l2: float = Field(200.0, gt=0, title="L2 regularisation (lambda)",
                      description="Added to the diagonal of the item Gram matrix; larger = smoother, more popular.")


class EASERecommender(ItemToItemRecommender):
    """Dense closed-form item-to-item weights."""

    name = "ease"
    label = "EASE"
    family = "linear"
    Config = EASEConfig
    capabilities = Capabilities(user_fold_in=True)
    search_space = {"l2": FloatRange(1.0, 10_000.0, log=True)}

    def _item_weights(self, data: TrainData, context: FitContext) -> np.ndarray:
        """The closed-form weights, computed on the run's device in float64 for a stable inverse."""
        if data.n_items > MAX_ITEMS:
            raise ValueError(f"EASE needs a dense {data.n_items} x {data.n_items} inverse, too large for memory "
                             f"(limit {MAX_ITEMS} items); filter rare items or use ItemKNN / RP3beta instead")
        device = torch.device(context.device)
        x = data.matrix.astype(np.float64)
        gram = torch.from_numpy((x.T @ x).toarray()).to(device)
        gram.diagonal().add_(self.config.l2)
        inverse = torch.linalg.inv(gram)
        weights = -inverse / inverse.diagonal()[None, :]
        weights.diagonal().zero_()
        return weights.to(torch.float32).cpu().numpy()
