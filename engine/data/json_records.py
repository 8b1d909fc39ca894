"""Read JSON records (JSON lines, or one JSON array of objects) into a table of text cells.

Public review and catalogue dumps (Amazon reviews and metadata, Yelp, Goodreads) ship as one JSON object per line,
some older ones as Python dict literals (`{'asin': '0001', 'categories': [['Books']]}`), which `ast.literal_eval`
reads without running anything. Nested objects become columns named `outer.inner`; list cells (`categories`,
`genres`, tags) become multi-valued cells `a|b|c`, nested lists flattened and listed objects named by their name
(Goodreads' `popular_shelves`), so an attribute sees each value. A column listing objects named by an id
(Goodreads' `authors`: `[{"author_id": "604031", "role": ""}]`) is named `authors.author_id`, so its cells read as
ids of other entities, not as amounts. Every cell is text, as in a CSV read, so ids such as `0000013714` keep their
zeros.
"""

from __future__ import annotations

import ast
import json
from typing import Any

import pandas as pd

from engine.data.cell_values import listed_cell, naming_key
from engine.data.columns import names_an_id
from engine.data.errors import DataError

_FIX = ("Give one JSON object per line (JSON lines) or one JSON array of objects, e.g. "
        '{"user_id": "u1", "item_id": "i7", "rating": 4}')


def looks_like_json(text: str) -> bool:
    """Whether a text table is JSON records rather than delimited text: it opens with an object or an array."""
    return text.lstrip()[:1] in ("{", "[")


def _parse_line(line: str, name: str, number: int) -> Any:
    try:
        return json.loads(line)
    except RecursionError as error:
        raise DataError(f"{name} nests JSON too deeply", f"{name}, line {number}", _FIX) from error
    except json.JSONDecodeError as error:
        try:  # the Python-literal dumps of older data sets: single quotes, True/None
            return ast.literal_eval(line)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise DataError(f"{name} cannot be read as JSON lines ({error.msg})",
                            f"{name}, line {number}, column {error.colno}", _FIX) from error


def _records(text: str, name: str) -> list[dict]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except RecursionError as error:
            raise DataError(f"{name} nests JSON too deeply", name, _FIX) from error
        except json.JSONDecodeError as error:
            raise DataError(f"{name} cannot be read as a JSON array ({error.msg})",
                            f"{name}, line {error.lineno}, column {error.colno}", _FIX) from error
        first_line = 1
    else:
        records, first_line = [], 0
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                first_line = first_line or number
                records.append(_parse_line(line, name, number))
    if not isinstance(records, list) or not records:
        raise DataError(f"{name} holds no JSON records", name, _FIX)
    wrong = next((k for k, record in enumerate(records) if not isinstance(record, dict)), None)
    if wrong is not None:
        raise DataError(f"{name} holds a JSON value that is not an object ({type(records[wrong]).__name__})",
                        f"{name}, record {wrong + 1}", _FIX)
    return records


def _cell(value: Any) -> str | None:
    """A cell as text: lists as distinct values joined by '|' (weighted when its objects count them), other
    objects as JSON, None as missing."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (list, tuple)):
        return listed_cell(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _row(record: dict) -> dict[str, str | None]:
    """One record's cells as text, a nested object's fields as `outer.inner` columns (one level)."""
    row: dict[str, str | None] = {}
    for key, value in record.items():
        if isinstance(value, dict) and value:
            row.update({f"{str(key).strip()}.{str(inner).strip()}": _cell(v) for inner, v in value.items()})
        else:
            row[str(key).strip()] = _cell(value)
    return row


def _id_listing_columns(records: list[dict]) -> dict[str, str]:
    """`authors` -> `authors.author_id` for each column whose first listed object is named by an id field."""
    renamed: dict[str, str] = {}
    for record in records:
        for key, value in record.items():
            column = str(key).strip()
            if column in renamed or not isinstance(value, (list, tuple)):
                continue
            listed = next((element for element in value if isinstance(element, dict) and element), None)
            field = naming_key(listed) if listed is not None else None
            if field is not None and names_an_id(str(field)):
                renamed[column] = f"{column}.{str(field).strip()}"
    return renamed


def read_json_records(text: str, name: str) -> pd.DataFrame:
    """The records of a JSON lines file (or JSON array) as a frame of text cells, one row per record."""
    records = _records(text, name)
    frame = pd.DataFrame.from_records([_row(record) for record in records])
    if frame.shape[1] == 0:
        raise DataError(f"{name} holds only empty JSON objects", name, _FIX)
    frame = frame.rename(columns={column: renamed for column, renamed in _id_listing_columns(records).items()
                                  if renamed not in frame.columns})
    return frame.astype(object).where(frame.notna(), None)
