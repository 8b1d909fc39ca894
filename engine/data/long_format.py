"""Attribute tables in long format (one row per id and value) gathered to one row per id.

Tag assignments ship this way: HetRec Delicious' `bookmark_tags.dat` (bookmarkID, tagID, tagWeight), MovieLens'
`tags.csv`, Goodreads' `book_tags.csv`. Read as one row per id, the first row of each id would be kept and every
other tag dropped. When many rows repeat their id, the values of each column are gathered per id into one
multi-valued cell `a|b|c` (distinct values, in file order), which the kind inference then reads as `multi`.
A table where only a few ids repeat (a duplicated catalogue row) is left as it is: it is a wide table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.data.columns import ids_as_strings
from engine.data.dataset import MULTI_VALUE_SEPARATOR

LONG_FORMAT_SHARE = 1 / 3
"""A table whose rows repeat an id of an earlier row this often (1.5 rows per id or more) is in long format."""
LONG_FORMAT_MIN_REPEATS = 10
"""...and at least this many rows repeat an id: a table of a few rows with one repeat is a duplicated row."""


def is_long_format(frame: pd.DataFrame, id_column: str) -> bool:
    """Whether the table holds several rows per id as a rule, not as the odd duplicate."""
    repeats = ids_as_strings(frame[id_column]).dropna().duplicated()
    return int(repeats.sum()) >= LONG_FORMAT_MIN_REPEATS and float(repeats.mean()) >= LONG_FORMAT_SHARE


def _gathered(ids: pd.Series, values: pd.Series) -> pd.Series:
    """Per id, its distinct non-empty values joined by '|' in file order, all in Arrow (a Python join per id took
    12 s for a million tag rows)."""
    value = pc.utf8_trim_whitespace(pa.array(values.astype("string"), type=pa.string()))
    table = pa.table({"id": pa.array(ids.astype("string"), type=pa.string()), "value": value})
    table = table.append_column("row", pa.array(np.arange(len(table)))).filter(
        pc.and_(pc.is_valid(table["value"]), pc.not_equal(table["value"], "")))
    first_seen = table.group_by(["id", "value"], use_threads=False).aggregate([("row", "min")]).sort_by("row_min")
    grouped = first_seen.group_by("id", use_threads=False).aggregate([("value", "list")])
    joined = pc.binary_join(grouped["value_list"], MULTI_VALUE_SEPARATOR)
    return pd.Series(joined.to_numpy(zero_copy_only=False), index=grouped["id"].to_numpy(zero_copy_only=False))


def gather_by_id(frame: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """One row per id (rows without an id dropped), each other column's distinct non-empty values joined by '|'."""
    ids = ids_as_strings(frame[id_column])
    present = ids.notna()
    out = pd.DataFrame({id_column: ids[present].drop_duplicates()})
    for column in frame.columns:
        if column != id_column:
            out[column] = out[id_column].map(_gathered(ids[present], frame.loc[present, column])).astype(object)
    return out.reset_index(drop=True)
