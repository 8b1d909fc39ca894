"""A made-up row's columns from `NewRowEncoder` are exactly those it gets when appended to the table and the
whole table is encoded again (the slow way it replaced), for common, rare, unseen and mixed values."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.data.features import NewRowEncoder, encode_attributes
from engine.data.synthetic import generate_synthetic

ITEMS = generate_synthetic(60, 40, 900, seed=1).items
KINDS = {"category": "categorical", "tags": "multi", "title": "text"}
TAG_COUNTS = ITEMS["tags"].str.split("|").explode().value_counts()
RARE_TAG = TAG_COUNTS.index[TAG_COUNTS == 1][0] if (TAG_COUNTS == 1).any() else "solo"


def _appended(values: dict) -> dict[str, float]:
    row = {"item_id": "<new item>", **values}
    table = pd.concat([ITEMS.astype(object), pd.DataFrame([row]).astype(object)], ignore_index=True)
    encoded = encode_attributes(table, "item_id", KINDS)
    last = encoded.matrix[len(table) - 1].tocoo()
    return {encoded.columns[c]: float(v) for c, v in zip(last.col, last.data)}


@pytest.mark.parametrize("values", [
    {"category": "books"},
    {"category": "never-seen"},
    {"category": 7},
    {"tags": "eco|kids"},
    {"tags": f"eco|{RARE_TAG}|brand-new"},
    {"tags": " | "},
    {"title": "Happy eco songs"},
    {"title": "words nobody wrote"},
    {"category": "games", "tags": "vintage", "title": "Grand arena", "price": 3.0},
])
def test_a_new_row_gets_the_columns_appending_it_and_encoding_everything_again_gives(values):
    encoder = NewRowEncoder(ITEMS, "item_id", KINDS)
    got = dict(encoder.entries(values))
    assert got.keys() == _appended(values).keys()
    assert got == pytest.approx(_appended(values), rel=1e-6)
