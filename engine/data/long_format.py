"""Attribute tables in long format (one row per id and value) gathered to one row per id.

Tag assignments ship this way: HetRec Delicious' `bookmark_tags.dat` (bookmarkID, tagID, tagWeight), MovieLens'
`tags.csv`, Goodreads' `book_tags.csv`. Read as one row per id, the first row of each id would be kept and every
other tag dropped. When many rows repeat their id, the values of each column are gathered per id into one
multi-valued cell `a|b|c` (distinct values, in file order), which the kind inference then reads as `multi`.
A table where only a few ids repeat (a duplicated catalogue row) is left as it is: it is a wide table.
"""

from __future__ import annotations

import pandas as pd

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


def _joined(values: pd.Series) -> str | None:
    return MULTI_VALUE_SEPARATOR.join(dict.fromkeys(values)) or None


def gather_by_id(frame: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """One row per id (rows without an id dropped), each other column's distinct non-empty values joined by '|'."""
    ids = ids_as_strings(frame[id_column])
    present = ids.notna()
    out = pd.DataFrame({id_column: ids[present].drop_duplicates()})
    for column in frame.columns:
        if column == id_column:
            continue
        values = frame.loc[present, column].astype("string").str.strip()
        pairs = pd.DataFrame({"id": ids[present], "value": values})
        pairs = pairs[pairs["value"].notna() & (pairs["value"] != "")].drop_duplicates()
        gathered = pairs.groupby("id", sort=False)["value"].agg(_joined)
        out[column] = out[id_column].map(gathered).astype(object)
    return out.reset_index(drop=True)
