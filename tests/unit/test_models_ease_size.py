"""EASE says it is not applicable above its size limit, before fitting, instead of running out of memory."""

from __future__ import annotations

import pytest

from engine.data.indexing import build_train_data
from engine.data.synthetic import generate_synthetic
from engine.models import ease
from engine.models.registry import create_model


def test_ease_is_applicable_up_to_its_item_limit_and_says_why_not_above_it():
    assert ease.not_applicable_at_size(ease.MAX_ITEMS) is None
    reason = ease.not_applicable_at_size(50_000)
    assert reason.startswith("EASE is not applicable at this size, because")
    assert "50,000 x 50,000" in reason and "about 56 GB" in reason and "limit 25,000 items" in reason


def test_fitting_ease_on_too_many_items_fails_with_that_reason_before_allocating(monkeypatch):
    data = build_train_data(generate_synthetic(60, 40, 900, seed=1).positives())
    monkeypatch.setattr(ease, "MAX_ITEMS", data.n_items - 1)
    with pytest.raises(ValueError, match="not applicable at this size") as error:
        create_model("ease", {}).fit(data)
    assert f"limit {data.n_items - 1:,} items" in str(error.value)
