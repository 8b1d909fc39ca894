"""Whatever a user uploads, intake either reads it or raises a DataError: never another exception (no tracebacks)."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.data.columns import detect_roles
from engine.data.errors import DataError
from engine.data.read import RawTable, read_table
from engine.data.validate import build_dataset

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
