"""Weighted multi-valued attributes: how often a tag was given, a shelf's count, a tag's relevance are kept from the
file to the stored table; the encoding reads a weighted cell as the set of its values (as term frequencies the
counts lost on the development data: docs/results.md, "A tag's counts")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.cell_values import as_multi_values, multi_value_rows, weighted_values
from engine.data.features import NewRowEncoder, encode_attributes
from engine.data.validate import AttributeInput, attribute_kinds, build_attributes


def test_cells_that_weigh_their_values_are_stored_heaviest_first_and_plain_lists_stay_plain() -> None:
    cells = pd.Series(['{"rock": 2, "pop": 9}', "{'jazz': 0.5, 'blues': 0}", "a|b", None, '{"x": "not a number"}',
                       '[{"name": "to-read", "count": "3"}, {"name": "owned", "count": 12}]'])
    stored = as_multi_values(cells)
    assert stored.iloc[:3].tolist() == ['{"pop": 9, "rock": 2}', '{"jazz": 0.5}', "a|b"] and pd.isna(stored.iloc[3])
    assert weighted_values(stored.iloc[5]) == {"owned": 12.0, "to-read": 3.0}
    rows = multi_value_rows(stored)
    assert list(rows.itertuples(index=False, name=None))[:5] == [
        (0, "pop", 9.0), (0, "rock", 2.0), (1, "jazz", 0.5), (2, "a", 1.0), (2, "b", 1.0)]
    assert (rows["row"] == 4).sum() == 1  # an object of words is no weighting: one value, as it was written


def _tag_log() -> pd.DataFrame:
    """MovieLens' tags.csv: one row per (user, movie, tag), dated; 'dark' given to m1 by three users."""
    rows = [("u1", "m1", "dark"), ("u2", "m1", "dark"), ("u3", "m1", "dark"), ("u3", "m1", "funny"),
            ("u1", "m2", "funny"), ("u2", "m2", "funny"), ("u1", "m3", "slow")] * 1
    rows += [(f"u{k}", f"m{4 + k % 4}", "slow") for k in range(20)]
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "tag"])
    return frame.assign(timestamp=1_100_000_000 + np.arange(len(frame)) * 86_400)


def test_a_long_table_weighs_each_value_by_its_rows_and_never_by_a_time_column() -> None:
    log = _tag_log()
    table, kinds, warnings = build_attributes(AttributeInput(log, "movieId"), "item_id", log["movieId"])
    tags = table.set_index("item_id")["tag"]
    assert weighted_values(tags["m1"]) == {"dark": 3.0, "funny": 1.0}
    assert weighted_values(tags["m2"]) == {"funny": 2.0}
    assert kinds["tag"] == "multi" and kinds["timestamp"] == "ignore"
    assert attribute_kinds(log, "movieId", "item") == kinds
    said = " ".join(map(str, warnings))
    assert "'tag' was given is kept, as the number of rows that give it to the id" in said and "'timestamp'" in said
    assert "'userId' of" not in said  # the example is a value the models use, not the ignored givers


def test_a_long_table_whose_values_each_occur_once_per_id_keeps_plain_lists() -> None:
    genres = pd.DataFrame({"movieId": [f"m{k // 2}" for k in range(40)],
                           "genre": ["Drama", "Comedy", "Action", "Drama"] * 10})
    table, kinds, _ = build_attributes(AttributeInput(genres, "movieId"), "item_id", genres["movieId"])
    assert kinds == {"genre": "multi"}
    assert table.set_index("item_id")["genre"].to_dict()["m0"] == "Drama|Comedy"


def test_a_weight_column_is_summed_per_value_and_a_zero_weight_drops_the_value() -> None:
    relevance = pd.DataFrame({"movieId": [f"m{k % 10}" for k in range(30)], "tagId": [str(k // 10) for k in range(30)],
                              "relevance": [0.0 if k == 3 else 0.1 * (k % 7) + 0.05 for k in range(30)]})
    table, kinds, _ = build_attributes(AttributeInput(relevance, "movieId"), "item_id", relevance["movieId"])
    assert kinds == {"tagId": "multi", "relevance": "ignore"}
    m3 = weighted_values(table.set_index("item_id").loc["m3", "tagId"])
    assert m3 == pytest.approx({"1": 0.65, "2": 0.25})  # tag 0's relevance of 0 says it is not about m3


def test_a_weighted_row_encodes_as_the_set_of_its_values_and_a_made_up_row_alike() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"],
                          "tags": ['{"rock": 3, "pop": 1, "gone": 0}', "rock|pop", '{"jazz": 2, "rock": 2}']})
    encoded = encode_attributes(items, "item_id", {"tags": "multi"}, min_count=1)
    dense = pd.DataFrame(encoded.matrix.toarray(), index=encoded.ids, columns=encoded.columns)
    assert "tags=gone" not in dense.columns  # weighed 0: not a value of the item
    assert dense.loc["a"].tolist() == dense.loc["b"].tolist()
    made_up = NewRowEncoder(items, "item_id", {"tags": "multi"}, min_count=1)
    expected = {"tags=jazz": 0.5, "tags=rock": 0.5}
    assert dict(made_up.entries({"tags": {"rock": 1, "jazz": 4}})) == expected
    assert dict(made_up.entries({"tags": '{"rock": 1, "jazz": 4}'})) == expected
    assert dict(made_up.entries({"tags": "rock|jazz"})) == expected
