"""What a dataset looks like, as plain numbers and frames the Data page plots: size, sparsity, the long tail,
ratings, activity over time, attribute coverage and the cold part (users and items with few interactions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.data.columns import is_blank
from engine.data.cell_values import multi_value_rows
from engine.data.dataset import Dataset

COLD_BUCKETS = ("0", "1", "2-5", "6-20", ">20")
_BUCKET_EDGES = [-1, 0, 1, 5, 20, np.inf]
_WORD = r"[A-Za-z0-9]{2,}"
# The activity chart's bucket: the finest period that keeps the chart readable for the data's time span (days).
ACTIVITY_PERIODS = (("day", 180), ("week", 3 * 365), ("month", 30 * 365), ("year", np.inf))
# Period aliases (not offset aliases: `to_period` refuses "MS" and "YS", which name the start of a month or year).
_PERIOD_FREQUENCIES = {"day": "D", "week": "W-SUN", "month": "M", "year": "Y"}


@dataclass
class DatasetProfile:
    """A dataset's profile: `summary` for metrics, frames for charts and tables."""

    summary: dict[str, float | int]
    user_counts: pd.Series  # interactions per user, largest first; users with attributes only count 0
    item_counts: pd.Series
    ratings: pd.DataFrame | None  # rating, interactions (explicit feedback)
    counts: pd.DataFrame | None  # count (a range such as "5-8"), interactions (implicit feedback with counts)
    events: pd.DataFrame | None  # event, interactions
    activity: pd.DataFrame | None  # period (datetime), interactions, new_users, new_items
    activity_period: str | None  # "day" | "week" | "month" | "year"
    attributes: pd.DataFrame  # side, attribute, kind, coverage (share of all entities), cardinality
    cold_buckets: pd.DataFrame  # bucket, users, items


def _counts(ids: pd.Series, all_ids: pd.Index) -> pd.Series:
    counts = ids.value_counts()
    return counts.reindex(all_ids.union(counts.index), fill_value=0).sort_values(ascending=False, kind="stable")


def _entities(dataset: Dataset, side: str) -> pd.Index:
    column = f"{side}_id"
    table = dataset.attribute_table(side)
    known = pd.Index(dataset.interactions[column].unique())
    return known.union(pd.Index(table[column])) if table is not None else known


def _cardinality(values: pd.Series, kind: str) -> int:
    present = values.dropna()
    if kind == "multi":
        return int(multi_value_rows(present)["value"].nunique())
    if kind == "text":
        return int(present.astype(str).str.lower().str.findall(_WORD).explode().dropna().nunique())
    return int(present.nunique())


def _attributes(dataset: Dataset) -> pd.DataFrame:
    rows = []
    for side in ("user", "item"):
        table = dataset.attribute_table(side)
        if table is None:
            continue
        n_entities = len(_entities(dataset, side))
        for name, kind in dataset.attribute_kinds(side).items():
            values = table[name] if name in table.columns else pd.Series(dtype=object)
            present = ~is_blank(values)
            rows.append({"side": side, "attribute": name, "kind": kind,
                         "coverage": float(present.sum()) / max(n_entities, 1),
                         "cardinality": _cardinality(values[present], kind)})
    return pd.DataFrame(rows, columns=["side", "attribute", "kind", "coverage", "cardinality"])


def _count_ranges(counts: pd.Series) -> pd.DataFrame:
    """Interactions per range of counts that double in width (1, 2, 3-4, 5-8, ...): counts span orders of magnitude."""
    values = counts.to_numpy(np.float64)
    top = max(float(values.max()), 1.0)
    edges = [-np.inf, 0.0] + [2.0 ** k for k in range(int(np.ceil(np.log2(top))) + 1)]
    labels = ["0"] + [f"{int(low) + 1}-{int(high)}" if high - low > 1 else f"{int(high)}"
                      for low, high in zip([0.0] + edges[2:-1], edges[2:])]
    binned = pd.cut(values, edges, labels=labels).value_counts().reindex(labels, fill_value=0)
    if binned.iloc[0] == 0:
        binned = binned.iloc[1:]
    return binned.rename_axis("count").reset_index(name="interactions").astype({"count": str})


