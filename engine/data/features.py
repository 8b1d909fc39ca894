"""Turn attribute tables into sparse feature matrices, the one encoding every feature-aware model shares.

Each attribute is a *field*; its columns are:
- categorical: one-hot over values seen at least `min_count` times (rarer values share an `<other>` column);
- multi (`a|b|c`): multi-hot, each of a row's k values weighted 1/k so a field always sums to one; a weighted
  cell (`{"rock": 9, "pop": 1}`, how often a tag was given) counts as the set of its values, unless the column's
  sets barely tell rows apart (`weighs_values`: a tag genome), where the one splits in proportion to the weights;
- numeric: a z-scored value plus a one-hot quantile bin (so linear and embedding models both get a handle);
  up to 20 bins of at least ~25 rows each, because effects such as a release year's are far from linear;
- date: days since 1970 encoded like a numeric (a release or publication date says how recent an item is);
- text: TF-IDF over lower-cased word tokens, L2-normalised, vocabulary capped by document frequency.
Missing values give an all-zero field. Rows follow `ids`; unknown ids look up as all-zero rows. The result is an
`engine.core.features.FeatureMatrix`, which models read without importing this encoder.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.core.features import FeatureMatrix, NumericLayout
from engine.data.cell_values import multi_value_rows
from engine.data.dataset import AttributeKind

_TOKEN = re.compile(r"[a-z0-9]{2,}")


def _categorical(values: pd.Series, name: str, min_count: int) -> tuple[sp.csr_matrix, list[str]]:
    text = values.astype("string")
    counts = text.value_counts()
    kept = sorted(counts.index[counts >= min_count].tolist())
    has_other = bool((counts < min_count).any())
    columns = [f"{name}={v}" for v in kept] + ([f"{name}=<other>"] if has_other else [])
    lookup = {v: i for i, v in enumerate(kept)}
    other = len(kept)
    rows, cols = [], []
    for row, value in enumerate(text.tolist()):
        if value is pd.NA or value is None:
            continue
        col = lookup.get(value, other if has_other else -1)
        if col >= 0:
            rows.append(row)
            cols.append(col)
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(values), len(columns))), columns


DENSE_SET_SHARE = 0.5
"""A multi-valued column whose typical value is on more than this share of its rows has values that barely tell
rows apart (MovieLens' tag genome gives every movie all 1,128 tags); there its weights do, so a row splits its one
in proportion to them. Elsewhere a weighted cell counts as its set: read as term frequencies, tag counts lost
0.008-0.020 NDCG@20 on the development data (docs/results.md, "A tag's counts")."""


def weighs_values(rows: pd.DataFrame) -> bool:
    """Whether a multi-valued column's weights, not its sets, tell its rows apart (`rows` from `multi_value_rows`):
    its weights vary and its typical value is on more than `DENSE_SET_SHARE` of the rows that have any."""
    present = rows["row"].nunique()
    if present == 0 or rows["weight"].nunique() < 2:
        return False
    return float((rows["value"].value_counts() / present).median()) > DENSE_SET_SHARE


def _multi(values: pd.Series, name: str, min_count: int) -> tuple[sp.csr_matrix, list[str]]:
    """A column per value found on `min_count` rows or more; a row's k kept values weigh 1/k each, or, in a column
    whose weights tell rows apart (`weighs_values`), their share of the row's weights."""
    rows = multi_value_rows(values)
    weighted = weighs_values(rows)
    counts = rows["value"].value_counts()
    kept = sorted(counts.index[counts >= min_count].tolist())
    cols = pd.Index(kept, dtype=object).get_indexer(rows["value"]) if kept else np.full(len(rows), -1)
    rows = rows.assign(col=cols).loc[cols >= 0]
    data = (rows["weight"].to_numpy() / rows.groupby("row")["weight"].transform("sum").to_numpy() if weighted
            else 1.0 / rows.groupby("row")["value"].transform("size").to_numpy())
    matrix = sp.csr_matrix((data.astype(np.float32), (rows["row"].to_numpy(), rows["col"].to_numpy())),
                           shape=(len(values), len(kept)))
    return matrix, [f"{name}={v}" for v in kept]


def numeric_levels(values: pd.Series, kind: AttributeKind) -> np.ndarray:
    """A numeric or date attribute as floats (dates as days since 1970); missing or unreadable values are NaN."""
    if kind == "date":
        # in seconds: nanoseconds overflow before 1677 (a '0001-01-01' placeholder date)
        days = (parse_dates(values).dt.as_unit("s") - pd.Timestamp(0, tz="UTC").as_unit("s")) / pd.Timedelta(days=1)
        return np.asarray(days, dtype=np.float64)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates or date-times as UTC timestamps; anything unreadable (or missing) becomes NaT."""
    return pd.to_datetime(values.astype("string"), errors="coerce", utc=True, format="mixed")


def _text(values: pd.Series, name: str, max_terms: int, min_df: int) -> tuple[sp.csr_matrix, list[str]]:
    docs = [_TOKEN.findall(str(v).lower()) if pd.notna(v) else [] for v in values.tolist()]
    df: dict[str, int] = {}
    for tokens in docs:
        for token in set(tokens):
            df[token] = df.get(token, 0) + 1
    n_docs = max(len(docs), 1)
    eligible = [t for t, c in df.items() if c >= min_df and c <= 0.9 * n_docs]
    vocab = sorted(sorted(eligible, key=lambda t: (-df[t], t))[:max_terms])
    lookup = {t: i for i, t in enumerate(vocab)}
    idf = np.array([np.log((1 + n_docs) / (1 + df[t])) + 1.0 for t in vocab], dtype=np.float64)
    rows, cols, data = [], [], []
    for row, tokens in enumerate(docs):
        counts: dict[int, int] = {}
        for token in tokens:
            if token in lookup:
                counts[lookup[token]] = counts.get(lookup[token], 0) + 1
        if not counts:
            continue
        weights = np.array([c * idf[i] for i, c in counts.items()])
        weights /= np.linalg.norm(weights)
        rows.extend([row] * len(counts))
        cols.extend(counts.keys())
        data.extend(weights.tolist())
    matrix = sp.csr_matrix((np.asarray(data, dtype=np.float32), (rows, cols)), shape=(len(docs), len(vocab)))
    return matrix, [f"{name}~{t}" for t in vocab]


def encode_attributes(
    table: pd.DataFrame,
    id_column: str,
    kinds: dict[str, AttributeKind],
    *,
    min_count: int = 2,
    max_text_terms: int = 2000,
) -> FeatureMatrix:
    """Encode every non-ignored attribute of `table` into one sparse matrix with a field per attribute."""
    blocks: list[sp.csr_matrix] = []
    columns: list[str] = []
    column_field: list[int] = []
    field_names: list[str] = []
    layouts: dict[str, NumericLayout] = {}
    for name, kind in kinds.items():
        if kind == "ignore" or name == id_column or name not in table.columns:
            continue
        values = table[name]
        if kind == "categorical":
            block, labels = _categorical(values, name, min_count)
        elif kind == "multi":
            block, labels = _multi(values, name, min_count)
        elif kind in ("numeric", "date"):
            levels = numeric_levels(values, kind)
            if np.isnan(levels).all():  # no usable value: the field gets no columns
                continue
            layouts[name] = layout = NumericLayout.fit(levels)
            block, labels = layout.encode(levels), layout.labels(name)
        elif kind == "text":
            block, labels = _text(values, name, max_text_terms, min_df=min_count)
        else:
            raise ValueError(f"unknown attribute kind {kind!r} for column {name!r}")
        if not labels:
            continue
        column_field.extend([len(field_names)] * len(labels))
        field_names.append(name)
        blocks.append(block)
        columns.extend(labels)
    ids = table[id_column].astype(str).to_numpy(dtype=object)
    matrix = sp.hstack(blocks, format="csr", dtype=np.float32) if blocks else sp.csr_matrix((len(ids), 0), dtype=np.float32)
    return FeatureMatrix(ids, matrix, columns, np.asarray(column_field, dtype=np.int64), field_names, layouts)


class NewRowEncoder:
    """The columns one made-up row would get if it were appended to `table` and the whole table encoded again with
    `encode_attributes` (the new row's own value counts towards `min_count`), without encoding the table again.

    Categorical and multi-valued fields are looked up in value counts taken once; a text field, whose TF-IDF
    weights shift with every document, is encoded again with the row appended (that field alone). Numeric and
    date fields are not handled here: they follow the fitted `NumericLayout`.
    """

    def __init__(self, table: pd.DataFrame, id_column: str, kinds: dict[str, AttributeKind], *,
                 min_count: int = 2, max_text_terms: int = 2000) -> None:
        self.table = table.astype(object)
        self.id_column = id_column
        self.kinds = {name: kind for name, kind in kinds.items() if name in table.columns and name != id_column}
        self.min_count = min_count
        self.max_text_terms = max_text_terms
        self._counts: dict[str, dict[str, int]] = {}
        self._weighs: dict[str, bool] = {}
        for name, kind in self.kinds.items():
            if kind == "categorical":
                self._counts[name] = self.table[name].astype("string").value_counts().to_dict()
            elif kind == "multi":
                rows = multi_value_rows(self.table[name])
                self._counts[name] = rows["value"].value_counts().to_dict()
                self._weighs[name] = weighs_values(rows)

    def entries(self, values: dict[str, object]) -> list[tuple[str, float]]:
        """(column label, value) pairs of the made-up row with attribute `values` (categorical, multi and text
        fields; others are left out)."""
        out: list[tuple[str, float]] = []
        for name, value in values.items():
            kind = self.kinds.get(name)
            if kind == "categorical":
                out += self._categorical(name, value)
            elif kind == "multi":
                out += self._multi(name, value)
            elif kind == "text":
                out += self._text(name, value)
        return out

    def _categorical(self, name: str, value: object) -> list[tuple[str, float]]:
        text = pd.Series([value], dtype=object).astype("string").iloc[0]
        if text is pd.NA:
            return []
        counts = self._counts[name]
        if counts.get(text, 0) + 1 >= self.min_count:
            return [(f"{name}={text}", 1.0)]
        return [(f"{name}=<other>", 1.0)]  # the row's own rare value gives the field an <other> column

    def _multi(self, name: str, value: object) -> list[tuple[str, float]]:
        counts = self._counts[name]
        rows = multi_value_rows(pd.Series([value], dtype=object))
        rows = rows.loc[[counts.get(t, 0) + 1 >= self.min_count for t in rows["value"]]].sort_values("value")
        if rows.empty:
            return []
        shares = rows["weight"] / rows["weight"].sum() if self._weighs[name] else pd.Series(1.0 / len(rows), rows.index)
        return [(f"{name}={token}", float(np.float32(share))) for token, share in zip(rows["value"], shares)]

    def _text(self, name: str, value: object) -> list[tuple[str, float]]:
        column = pd.concat([self.table[name], pd.Series([value], dtype=object)], ignore_index=True)
        matrix, labels = _text(column, name, self.max_text_terms, min_df=self.min_count)
        last = matrix[len(column) - 1].tocoo()
        return [(labels[c], float(v)) for c, v in zip(last.col, last.data)]
