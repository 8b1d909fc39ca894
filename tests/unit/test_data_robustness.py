"""Whatever a user uploads, intake either reads it or raises a DataError: never another exception (no tracebacks)."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.data.columns import detect_roles
from engine.data.errors import DataError
from engine.data.read import RawTable, read_table
from engine.data.validate import AttributeInput, attribute_kinds, build_dataset

_CELLS = st.text(alphabet=st.sampled_from(list("ab1 2.5,;|\t\"'\n-xé€\\")), max_size=6)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_read_or_refused_with_a_data_error(data: bytes):
    try:
        table = read_table(data, "upload.csv", max_mb=1)
    except DataError as error:
        assert str(error)
    else:
        assert isinstance(table, RawTable) and not table.frame.empty


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_CELLS, min_size=1, max_size=4), min_size=1, max_size=6))
def test_arbitrary_small_tables_are_validated_or_refused_with_a_data_error(rows: list[list[str]]):
    text = "\n".join(",".join(row) for row in rows)
    try:
        frame = read_table(text.encode("utf-8"), "upload.csv", max_mb=1).frame
        result = build_dataset(frame, detect_roles(frame))
    except DataError as error:
        assert str(error)
    else:
        interactions = result.dataset.interactions
        assert not interactions.duplicated(["user_id", "item_id"]).any()
        assert interactions["user_id"].nunique() >= 2 and interactions["item_id"].nunique() >= 2
        assert isinstance(interactions, pd.DataFrame)


_HEADERS = st.sampled_from(["item_id", "movie", "", " ", "tagID", "tagWeight", "author_id", "authorId", "genres",
                            "price", "id", "genres"])
_ATTRIBUTE_CELLS = st.one_of(_CELLS, st.sampled_from(["1", "7|8", "[1, 2]", "$3", "2020-01-01", "a, b"]))
_INTERACTIONS = "user_id,item_id,rating\n1,a,5\n2,b,3\n3,c,4\n1,b,2\n"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_HEADERS, min_size=2, max_size=4),
       st.lists(st.tuples(st.sampled_from(["a", "b", "c", "z", ""]), st.lists(_ATTRIBUTE_CELLS, min_size=3,
                                                                              max_size=3)), min_size=1, max_size=25))
def test_arbitrary_attribute_tables_are_read_or_refused_with_a_data_error(header: list[str], rows: list):
    """Blank and repeated header cells, an id column beside one named item_id, long tables of ids and weights."""
    width = len(header)
    text = ",".join(header) + "\n" + "\n".join(",".join([item, *cells][:width]) for item, cells in rows)
    interactions = read_table(_INTERACTIONS.encode(), "ratings.csv").frame
    try:
        items = read_table(text.encode("utf-8"), "items.csv", max_mb=1).frame
        id_column = str(items.columns[0])
        attribute_kinds(items, id_column, "item")
        result = build_dataset(interactions, detect_roles(interactions), items=AttributeInput(items, id_column))
    except DataError as error:
        assert str(error)
    else:
        assert result.dataset.items["item_id"].is_unique
