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
DENSE_COPIES = 3
"""Item x item float64 matrices alive at once while solving: the Gram matrix, its inverse and the weights."""


def not_applicable_at_size(n_items: int) -> str | None:
    """Why EASE cannot be fitted on `n_items` items (said before anything is allocated), or None when it can."""
    if n_items <= MAX_ITEMS:
        return None
    gigabytes = DENSE_COPIES * n_items ** 2 * 8 / 2 ** 30
    return (f"EASE is not applicable at this size, because its dense {n_items:,} x {n_items:,} item matrices need "
            f"about {gigabytes:,.0f} GB while solving (limit {MAX_ITEMS:,} items); filter rare items or use "
            "ItemKNN or RP3beta, which keep the item-to-item weights sparse")


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
        reason = not_applicable_at_size(data.n_items)
        if reason is not None:
            raise ValueError(reason)
        device = torch.device(context.device)
        x = data.matrix.astype(np.float64)
        gram = torch.from_numpy((x.T @ x).toarray()).to(device)
        gram.diagonal().add_(self.config.l2)
        inverse = torch.linalg.inv(gram)
        weights = -inverse / inverse.diagonal()[None, :]
        weights.diagonal().zero_()
        return weights.to(torch.float32).cpu().numpy()
