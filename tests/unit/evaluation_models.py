"""Test-only recommenders with scores chosen by the test, to check the evaluator against known answers."""

from __future__ import annotations

import numpy as np
import torch

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext, ModelConfig, Recommender


class NoConfig(ModelConfig):
    """No hyper-parameters."""


class PreferenceModel(Recommender):
    """Scores (user, item) pairs from `preferences` (default `default_score`); serves new users and items."""

    name = "test_preferences"
    label = "Preferences"
    family = "popularity"
    Config = NoConfig
    capabilities = Capabilities(new_users=True, new_items=True, user_fold_in=True, item_fold_in=True)

    def __init__(self, preferences: dict[tuple[str, str], float] | None = None, default_score: float = 0.0,
                 seed: int = 0) -> None:
        super().__init__(None, seed)
        self.preferences = preferences or {}
        self.default_score = default_score
        self.fitted_on: TrainData | None = None
        self.validations: list[float] = []

    def _fit(self, data: TrainData, context: FitContext) -> None:
        self.fitted_on = data
        if context.validator is not None:
            self.validations.append(context.validator(self))

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        table = np.full((len(users), len(items)), self.default_score, dtype=np.float32)
        user_position = {user: i for i, user in enumerate(users.ids)}
        item_position = {item: j for j, item in enumerate(items.ids)}
        for (user, item), value in self.preferences.items():
            if user in user_position and item in item_position:
                table[user_position[user], item_position[item]] = value
        return torch.from_numpy(table)


class WarmOnlyModel(PreferenceModel):
    """Like `PreferenceModel` but serves only users and items seen in training."""

    name = "test_warm_only"
    label = "WarmOnly"
    capabilities = Capabilities()


class RatingModel(PreferenceModel):
    """Predicts the same rating for every pair, so RMSE and MAE are known in closed form."""

    name = "test_rating"
    label = "ConstantRating"
    capabilities = Capabilities(new_users=True, new_items=True, predicts_ratings=True)
