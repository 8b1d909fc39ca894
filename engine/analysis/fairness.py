"""The fairness view of finished runs: which user groups are served worse, and which items the lists expose.

Reads what runs recorded (per-user values, `top_k.parquet` lists) and the experiment's split (training popularity,
each slice's candidates); the figures are `engine.metrics.fairness`'s, computed per model (`variant`).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
from sqlalchemy import select

from engine.analysis.comparison import ComparisonError, attribute_groups
from engine.metrics.fairness import GAP_COLUMNS, GroupGaps, exposure, exposure_by_attribute, group_gaps
from engine.protocols.split import Split
from engine.runs.results import TOP_K_FILE
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.tables import RunRow

EXPOSURE_COLUMNS = ("variant", "k", "n_slots", "new_item_share", "new_item_catalogue_share", "gini",
                    "long_tail_share", "long_tail_catalogue_share", "recommended_popularity", "catalogue_popularity",
                    "popularity_lift")


USER_GROUP_KINDS = ("categorical", "multi", "numeric", "date")
"""Attribute kinds users are grouped by (numbers and dates in ranges); free text and ignored columns are not."""
ITEM_GROUP_KINDS = ("categorical", "multi")
"""Attribute kinds item exposure is broken down by: providers, categories, genres."""


def groupable(kinds: dict[str, str], allowed: tuple[str, ...]) -> list[str]:
    """The attributes of `allowed` kinds, categories first (the likeliest question: gender, genre, provider)."""
    return sorted((name for name, kind in kinds.items() if kind in allowed),
                  key=lambda name: (allowed.index(kinds[name]), name))


def user_group_gaps(per_user: pd.DataFrame, metric: str, slice_name: str, users: pd.DataFrame, attribute: str,
                    n_bins: int = 4, seed: int = 0) -> dict[str, GroupGaps]:
    """Per model, `metric` on `slice_name` per value of a user attribute (numbers in `n_bins` ranges) and each
    group's gap to the best-served group, flagged where its CI excludes zero."""
    if attribute not in users.columns or attribute == "user_id":
        raise ComparisonError(f"the users table has no attribute {attribute!r}; choose one of "
                              f"{', '.join(c for c in users.columns if c != 'user_id')}")
    labels, _ = attribute_groups(users.set_index(users["user_id"].astype(str))[attribute], n_bins)
    rows = per_user.loc[per_user["slice"] == slice_name] if metric in per_user.columns else per_user.iloc[:0]
    out: dict[str, GroupGaps] = {}
    for variant, frame in rows.groupby("variant", sort=True):
        values = frame.set_index(frame["user_id"].astype(str))[metric]
        try:
            out[variant] = group_gaps(values, labels, seed=seed)
        except ValueError:
            continue  # none of this run's users has a value of the attribute
    return out


def gap_table(gaps: dict[str, GroupGaps]) -> pd.DataFrame:
    """The per-group rows of every model, for a table or a chart."""
    frames = [g.table.assign(variant=variant) for variant, g in gaps.items()]
    if not frames:
        return pd.DataFrame(columns=["variant", *GAP_COLUMNS])
    return pd.concat(frames, ignore_index=True)[["variant", *GAP_COLUMNS]]


def load_top_k(runs: pd.DataFrame) -> pd.DataFrame:
    """The recorded top-K lists of `runs` (run_id, experiment_id, variant, slice, user_id, item_id, rank); runs
    recorded before lists were kept have none."""
    columns = ["run_id", "experiment_id", "variant", "slice", "user_id", "item_id", "rank"]
    with session_scope() as session:
        paths = dict(session.execute(select(RunRow.id, RunRow.artifact_path)
                                     .where(RunRow.id.in_(runs["run_id"].astype(int).tolist()))).all())
    frames = []
    for row in runs.itertuples():
        artifact = paths.get(int(row.run_id))
        file = get_settings().home / artifact / TOP_K_FILE if artifact else None
        if file is None or not file.is_file():
            continue
        lists = pd.read_parquet(file, columns=["slice", "user_id", "item_id", "rank"])
        frames.append(lists.assign(run_id=row.run_id, experiment_id=row.experiment_id, variant=row.variant))
    if not frames:
        return pd.DataFrame(columns=columns)
    lists = pd.concat(frames, ignore_index=True)[columns]
    return lists.astype({"user_id": str, "item_id": str})


def slice_catalogue(split: Split, slice_name: str) -> tuple[pd.Series, int]:
    """A test slice's candidates with their training popularity (users with a positive; 0 for new items), and
    the number of training users."""
    chosen = next((s for s in split.test if s.name == slice_name), None)
    if chosen is None:
        raise ComparisonError(f"the split has no test slice {slice_name!r}")
    counts = split.train.groupby(split.train["item_id"].astype(str))["user_id"].nunique()
    candidates = pd.Index(np.asarray(chosen.candidate_items).astype(str))
    return counts.reindex(candidates, fill_value=0), int(split.train["user_id"].nunique())


def exposure_table(top_k: pd.DataFrame, splits: dict[int, Split], slice_name: str, k: int) -> pd.DataFrame:
    """Item-side exposure figures per model on one slice at cut-off `k` (see `engine.metrics.fairness`)."""
    records = []
    for (variant, experiment_id), lists in top_k.loc[top_k["slice"] == slice_name].groupby(
            ["variant", "experiment_id"], sort=True):
        popularity, n_users = slice_catalogue(splits[int(experiment_id)], slice_name)
        figures = exposure(lists, k, popularity, n_users)
        records.append({"variant": variant, **asdict(figures), "popularity_lift": figures.popularity_lift})
    return pd.DataFrame.from_records(records, columns=list(EXPOSURE_COLUMNS))


def attribute_exposure_table(top_k: pd.DataFrame, splits: dict[int, Split], slice_name: str, k: int,
                             items: pd.DataFrame, attribute: str) -> pd.DataFrame:
    """Per model, each value of an item attribute's share of the top-`k` slots against its share of the
    slice's candidates."""
    if attribute not in items.columns or attribute == "item_id":
        raise ComparisonError(f"the items table has no attribute {attribute!r}; choose one of "
                              f"{', '.join(c for c in items.columns if c != 'item_id')}")
    values = items.set_index(items["item_id"].astype(str))[attribute]
    frames = []
    for (variant, experiment_id), lists in top_k.loc[top_k["slice"] == slice_name].groupby(
            ["variant", "experiment_id"], sort=True):
        candidates, _ = slice_catalogue(splits[int(experiment_id)], slice_name)
        catalogue = values.reindex(candidates.index)
        frames.append(exposure_by_attribute(lists, k, catalogue).assign(variant=variant))
    if not frames:
        return pd.DataFrame(columns=["variant", "value", "exposure_share", "catalogue_share", "ratio"])
    return pd.concat(frames, ignore_index=True)[["variant", "value", "exposure_share", "catalogue_share", "ratio"]]