def _attribute_shares(dataset: Dataset) -> dict[str, float]:
    """Share of the users (items) with interactions that have a row in their attribute table."""
    shares = {}
    for side in ("user", "item"):
        table = dataset.attribute_table(side)
        if table is not None:
            active = pd.Index(dataset.interactions[f"{side}_id"].unique())
            shares[f"{side}s_with_attributes"] = float(active.isin(table[f"{side}_id"]).mean())
    return shares


def _activity(frame: pd.DataFrame) -> tuple[pd.DataFrame | None, str | None]:
    if "timestamp" not in frame.columns or frame.empty:
        return None, None
    when = pd.to_datetime(frame["timestamp"], unit="s")
    span_days = (when.max() - when.min()).days
    period = next(name for name, longest in ACTIVITY_PERIODS if span_days <= longest)
    bucket = when.dt.to_period(_PERIOD_FREQUENCIES[period]).dt.start_time
    # grouped by the id columns themselves (Arrow strings): to_numpy() made a Python string of every row
    first_user = bucket.groupby(frame["user_id"]).min()
    first_item = bucket.groupby(frame["item_id"]).min()
    activity = pd.DataFrame({
        "interactions": bucket.value_counts(),
        "new_users": first_user.value_counts(),
        "new_items": first_item.value_counts(),
    }).fillna(0).astype("int64").sort_index()
    activity.index.name = "period"
    return activity.reset_index(), period


def profile_dataset(dataset: Dataset) -> DatasetProfile:
    """Everything the Data page shows about a dataset, computed once (a million interactions: about a second)."""
    frame = dataset.interactions
    user_counts = _counts(frame["user_id"], _entities(dataset, "user"))
    item_counts = _counts(frame["item_id"], _entities(dataset, "item"))
    n_users, n_items, n_interactions = int((user_counts > 0).sum()), int((item_counts > 0).sum()), len(frame)
    positives = int((dataset.positive_weights() > 0).sum())  # counted, not copied: 20M rows took seconds
    summary: dict[str, float | int] = {
        "users": n_users,
        "items": n_items,
        "interactions": n_interactions,
        "density": n_interactions / max(n_users * n_items, 1),
        "positives": positives,
        "positive_share": positives / max(n_interactions, 1),
        "users_without_interactions": int((user_counts == 0).sum()),
        "items_without_interactions": int((item_counts == 0).sum()),
        "median_per_user": float(user_counts[user_counts > 0].median()) if n_users else 0.0,
        "median_per_item": float(item_counts[item_counts > 0].median()) if n_items else 0.0,
        "top_10pct_items_share": float(item_counts.head(max(n_items // 10, 1)).sum()) / max(n_interactions, 1),
        **_attribute_shares(dataset),
    }
    ratings = None
    if dataset.has_ratings:
        ratings = frame["rating"].value_counts().sort_index().rename_axis("rating").reset_index(name="interactions")
    counts = _count_ranges(frame["rating"]) if dataset.has_counts else None
    events = None
    if "event" in frame.columns:
        events = frame["event"].value_counts().rename_axis("event").reset_index(name="interactions")
    activity, period = _activity(frame)
    labels = pd.CategoricalIndex(COLD_BUCKETS, categories=COLD_BUCKETS, ordered=True)
    cold = pd.DataFrame({
        side: pd.cut(counts, _BUCKET_EDGES, labels=list(COLD_BUCKETS)).value_counts().reindex(labels, fill_value=0)
        for side, counts in (("users", user_counts), ("items", item_counts))
    }).rename_axis("bucket").reset_index()
    cold["bucket"] = cold["bucket"].astype(str)
    return DatasetProfile(summary, user_counts, item_counts, ratings, counts, events, activity, period,
                          _attributes(dataset), cold)
