"""Weighted multi-valued attributes: how often a tag was given, a shelf's count, a tag's relevance are kept from the
file to the stored table; the encoding reads a weighted cell as the set of its values (as term frequencies the
counts lost on the development data: docs/results.md, "A tag's counts")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.cell_values import as_multi_values, multi_value_rows, weighted_notation, weighted_values
from engine.data.dataset import Dataset
from engine.data.features import NewRowEncoder, encode_attributes, weighs_values
from engine.data.indexing import build_train_data, item_query, user_query
from engine.data.synthetic_kinds import generate_kind
from engine.data.validate import AttributeInput, attribute_kinds, build_attributes
from engine.models.content import ContentRecommender
from tests.unit.model_fixtures import interactions


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
    items = pd.DataFrame({"item_id": list("abcdef"),
                          "tags": ['{"rock": 3, "pop": 1, "gone": 0}', "rock|pop", '{"jazz": 2, "rock": 2}', "x|y",
                                   '{"z": 4}', "w|v"]})
    encoded = encode_attributes(items, "item_id", {"tags": "multi"}, min_count=1)
    dense = pd.DataFrame(encoded.matrix.toarray(), index=encoded.ids, columns=encoded.columns)
    assert "tags=gone" not in dense.columns  # weighed 0: not a value of the item
    assert dense.loc["a"].tolist() == dense.loc["b"].tolist()
    made_up = NewRowEncoder(items, "item_id", {"tags": "multi"}, min_count=1)
    expected = {"tags=jazz": 0.5, "tags=rock": 0.5}
    assert dict(made_up.entries({"tags": {"rock": 1, "jazz": 4}})) == expected
    assert dict(made_up.entries({"tags": '{"rock": 1, "jazz": 4}'})) == expected
    assert dict(made_up.entries({"tags": "rock|jazz"})) == expected


def _genome() -> pd.DataFrame:
    """A tag genome: every movie carries every tag, with a relevance; only the relevances tell movies apart."""
    relevance = {"noir": [0.9, 0.8, 0.1, 0.2], "space": [0.1, 0.2, 0.9, 0.7], "remake": [0.5, 0.4, 0.5, 0.6]}
    cells = [weighted_notation({tag: values[m] for tag, values in relevance.items()}) for m in range(4)]
    return pd.DataFrame({"item_id": ["m0", "m1", "m2", "m3"], "genome": cells})


def test_where_every_row_has_every_value_the_weights_tell_rows_apart_and_are_encoded() -> None:
    items = _genome()
    assert weighs_values(multi_value_rows(items["genome"]))
    assert not weighs_values(multi_value_rows(generate_kind("tag-counts", 100, 300, 2_000, seed=1).items["tags"]))
    encoded = encode_attributes(items, "item_id", {"genome": "multi"}, min_count=1)
    dense = pd.DataFrame(encoded.matrix.toarray(), index=encoded.ids, columns=encoded.columns)
    assert dense.loc["m0", ["genome=noir", "genome=space", "genome=remake"]].tolist() == pytest.approx([0.6, 0.0667,
                                                                                                      0.3333], 1e-3)
    made_up = NewRowEncoder(items, "item_id", {"genome": "multi"}, min_count=1)
    assert dict(made_up.entries({"genome": {"noir": 3, "space": 1}})) == pytest.approx(
        {"genome=noir": 0.75, "genome=space": 0.25})


def test_content_tells_genome_rows_apart_by_their_relevances() -> None:
    """Every movie has the same three tags: as sets they are all alike; the relevances say m1 is like m0."""
    items = _genome()
    pairs = [("fan", "m0"), ("other", "m2")]
    dataset = Dataset(interactions(pairs).drop(columns="weight"), items=items, item_kinds={"genome": "multi"})
    data = build_train_data(interactions(pairs), dataset)
    scores = ContentRecommender({"min_df": 1}).fit(data).score(user_query(data, ["fan"]),
                                                                item_query(data, ["m1", "m3"]))
    assert scores[0, 0] > scores[0, 1]
