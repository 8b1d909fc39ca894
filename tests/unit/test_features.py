"""Attribute encoding: one field per attribute, the columns a reader would expect, unknown ids as zero rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.features import encode_attributes


@pytest.fixture
def items() -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": ["a", "b", "c", "d"],
        "brand": ["acme", "acme", "zeta", None],
        "tags": ["x|y", "y", "x|y|z", "y|x"],
        "price": [1.0, 2.0, 3.0, None],
        "blurb": ["red fast car", "slow red bike", "fast blue car", "blue bike"],
        "sku": ["s1", "s2", "s3", "s4"],
    })


KINDS = {"brand": "categorical", "tags": "multi", "price": "numeric", "blurb": "text", "sku": "ignore"}


def test_categorical_values_below_min_count_share_an_other_column(items):
    fm = encode_attributes(items, "item_id", KINDS)
    brand = fm.values("brand", ["a", "b", "c", "d"]).toarray()
    brand_columns = [c for c in fm.columns if c.startswith("brand=")]
    assert brand_columns == ["brand=acme", "brand=<other>"]
    np.testing.assert_array_equal(brand, [[1, 0], [1, 0], [0, 1], [0, 0]])


def test_multi_valued_field_sums_to_one_per_row(items):
    fm = encode_attributes(items, "item_id", KINDS)
    tags = fm.values("tags", items["item_id"]).toarray()
    np.testing.assert_allclose(tags.sum(axis=1), 1.0, rtol=1e-6)
    # z appears once only (below min_count 2), so item c spreads its weight over x and y
    assert [c for c in fm.columns if c.startswith("tags=")] == ["tags=x", "tags=y"]
    np.testing.assert_allclose(tags[2], [0.5, 0.5])


def test_numeric_is_z_scored_and_binned_and_missing_is_all_zero(items):
    fm = encode_attributes(items, "item_id", KINDS)
    price = fm.values("price", items["item_id"]).toarray()
    np.testing.assert_allclose(price[:3, 0], [-1.2247449, 0.0, 1.2247449], rtol=1e-5)
    assert price[:3, 1:].sum(axis=1).tolist() == [1.0, 1.0, 1.0]
    assert not price[3].any()


def test_text_tf_idf_rows_are_unit_length_and_ignored_columns_are_absent(items):
    fm = encode_attributes(items, "item_id", KINDS)
    text = fm.values("blurb", items["item_id"]).toarray()
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, rtol=1e-5)
    assert "sku" not in fm.field_names
    assert fm.field_names == ["brand", "tags", "price", "blurb"]


def test_rows_returns_zero_rows_for_unknown_ids_in_the_requested_order(items):
    fm = encode_attributes(items, "item_id", KINDS)
    rows = fm.rows(["c", "nope", "a"]).toarray()
    np.testing.assert_array_equal(rows[0], fm.matrix[2].toarray()[0])
    assert not rows[1].any()
    np.testing.assert_array_equal(rows[2], fm.matrix[0].toarray()[0])


def test_unknown_kind_is_rejected_with_the_column_name(items):
    with pytest.raises(ValueError, match="brand"):
        encode_attributes(items, "item_id", {"brand": "colour"})


def test_dates_become_days_with_bins_and_unreadable_dates_an_all_zero_field():
    table = pd.DataFrame({"item_id": ["a", "b", "c", "d"],
                          "released": ["1995-01-01", "1995-01-03", "02-Jan-1995", "not a date"]})
    fm = encode_attributes(table, "item_id", {"released": "date"})
    released = fm.values("released", table["item_id"]).toarray()
    # days 9131, 9133, 9132 z-score to -1.22, 1.22, 0: the middle date sits in the middle
    np.testing.assert_allclose(released[:3, 0], [-1.2247449, 1.2247449, 0.0], rtol=1e-5)
    assert released[:3, 1:].sum(axis=1).tolist() == [1.0, 1.0, 1.0]
    assert not released[3].any()


def test_numeric_bins_grow_with_rows_up_to_twenty_of_about_25_rows_each():
    def n_bins(n_rows: int) -> int:
        table = pd.DataFrame({"item_id": [str(i) for i in range(n_rows)], "x": np.arange(n_rows, dtype=float)})
        return sum(c.startswith("x:bin") for c in encode_attributes(table, "item_id", {"x": "numeric"}).columns)

    assert n_bins(30) == 2
    assert n_bins(250) == 10
    assert n_bins(5000) == 20
