"""Small planted splits for the gradient models' paper-idea tests: the synthetic shop cut by the real protocols.

The synthetic shop's tastes follow user and item attributes (engine/data/synthetic.py), so a model that uses
attributes well must find new items (users) better than chance. Cached per process: each split is built once.
"""

from __future__ import annotations

from functools import lru_cache

from engine.core.data import TrainData
from engine.core.model import Recommender
from engine.data.indexing import build_train_data
from engine.data.synthetic import generate_synthetic
from engine.metrics.evaluation import evaluate
from engine.protocols import Split
from engine.runs.protocol_catalog import make_split

K = 10


@lru_cache(maxsize=None)
def planted_split(protocol: str, seed: int = 0) -> tuple[Split, TrainData]:
    """A seeded split of a 300-user, 120-item synthetic shop (about 3,000 positives) by `protocol`."""
    dataset = generate_synthetic(n_users=300, n_items=120, n_interactions=6000, seed=seed)
    split = make_split(dataset, protocol, seed)
    return split, build_train_data(split.train, dataset)


def test_ndcg(model: Recommender, protocol: str, seed: int = 0) -> float:
    """NDCG@10 of a fitted model on the protocol's own test slice."""
    split, train = planted_split(protocol, seed)
    test_slice = next(s for s in split.test if s.name == protocol)
    result = evaluate(model, train, [test_slice], (K,), seed=seed, n_bootstrap=0, beyond=False)
    return float(result.slices[protocol][f"ndcg@{K}"].mean)


test_ndcg.__test__ = False  # a helper named for what it measures, not a pytest test
