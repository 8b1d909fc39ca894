"""Attribute tables in long format (one row per id and value) gathered to one row per id.

Tag assignments ship this way: HetRec Delicious' `bookmark_tags.dat` (bookmarkID, tagID, tagWeight), MovieLens'
`tags.csv`, Goodreads' `book_tags.csv`. Read as one row per id, the first row of each id would be kept and every
other tag dropped. When many rows repeat their id, the values of each column are gathered per id into one
multi-valued cell `a|b|c` (distinct values, in file order), which the kind inference then reads as `multi`.
How much each value counts is kept: a weighing column's sum per id and value (`tagWeight`, `count`,
`relevance`) or else the number of rows that give the id that value (MovieLens' `tags.csv`, one row per user who
gave a tag), as a weighted cell `{"funny": 12.0, "dark": 1.0}`; a column whose values each occur once per id
stays a plain list. A table where only a few ids repeat (a duplicated catalogue row) is left as it is: it is a
wide table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.data.cell_values import weighted_notation
from engine.data.columns import ids_as_strings, to_numbers
from engine.data.dataset import MULTI_VALUE_SEPARATOR

LONG_FORMAT_SHARE = 1 / 3
"""A table whose rows repeat an id of an earlier row this often (1.5 rows per id or more) is in long format."""
LONG_FORMAT_MIN_REPEATS = 10
"""...and at least this many rows repeat an id: a table of a few rows with one repeat is a duplicated row."""


def is_long_format(frame: pd.DataFrame, id_column: str) -> bool:
    """Whether the table holds several rows per id as a rule, not as the odd duplicate."""
    repeats = ids_as_strings(frame[id_column]).dropna().duplicated()
    return int(repeats.sum()) >= LONG_FORMAT_MIN_REPEATS and float(repeats.mean()) >= LONG_FORMAT_SHARE


def _gathered(ids: pd.Series, values: pd.Series, weights: pd.Series | None, weighed: bool) -> pd.Series:
    """Per id, its distinct non-empty values in file order, all in Arrow (a Python join per id took 12 s for a
    million tag rows): joined by '|', or, when `weighed` and the values do not all weigh alike, as a weighted cell
    of each value's summed `weights` (its number of rows when None)."""
    value = pc.utf8_trim_whitespace(pa.array(values.astype("string"), type=pa.string()))
    weight = np.ones(len(values)) if weights is None else weights.to_numpy(dtype=np.float64, na_value=np.nan)
    table = pa.table({"id": pa.array(ids.astype("string"), type=pa.string()), "value": value,
                      "weight": pa.array(np.nan_to_num(weight, nan=0.0, posinf=0.0, neginf=0.0))})
    table = table.append_column("row", pa.array(np.arange(len(table)))).filter(
        pc.and_(pc.is_valid(table["value"]), pc.not_equal(table["value"], "")))
    first_seen = table.group_by(["id", "value"], use_threads=False).aggregate(
        [("row", "min"), ("weight", "sum")]).sort_by("row_min")
    grouped = first_seen.group_by("id", use_threads=False).aggregate([("value", "list"), ("weight_sum", "list")])
    index = grouped["id"].to_numpy(zero_copy_only=False)
    lightest_heaviest = pc.min_max(pc.list_flatten(grouped["weight_sum_list"]))
    if not weighed or lightest_heaviest["min"] == lightest_heaviest["max"]:
        joined = pc.binary_join(grouped["value_list"], MULTI_VALUE_SEPARATOR)
        return pd.Series(joined.to_numpy(zero_copy_only=False), index=index)
    cells = [weighted_notation(dict(zip(v, w)))
             for v, w in zip(grouped["value_list"].to_pylist(), grouped["weight_sum_list"].to_pylist())]
    return pd.Series(cells, index=index, dtype=object)


def gather_by_id(frame: pd.DataFrame, id_column: str, plain: tuple[str, ...] = (),
                 weight_column: str | None = None) -> pd.DataFrame:
    """One row per id (rows without an id dropped), each other column's distinct non-empty values gathered: the
    `plain` columns (numbers that measure each row) joined by '|', the others weighted by `weight_column`'s sum, or
    by their number of rows when None."""
    ids = ids_as_strings(frame[id_column])
    present = ids.notna()
    weights = None if weight_column is None else to_numbers(frame.loc[present, weight_column])
    out = pd.DataFrame({id_column: ids[present].drop_duplicates()})
    for column in frame.columns:
        if column != id_column:
            weighed = column not in plain and column != weight_column
            gathered = _gathered(ids[present], frame.loc[present, column], weights, weighed)
            out[column] = out[id_column].map(gathered).astype(object)
    return out.reset_index(drop=True)
