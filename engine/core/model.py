"""The one interface every recommender implements: `Recommender`, its typed `ModelConfig` and `Capabilities`.

A model is fitted on `TrainData` and scores a `UserQuery` against an `ItemQuery` (see `engine.core.data`). It
declares what it can serve in `capabilities`; the evaluator shows "not applicable" for the rest. `fit` takes a
`FitContext`: a `Validator` for early stopping, a `ProgressReporter`, a time budget and a device. Models keep state
as tensors and JSON only, so artifacts load with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from engine.core.data import ItemQuery, TrainData, UserQuery, seen_positions
from engine.core.ranking import top_k
from engine.core.search_space import SearchSpace


class ModelConfig(BaseModel):
    """Base of every model's typed hyper-parameters. Field titles and descriptions become the app's form help."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Capabilities:
    """What a model can serve. Anything not declared is reported as not applicable, never silently faked."""

    new_users: bool = False
    """Scores users unseen in training with zero interactions: from their attributes when `uses_user_features`,
    else without telling them apart (MostPopular's one list, Random)."""
    new_items: bool = False
    """Scores items unseen in training with zero interactions: from their attributes when `uses_item_features`,
    else blindly (Random)."""
    user_fold_in: bool = False
    """Scores users unseen in training from a few revealed interactions, without retraining."""
    item_fold_in: bool = False
    """Scores items unseen in training from a few revealed interactions, without retraining."""
    needs_ratings: bool = False
    """Requires explicit ratings in the training data."""
    predicts_ratings: bool = False
    """Scores are rating predictions, so RMSE and MAE are meaningful."""
    uses_user_features: bool = False
    """Reads user attributes (what a new user is served from, when `new_users`)."""
    uses_item_features: bool = False
    """Reads item attributes (what a new item is served from, when `new_items`)."""


class ProgressReporter(Protocol):
    """Where a fitting model reports progress; the job runner writes it to the database at a modest rate."""

    def report(self, *, epoch: int, n_epochs: int, loss: float | None = None, metric: float | None = None,
               step: int | None = None, n_steps: int | None = None) -> None: ...

    def log(self, message: str) -> None: ...

    def should_stop(self) -> bool: ...


class Validator(Protocol):
    """Scores a model on the validation slice that matches the protocol (never the test part)."""

    metric_name: str

    def __call__(self, model: "Recommender") -> float: ...


@dataclass
class FitContext:
    """Optional companions of `fit`: early-stopping validation, progress, a time budget in seconds."""

    validator: Validator | None = None
    progress: ProgressReporter | None = None
    time_budget_s: float | None = None
    device: str = "cpu"
    watched: bool = True
    """Someone looks at this fit's training curve; False for tuning trials, whose curves are never shown, so a
    model need not spend time on figures only a curve would use."""
    extras: dict[str, Any] = field(default_factory=dict)


