"""Random: the floor every model must beat; a seeded, order-independent score per (user, item) pair."""

from __future__ import annotations

import numpy as np
import torch

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext, ModelConfig, Recommender
from engine.models._scoring import as_scores, splitmix64, stable_id_hash


class RandomConfig(ModelConfig):
    """Random has no hyper-parameters; the run's seed decides the order."""


class RandomRecommender(Recommender):
    """Scores are a hash of (seed, user id, item id): the same pair always gets the same score, in any batch,
    after save/load, for known and new users and items alike."""

    name = "random"
    label = "Random"
    family = "popularity"
    Config = RandomConfig
    capabilities = Capabilities(new_users=True, new_items=True)
    search_space: dict = {}

    def _fit(self, data: TrainData, context: FitContext) -> None:
        """Nothing to learn."""

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Uniform scores in [0, 1) that depend only on the seed and the two ids."""
        user_key = splitmix64(stable_id_hash(users.ids) ^ np.uint64(self.seed))
        item_key = splitmix64(stable_id_hash(items.ids) + np.uint64(0x5851F42D4C957F2D))
        with np.errstate(over="ignore"):
            mixed = splitmix64(user_key[:, None] * np.uint64(0x9E3779B1) ^ item_key[None, :])
        # the top 24 bits give floats exactly representable in float32
        return as_scores((mixed >> np.uint64(40)).astype(np.float64) / float(1 << 24))
