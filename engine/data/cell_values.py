"""Read the notations public files write list-valued and numeric cells in, so attributes see values, not strings.

Lists: `Action|Indie` (MovieLens), `['Action', 'Indie']` (Python lists, as Kaggle exports of Steam write tags),
`["Action", "Indie"]` (JSON), `Action, Indie` (Steam's genres, Book-Crossing's 'city, state, country'); a list of
objects by each object's name (Goodreads' shelves, MIND's entities). Amounts:
`$12.99`, `1,234`, `12.5%`, `€3`, and `Free` / `Free to Play` for a price of 0. Everything is vectorised except
the bracketed lists, which are parsed cell by cell (`json`, then `ast.literal_eval`, which runs nothing).
"""

from __future__ import annotations

import ast
import json
from typing import Any

import pandas as pd

from engine.data.dataset import MULTI_VALUE_SEPARATOR

LIST_SEPARATORS = (MULTI_VALUE_SEPARATOR, ";", ",")
_FREE = ("free", "free to play", "free-to-play")
_UNITS = r"^[$€£¥]\s*|\s*%$"
_THOUSANDS = r"(?<=\d),(?=\d{3}(\D|$))"
_SEPARATOR_SAMPLE = 5000  # cells a column's list separator is told from, as kinds are
_NAMING_KEYS = ("name", "Name", "label", "Label", "tag", "title", "value")


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip()


def is_bracketed_list(values: pd.Series) -> pd.Series:
    """Cells written as a Python or JSON list: `['a', 'b']`, `["a"]`, `[]`."""
    text = _text(values)
    return (text.str.startswith("[") & text.str.endswith("]")).fillna(False).astype(bool)


def naming_key(record: dict) -> Any:
    """The field that names a listed object: Goodreads' shelves {"count": "3", "name": "to-read"} by their name,
    MIND's entities by their label, others (Goodreads' authors {"author_id": "604031", "role": ""}) by their first
    field; None for an empty object."""
    return next((k for k in _NAMING_KEYS if k in record), next(iter(record), None))


def _naming_field(record: dict) -> Any:
    key = naming_key(record)
    return record.get(key) if key is not None else None


def list_values(value: list | tuple) -> list[str]:
    """A parsed list's values as text: nested lists flattened, objects by their naming field, blanks dropped."""
    out: list[str] = []
    for element in value:
        if isinstance(element, (list, tuple)):
            out.extend(list_values(element))
        elif isinstance(element, dict):
            out.extend(list_values([_naming_field(element)]))
        elif element is not None and str(element).strip():
            out.append(str(element).strip())
    return out


def _bracketed(cell: str) -> list[str] | None:
    for parse in (json.loads, ast.literal_eval):
        try:
            parsed = parse(cell)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(parsed, (list, tuple)):
            return list_values(parsed)
    return None


def list_separator(values: pd.Series) -> str | None:
    """The separator of a column of short lists, or None when its cells do not read as lists: `|` when some cell
    holds one, else `;` or `,` when at least a tenth of the cells hold one and the parts repeat across rows (tags,
    genres, places), unlike the parts of titles or sentences that merely contain a comma."""
    text = _text(values).dropna()
    text = text[text != ""]
    if text.empty:
        return None
    if text.str.contains(MULTI_VALUE_SEPARATOR, regex=False).mean() > 0.1:
        return MULTI_VALUE_SEPARATOR
    for separator in LIST_SEPARATORS[1:]:
        if text.str.contains(separator, regex=False).mean() <= 0.1:
            continue
        parts = text.str.split(separator).explode().str.strip()
        parts = parts[parts != ""]
        words = parts.str.count(r"\s+") + 1
        if not parts.empty and words.mean() <= 3 and parts.nunique() <= 0.5 * len(parts):
            return separator
    return None


def joined_values(parts: list[str]) -> str | None:
    """Distinct non-blank values in the stored multi-valued notation `a|b|c` (a '|' inside a value becomes '/');
    None for none."""
    values = dict.fromkeys(p.strip().replace(MULTI_VALUE_SEPARATOR, "/") for p in parts if p and p.strip())
    return MULTI_VALUE_SEPARATOR.join(values) or None


def as_multi_values(values: pd.Series) -> pd.Series:
    """Each cell's list as `a|b|c` (the stored multi-valued notation): bracketed lists parsed (`[a, b]` without
    quotes split on its commas), other cells split on the column's separator; an empty list is a missing value."""
    text = _text(values)
    bracketed = is_bracketed_list(text)
    separator = list_separator(text[~bracketed].head(_SEPARATOR_SAMPLE)) or MULTI_VALUE_SEPARATOR
    out: list[str | None] = []
    for cell, is_list in zip(text.tolist(), bracketed.tolist()):
        if cell is pd.NA or cell is None:
            out.append(None)
        elif is_list:
            parsed = _bracketed(cell)
            out.append(joined_values(parsed if parsed is not None else cell[1:-1].split(",")))
        else:
            out.append(joined_values(cell.split(separator)))
    return pd.Series(out, index=values.index, dtype="str")


def to_amounts(values: pd.Series) -> pd.Series:
    """Numbers written with a currency sign, thousands separators or a percent sign as floats, 'Free' as 0;
    anything else NaN."""
    text = _text(values)
    text = text.str.replace(_UNITS, "", regex=True).str.replace(_THOUSANDS, "", regex=True)
    text = text.mask(text.str.lower().isin(_FREE), "0")
    return pd.to_numeric(text, errors="coerce").astype("float64")


def has_units(values: pd.Series) -> pd.Series:
    """Cells that are numbers only once their units or a 'Free' are read (`$12.99`, `1,234`, `Free to Play`)."""
    plain = pd.to_numeric(_text(values), errors="coerce")
    return (plain.isna() & to_amounts(values).notna()).to_numpy(bool)
