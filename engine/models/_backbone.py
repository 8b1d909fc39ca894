"""What the cold-start specialists share: a warm CF backbone, fold-in by averaging, and content encoders.

DropoutNet, Heater, ALDI and MetaEmb all start from the preference factors of a warm matrix-factorization model
(the "backbone", fitted here through the registry so it is the same ALS or BPR the comparison reports) and learn
to produce such factors from attributes for users and items the backbone never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol, cast

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from torch import nn

from engine.core.data import TrainData
from engine.core.features import FeatureMatrix
from engine.core.model import FitContext
from engine.training.feature_modules import FeatureBag, FeatureTable, SparseRows
from engine.training.fold_in import known_or_new_vectors
from engine.training.loop import GradientConfig
from engine.training.recommender import TorchRecommender

BackboneName = Literal["als", "bpr"]
"""Registry models that can be a backbone: each implements `FactorModel`."""


class FactorModel(Protocol):
    """What a warm backbone provides: its latent dimension's config field, and factors whose dot product is its
    score. ALS and BPR implement it; a specialist never looks a backbone up by name or probes its attributes."""

    factors_field: ClassVar[str]

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """(user factors, item factors) of the fitted model, one row per training user / item."""
        ...


class BackboneConfig(GradientConfig):
    """The hyper-parameters every backbone specialist shares; DropoutNet's, Heater's, ALDI's and MetaEmb's configs
    extend it."""

    backbone: BackboneName = Field("als", title="Warm backbone",
                                   description="Registry model whose factors the specialist learns from (its teacher).")
    backbone_factors: int = Field(64, ge=2, le=1024, title="Backbone factors",
                                  description="Latent dimension of the warm backbone.")


@dataclass
class WarmFactors:
    """Preference factors of the warm backbone: score(u, i) = user_factors[u] . item_factors[i]."""

    user_factors: torch.Tensor
    item_factors: torch.Tensor

    @property
    def dim(self) -> int:
        return int(self.user_factors.shape[1])


def fit_warm_backbone(data: TrainData, backbone: BackboneName, n_factors: int, seed: int,
                      context: FitContext | None = None) -> WarmFactors:
    """Fit the registry's `backbone` model on the training part and return its factors (the teacher).

    The backbone gets no validator: its epochs are chosen by its own defaults, so the specialist's early stopping
    is the only use of the validation slice.
    """
    from engine.models.registry import create_model, get_model_class

    field = cast(FactorModel, get_model_class(backbone)).factors_field
    model = create_model(backbone, {field: n_factors}, seed=seed)
    model.fit(data, FitContext(device=context.device if context else "cpu"))
    users, items = cast(FactorModel, model).factors()
    return WarmFactors(torch.as_tensor(users, dtype=torch.float32).cpu().contiguous(),
                       torch.as_tensor(items, dtype=torch.float32).cpu().contiguous())


def history_mean(history: sp.csr_matrix, factors: torch.Tensor) -> torch.Tensor:
    """Mean of the factors of each row's revealed entities (zeros for an empty row).

    DropoutNet's "transform" for a cold user: the average of the item vectors they touched stands in for the
    user's own preference vector (and symmetrically for a cold item and the users who had it).
    """
    binary = sp.csr_matrix(history, dtype=np.float32, copy=True)
    binary.data[:] = 1.0
    counts = np.asarray(binary.sum(axis=1)).ravel()
    scale = sp.diags(np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0))
    averaging = (scale @ binary).tocsr()
    means = averaging @ factors.detach().cpu().numpy()
    return torch.from_numpy(np.asarray(means, dtype=np.float32)).to(factors.device)


def query_factors(index: np.ndarray, history: sp.csr_matrix, known: torch.Tensor,
                  other_side: torch.Tensor) -> torch.Tensor:
    """Preference inputs for a query: the backbone row of known entities, the history mean for new ones."""
    return known_or_new_vectors(index, history, known, lambda revealed: history_mean(revealed, other_side))


def query_rows(features: sp.csr_matrix | None, n_rows: int, device: torch.device | str) -> SparseRows | None:
    """The query's attribute rows on the model's device, or None when the model uses no attributes there."""
    if features is None:
        return None
    if features.shape[0] != n_rows:
        raise ValueError(f"query has {n_rows} entities but {features.shape[0]} feature rows")
    return SparseRows.from_csr(features, device)


def training_table(features: FeatureMatrix | None, ids: np.ndarray, device: torch.device) -> FeatureTable | None:
    """Attribute rows of the training entities on the device, or None when that side has no attributes."""
    if features is None or features.n_features == 0:
        return None
    return FeatureTable(features.rows(ids), device)


class ContentEncoder(nn.Module):
    """Attributes -> a dense vector: a feature bag (one embedding per attribute column) then a tanh MLP.

    The bag is the linear layer over the sparse content vector that DropoutNet, Heater and ALDI put first.
    """

    def __init__(self, n_features: int, hidden: int, out: int) -> None:
        super().__init__()
        self.bag = FeatureBag(n_features, hidden, init_std=1.0 / np.sqrt(hidden))
        self.mlp = nn.Sequential(nn.Tanh(), nn.Linear(hidden, out))

    def forward(self, rows: SparseRows) -> torch.Tensor:
        return self.mlp(self.bag(rows))


class BackboneFactors(nn.Module):
    """The teacher's factors as buffers, so they are saved, loaded and moved with the specialist's network."""

    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("users", torch.zeros(n_users, dim))
        self.register_buffer("items", torch.zeros(n_items, dim))

    def set(self, factors: WarmFactors) -> None:
        """Copy freshly fitted backbone factors in (the network was built before they existed on the device)."""
        self.users.copy_(factors.user_factors)
        self.items.copy_(factors.item_factors)


def specialist_sizes(data: TrainData, factors: WarmFactors) -> dict[str, int]:
    """The integers a backbone-based specialist's network is built from (`TorchRecommender.module_sizes`)."""
    return {"n_users": data.n_users, "n_items": data.n_items, "pref_dim": factors.dim,
            "n_user_features": data.user_features.n_features if data.user_features is not None else 0,
            "n_item_features": data.item_features.n_features if data.item_features is not None else 0}


class BackboneSpecialist(TorchRecommender):
    """A gradient model whose network (`module.backbone`) carries the factors of a warm backbone it learns from.

    Its config extends `BackboneConfig`; `_fit` starts with `init_with_teacher`.
    """

    teacher: WarmFactors | None = None
    config: BackboneConfig

    def module_sizes(self, data: TrainData) -> dict[str, int]:
        if self.teacher is None:
            raise RuntimeError("fit the warm backbone (init_with_teacher) before sizing the network")
        return specialist_sizes(data, self.teacher)

    def init_with_teacher(self, data: TrainData, context: FitContext) -> nn.Module:
        """Fit the backbone, build the network for the data and copy the teacher's factors into it."""
        self.teacher = fit_warm_backbone(data, self.config.backbone, self.config.backbone_factors, self.seed, context)
        module = self.init_module(data, context)
        module.backbone.set(self.teacher)
        return module
