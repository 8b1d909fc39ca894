"""Read the notations public files write list-valued and numeric cells in, so attributes see values, not strings.

Lists: `Action|Indie` (MovieLens), `['Action', 'Indie']` (Python lists, as Kaggle exports of Steam write tags),
`["Action", "Indie"]` (JSON), `Action, Indie` (Steam's genres, Book-Crossing's 'city, state, country'); a list of
objects by each object's name (Goodreads' shelves, MIND's entities). Weighted lists: an object of numbers
`{"rock": 9, "pop": 2}` (how often each tag was given, a tag's relevance), and a list of objects that each carry a
count (Goodreads' shelves `[{"count": "3", "name": "to-read"}]`); stored as that object, heaviest value first. Amounts:
`$12.99`, `1,234`, `12.5%`, `€3`, and `Free` / `Free to Play` for a price of 0. Everything is vectorised except
the bracketed lists, which are parsed cell by cell (`json`, then `ast.literal_eval`, which runs nothing).
"""

from __future__ import annotations

import ast
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from engine.data.dataset import MULTI_VALUE_SEPARATOR

LIST_SEPARATORS = (MULTI_VALUE_SEPARATOR, ";", ",")
_FREE = ("free", "free to play", "free-to-play")
_UNITS = r"^[$€£¥]\s*|\s*%$"
_THOUSANDS = r"(?<=\d),(?=\d{3}(\D|$))"
_SEPARATOR_SAMPLE = 5000  # cells a column's list separator is told from, as kinds are
_NAMING_KEYS = ("name", "Name", "label", "Label", "tag", "title", "value")
_WEIGHT_KEYS = ("count", "Count", "weight", "Weight", "score", "relevance", "frequency", "n")


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


def list_weights(value: list | tuple) -> dict[str, float] | None:
    """A parsed list of objects that each name a value and count it (`[{"count": "3", "name": "to-read"}]`) as
    {value: weight}; None when any element lacks either."""
    weights: dict[str, float] = {}
    for element in value:
        if not isinstance(element, dict):
            return None
        key = naming_key(element)
        count = next((element[k] for k in _WEIGHT_KEYS if k in element and k != key), None)
        name = element.get(key) if key is not None else None
        weight = _number(count)
        if name is None or not str(name).strip() or weight is None:
            return None
        name = str(name).strip()
        weights[name] = weights.get(name, 0.0) + weight
    return weights or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def weighted_values(cell: Any) -> dict[str, float] | None:
    """The {value: weight} of a weighted cell (an object of numbers, as text or as a dict), its values with a
    weight above 0 only; None for any other cell."""
    if isinstance(cell, str):
        text = cell.strip()
        if not (text.startswith("{") and text.endswith("}")):
            return None
        cell = _parsed(text)
    if not isinstance(cell, dict) or not cell or any(isinstance(v, bool) for v in cell.values()):
        return None
    try:
        numbers = {str(k).strip(): float(v) for k, v in cell.items()}
    except (TypeError, ValueError):
        return None
    if len(numbers) < len(cell) or not all(numbers) or not all(map(math.isfinite, numbers.values())):
        return None
    return {k: v for k, v in numbers.items() if v > 0}


def weighted_notation(weights: dict[str, float]) -> str | None:
    """The stored notation of weighted values: a JSON object, heaviest first; None for none."""
    kept = sorted(((k, v) for k, v in weights.items() if v > 0), key=lambda kv: -kv[1])
    numbers = {k: int(v) if float(v).is_integer() else round(v, 6) for k, v in kept}
    return json.dumps(numbers, ensure_ascii=False) if numbers else None


def weighted_cells(values: pd.Series) -> dict[int, dict[str, float]]:
    """Position -> {value: weight} of each cell that weighs its values (`{"rock": 9, "pop": 2}`), each parsed
    once."""
    text = _text(values)
    braced = np.flatnonzero((text.str.startswith("{") & text.str.endswith("}")).fillna(False).to_numpy(bool))
    parsed = zip(braced.tolist(), (weighted_values(cell) for cell in text.iloc[braced].tolist()))
    return {position: weights for position, weights in parsed if weights is not None}


def is_weighted(values: pd.Series) -> pd.Series:
    """Cells that weigh their values (`{"rock": 9, "pop": 2}`)."""
    return pd.Series(_marked(weighted_cells(values), len(values)), index=values.index)


def _marked(positions: dict[int, Any], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[list(positions)] = True
    return out


def multi_value_rows(values: pd.Series) -> pd.DataFrame:
    """One row per distinct value of each multi-valued cell: `row` (the cell's position), `value` and `weight` (1
    for a plain `a|b` list, the cell's own weight for a weighted one), in cell order; missing cells give no row."""
    cells = pd.Series(values.to_numpy(dtype=object))
    parsed = weighted_cells(cells)
    plain = cells[~_marked(parsed, len(cells))].dropna().astype(str)
    parts = plain.str.split(MULTI_VALUE_SEPARATOR, regex=False).explode().str.strip()
    parts = parts[parts.notna() & (parts != "")]
    frame = pd.DataFrame({"row": parts.index.to_numpy(dtype=np.int64), "value": parts.to_numpy(dtype=object),
                          "weight": 1.0})
    listed = [(row, value, weight) for row, weights in parsed.items() for value, weight in weights.items()]
    if listed:
        frame = pd.concat([frame, pd.DataFrame(listed, columns=["row", "value", "weight"])], ignore_index=True)
    frame = frame.sort_values("row", kind="stable").drop_duplicates(["row", "value"])
    return frame.reset_index(drop=True)


def _parsed(cell: str) -> Any:
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(cell)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
    return None


def _bracketed(cell: str) -> list | None:
    parsed = _parsed(cell)
    return list(parsed) if isinstance(parsed, (list, tuple)) else None


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


def listed_cell(value: list | tuple) -> str | None:
    """A parsed list in the stored notation: weighted when its objects count their values, else `a|b|c`."""
    weights = list_weights(value)
    return weighted_notation(weights) if weights is not None else joined_values(list_values(value))


def as_multi_values(values: pd.Series) -> pd.Series:
    """Each cell's list in the stored multi-valued notation, `a|b|c` or a weighted `{"a": 2.0, "b": 1.0}`:
    bracketed lists parsed (`[a, b]` without quotes split on its commas), objects of numbers kept as weights, other
    cells split on the column's separator; an empty list is a missing value."""
    text = _text(values)
    bracketed = is_bracketed_list(text).to_numpy(bool)
    parsed = weighted_cells(text)
    separator = list_separator(text[~bracketed & ~_marked(parsed, len(text))].head(_SEPARATOR_SAMPLE)) \
        or MULTI_VALUE_SEPARATOR
    out: list[str | None] = []
    for position, (cell, is_list) in enumerate(zip(text.tolist(), bracketed.tolist())):
        if cell is pd.NA or cell is None:
            out.append(None)
        elif position in parsed:
            out.append(weighted_notation(parsed[position]))
        elif is_list:
            parsed = _bracketed(cell)
            out.append(listed_cell(parsed) if parsed is not None else joined_values(cell[1:-1].split(",")))
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