class Recommender(ABC):
    """Base class of all models: `fit`, `score`, `recommend`, `save` / `load`."""

    name: ClassVar[str]
    """Registry key, e.g. `itemknn`."""
    label: ClassVar[str]
    """Human name for tables and charts, e.g. `ItemKNN`."""
    family: ClassVar[str]
    """popularity, neighbourhood, linear, factorization, content, hybrid, deep or cold-start."""
    Config: ClassVar[type[ModelConfig]]
    capabilities: ClassVar[Capabilities]
    search_space: ClassVar[SearchSpace] = {}
    """Ranges or lists of values per hyper-parameter, searched with the same budget for every model; they contain
    the defaults (see `engine.core.search_space`)."""
    progress_unit: ClassVar[str] = "epoch"
    """What one progress report of an untuned fit counts: an epoch of a gradient model, a model fitted for auto."""

    def __init__(self, config: ModelConfig | dict | None = None, seed: int = 0) -> None:
        if config is None:
            config = self.Config()
        elif isinstance(config, dict):
            config = self.Config(**config)
        self.config = config
        self.seed = seed
        self.user_ids: np.ndarray = np.empty(0, dtype=object)
        self.item_ids: np.ndarray = np.empty(0, dtype=object)

    # -- fitting and scoring -------------------------------------------------------------------------------------
    def fit(self, data: TrainData, context: FitContext | None = None) -> "Recommender":
        """Learn from `data`; record the known ids so queries and artifacts agree on the indexing."""
        self.user_ids = np.asarray(data.user_ids, dtype=object)
        self.item_ids = np.asarray(data.item_ids, dtype=object)
        torch.manual_seed(self.seed)
        self._fit(data, context or FitContext())
        return self

    @abstractmethod
    def _fit(self, data: TrainData, context: FitContext) -> None: ...

    @abstractmethod
    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """A float32 tensor of shape (len(users), len(items)); higher means recommend sooner.

        Called only for queries the capabilities allow. Never masks seen items: the caller does.
        """

    def fit_report(self) -> list[str]:
        """What fitting decided that a person comparing models should read beside the scores, a line each (auto:
        what it uses per kind of user and item, and the validation scores it compared); most models decide nothing."""
        return []

    def ranking_scores(self, users: UserQuery, items: ItemQuery, exclude_seen: bool = True) -> torch.Tensor:
        """Scores as every ranking reads them (the evaluator's, Explore's, the API's): float32, with the items
        already in each user's history at -inf."""
        scores = self.score(users, items).float()
        if not exclude_seen:
            return scores
        rows, cols = seen_positions(users, items)
        # a copy, so a model's own buffers are never overwritten; the seen cells are set in place, which at 400 users
        # x 40k candidates costs a fifth of building a dense mask and masking with it
        scores = scores.clone()
        scores[torch.from_numpy(rows).to(scores.device), torch.from_numpy(cols).to(scores.device)] = -torch.inf
        return scores

    def recommend(self, users: UserQuery, items: ItemQuery, k: int, exclude_seen: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k (scores, item positions in `items`) per user, excluding items in the user's history. Tied
        scores keep the order of `items` (`engine.core.ranking.top_k`): put the candidates in
        `engine.metrics.ranking.candidate_order` first."""
        return top_k(self.ranking_scores(users, items, exclude_seen).cpu(), k)

    # -- persistence ---------------------------------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Everything `score` needs after `fit`, as named tensors. Override in each model."""
        return {}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of `state_tensors`."""

    def save(self, directory: str | Path) -> None:
        """Write `model.json` (name, config, seed, ids) and `state.pt` (tensors only)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "name": self.name,
            "config": self.config.model_dump(mode="json"),
            "seed": self.seed,
            "user_ids": [str(u) for u in self.user_ids],
            "item_ids": [str(i) for i in self.item_ids],
        }
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_tensors().items()}
        torch.save(tensors, directory / "state.pt")
        (directory / "model.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: str | Path) -> "Recommender":
        """Rebuild a saved model; only JSON and tensors are read (never pickle)."""
        directory = Path(directory)
        meta = json.loads((directory / "model.json").read_text())
        model = cls(meta["config"], seed=meta["seed"])
        model.user_ids = np.asarray(meta["user_ids"], dtype=object)
        model.item_ids = np.asarray(meta["item_ids"], dtype=object)
        model.load_state_tensors(torch.load(directory / "state.pt", weights_only=True, map_location="cpu"))
        return model

    # -- what the model can serve --------------------------------------------------------------------------------
    @classmethod
    def cannot_serve(cls, *, new_users: bool, new_items: bool, revealed_users: bool = False,
                     revealed_items: bool = False, ratings: bool = True) -> str | None:
        """The reason this model cannot serve a slice with these properties, or None when it can."""
        caps = cls.capabilities
        if caps.needs_ratings and not ratings:
            return f"{cls.label} needs explicit ratings and this dataset has none"
        if new_users:
            if revealed_users and not (caps.user_fold_in or caps.new_users):
                return f"{cls.label} cannot fold in new users from a few interactions"
            if not revealed_users and not caps.new_users:
                reason = "it has no user attributes to use" if not caps.uses_user_features else "it cannot map attributes to users"
                return f"{cls.label} cannot score users it never saw in training: {reason}"
        if new_items:
            if revealed_items and not (caps.item_fold_in or caps.new_items):
                return f"{cls.label} cannot fold in new items from a few interactions"
            if not revealed_items and not caps.new_items:
                return f"{cls.label} cannot score items it never saw in training (it does not use item attributes)"
        return None
