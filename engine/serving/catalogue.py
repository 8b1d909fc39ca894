"""The served catalogue and what every request would otherwise recompute: the candidate query, item positions, and
the scores of every trained user for every item, so a known user's request is a row lookup and a top-k. The top-k
is the evaluator's and Explore's (the same tie-break, in the same seeded candidate order).

A model's scores for a trained user do not change between requests (the model is fixed, and so are the user's
training row and attributes), so they are computed once per catalogue, in batches, and items added while serving
get their column when the catalogue is next read. Users whose feedback a fold-in model must take into account, and
new users, are scored live. The table is kept only while it fits `SCORE_TABLE_CELLS`; beyond that every request
is scored live, as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import torch

from engine.core import ranking
from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Recommender
from engine.data.indexing import item_query, user_query
from engine.metrics.ranking import candidate_order

SCORE_TABLE_CELLS = 50_000_000
"""Largest users x items score table kept in memory (float32: 200 MB); bigger catalogues are scored per request."""

USERS_PER_BATCH = 1024
Value = TypeVar("Value")


class Remembered(Generic[Value]):
    """The `size` values asked for most recently, by key (thread-safe; least recently used dropped first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, Value] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Value]) -> Value:
        """The value kept for `key`, or `make()` (computed outside the lock, then kept)."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = make()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value


@dataclass(frozen=True)
class Catalogue:
    """One version of the catalogue (replaced whole when an item is added, so a request sees one consistent view):
    item ids in scoring order (training items first, at their training positions), their query, id -> position,
    and the trained users' scores, C-contiguous float32 (None when over the budget or the model cannot score
    every item for a trained user)."""

    ids: tuple[str, ...]
    query: ItemQuery
    positions: dict[str, int]
    known_scores: np.ndarray | None


def all_trained_users(data: TrainData) -> UserQuery:
    """The query of every trained user, in training order."""
    return user_query(data, data.user_ids)


def _score_columns(model: Recommender, users: UserQuery, items: ItemQuery) -> np.ndarray:
    """`model`'s scores of `users` for `items` (n_users x n_items float32), a batch of users at a time."""
    out = np.empty((len(users.ids), len(items.ids)), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(users.ids), USERS_PER_BATCH):
            stop = min(start + USERS_PER_BATCH, len(users.ids))
            out[start:stop] = model.score(users.take(slice(start, stop)), items).float().cpu().numpy()
    return out


def build_catalogue(model: Recommender, data: TrainData, ids: tuple[str, ...], users: UserQuery | None,
                    previous: Catalogue | None) -> Catalogue:
    """The catalogue of `ids`; `previous` (a prefix of it) lends its score columns, so only new items are scored.
    `users` is every trained user's query, or None to keep no score table."""
    query = item_query(data, list(ids))
    table = None
    if users is not None and len(users.ids) * len(ids) <= SCORE_TABLE_CELLS:
        done = previous.known_scores if previous is not None else None
        start = done.shape[1] if done is not None else 0
        if start < len(ids):
            fresh = _score_columns(model, users, item_query(data, list(ids[start:])))
            table = np.ascontiguousarray(np.hstack([done, fresh]) if done is not None else fresh)
        else:
            table = done
    return Catalogue(ids, query, {item: position for position, item in enumerate(ids)}, table)


def seeded_order(training_ids: tuple[str, ...], candidate_ids: np.ndarray, seed: int, name: str) -> np.ndarray:
    """Catalogue positions of the training items in the order `candidate_order(candidate_ids, seed, name)` puts
    them: the order the evaluator's slice `name` or Explore's list scored them in, and so the order ties break in.
    Items beyond the training items (cold and added ones) follow them in catalogue order (see `top_k`)."""
    position = {item: index for index, item in enumerate(training_ids)}
    return np.asarray([position[str(item)] for item in candidate_order(candidate_ids, seed, name)], dtype=np.int64)


def top_k(scores: np.ndarray, k: int, order: np.ndarray, excluded: np.ndarray | None = None,
          candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The positions (into the catalogue) and scores of the `k` best of `scores` (one per catalogue item), best
    first, ranked by the evaluator's and Explore's rule (`engine.core.ranking.top_k` over the candidates in their
    seeded `order`, so tied scores come out as they do there); `excluded` positions are left out, and with
    `candidates` only those count. Items scored -inf or NaN are never returned."""
    if len(order) < len(scores):  # items beyond the training items (cold, added) follow in catalogue order
        order = np.concatenate([order, np.arange(len(order), len(scores))])
    if candidates is not None:
        chosen = np.zeros(len(scores), dtype=bool)
        chosen[candidates] = True
        order = order[chosen[order]]
    if excluded is not None and len(excluded):
        scores = scores.copy()  # the table's row is never written to
        scores[excluded] = -np.inf
    ranked = scores[order]
    best, where = ranking.top_k(torch.from_numpy(ranked).unsqueeze(0), k)
    best, where = best[0].numpy(), where[0].numpy()
    finite = np.isfinite(best)
    return order[where[finite]], best[finite]
