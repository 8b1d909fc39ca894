"""Iterative models that do not use the shared training loop still report a number per iteration, so their runs get
a training curve instead of an empty chart."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from engine.core.model import FitContext
from engine.models.als import ALSRecommender, weighted_loss
from engine.models.attribute_mapper import AttributeMapperRecommender
from tests.unit.tiny_world import tiny_world


class RecordingProgress:
    """A `ProgressReporter` that keeps what the model reported."""

    def __init__(self) -> None:
        self.reports: list[dict] = []

    def report(self, **event) -> None:
        self.reports.append(event)

    def log(self, message: str) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def test_weighted_loss_equals_the_als_objective_summed_over_every_pair():
    rng = np.random.default_rng(0)
    matrix = sp.random(12, 9, density=0.3, random_state=1, format="csr", dtype=np.float32)
    matrix.data[:] = rng.integers(1, 4, len(matrix.data))
    users = torch.from_numpy(rng.normal(size=(12, 3)).astype(np.float32))
    items = torch.from_numpy(rng.normal(size=(9, 3)).astype(np.float32))
    ratings = matrix.toarray()
    confidence = 1.0 + 2.0 * ratings
    errors = (ratings > 0) - (users @ items.T).numpy()
    penalty = 0.5 * float((users ** 2).sum() + (items ** 2).sum())
    expected = ((confidence * errors ** 2).sum() + penalty) / confidence.sum()
    assert weighted_loss(matrix, users, items, regularization=0.5, alpha=2.0) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("model_class", [ALSRecommender, AttributeMapperRecommender])
def test_each_als_iteration_reports_its_loss_and_the_loss_goes_down(model_class):
    progress = RecordingProgress()
    model_class({"factors": 8, "iterations": 5}, seed=0).fit(tiny_world().data, FitContext(progress=progress))
    assert [event["epoch"] for event in progress.reports] == [1, 2, 3, 4, 5]
    losses = [event["loss"] for event in progress.reports]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
