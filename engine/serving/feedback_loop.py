"""Feedback closes the loop: how much feedback each dataset's served runs gathered, and "retrain with feedback".

Retraining makes a new dataset version, the original plus the served feedback, with its lineage kept: the parent
version (`parent_id`), a `lineage` entry in its details, and `feedback_rows.parquet` beside its files naming every
row that came from feedback. Then the same models (same parameters, seeds and tuning budget) are queued on the same
protocol, parameters and split seed, so Compare shows the old runs against the new side by side.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select

from engine.data.catalog import check_dataset_name, load_dataset, save_dataset
from engine.data.dataset import Dataset
from engine.data.errors import DataError
from engine.jobs.queue import submit_runs
from engine.runs.experiments import create_experiment
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.journal import feedback_journal, items_journal
from engine.store.tables import DatasetRow, ExperimentRow, RunRow

FEEDBACK_ROWS_TABLE = "feedback_rows"


class FeedbackLoopError(ValueError):
    """A retrain that cannot be made as asked, with what to do instead."""


@dataclass(frozen=True)
class FeedbackTally:
    """The feedback gathered by the served runs of one dataset."""

    dataset_id: int
    events: int
    runs: tuple[int, ...]


@dataclass
class Retrained:
    """What "retrain with feedback" made: the new version, its experiment, the queued runs, the runs to compare."""

    dataset_id: int
    dataset_name: str
    experiment_id: int
    run_ids: list[int]
    compare_run_ids: list[int]
    feedback_rows: int
    skipped: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """One paragraph for the CLI and the page."""
        left_out = "; ".join(f"{n} left out: {why}" for why, n in self.skipped.items())
        return (f"dataset {self.dataset_id} '{self.dataset_name}' = its parent + {self.feedback_rows} feedback rows"
                + (f" ({left_out})" if left_out else "") + f"; experiment {self.experiment_id}; queued runs "
                f"{', '.join(map(str, self.run_ids))}; compare: {','.join(map(str, self.compare_run_ids))}")


def _dataset_runs(session) -> list[tuple[int, int]]:
    return list(session.execute(select(RunRow.id, ExperimentRow.dataset_id)
                                .join(ExperimentRow, RunRow.experiment_id == ExperimentRow.id)))


def feedback_by_dataset() -> dict[int, FeedbackTally]:
    """Dataset id -> feedback events its served runs have journalled (datasets without any are left out)."""
    with session_scope() as session:
        pairs = _dataset_runs(session)
    counts: dict[int, Counter] = {}
    for run_id, dataset_id in pairs:
        events = feedback_journal(run_id).count()
        if events:
            counts.setdefault(dataset_id, Counter())[run_id] = events
    return {dataset_id: FeedbackTally(dataset_id, sum(runs.values()), tuple(sorted(runs)))
            for dataset_id, runs in counts.items()}


def served_feedback(dataset_id: int) -> list[dict[str, Any]]:
    """Every feedback record the served runs of dataset `dataset_id` journalled, run by run."""
    with session_scope() as session:
        served = [run for run, dataset in _dataset_runs(session) if dataset == dataset_id]
    return [record for run in sorted(served) for record in feedback_journal(run).records()]


def is_version_of(dataset_id: int, ancestor_id: int) -> bool:
    """Whether dataset `dataset_id` was made from `ancestor_id` (directly or through other versions)."""
    seen: set[int] = set()
    with session_scope() as session:
        current = session.get(DatasetRow, int(dataset_id))
        while current is not None and current.parent_id is not None and current.id not in seen:
            if current.parent_id == ancestor_id:
                return True
            seen.add(current.id)
            current = session.get(DatasetRow, current.parent_id)
    return False


def _to_unix_seconds(values: pd.Series) -> pd.Series:
    return (pd.to_datetime(values, utc=True, format="ISO8601").astype("int64") // 10**9).astype("int64")


def feedback_rows(parent: Dataset, records: list[dict[str, Any]]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Feedback records as interaction rows in the parent's columns (the latest per user and item), and how many
    records were left out and why (an event without a rating cannot join explicit ratings)."""
    skipped: Counter = Counter()
    frame = pd.DataFrame(records)
    columns = list(parent.interactions.columns)
    if frame.empty:
        return pd.DataFrame(columns=columns), {}
    for name in ("rating", "event"):
        if name not in frame.columns:
            frame[name] = None
    if parent.has_ratings:
        unrated = frame["rating"].isna()
        if unrated.any():
            skipped["events without a rating (the dataset holds explicit ratings)"] = int(unrated.sum())
        frame = frame.loc[~unrated]
    if "event" in columns and parent.feedback.event_weights:
        unweighted = ~frame["event"].isin(list(parent.feedback.event_weights))
        if unweighted.any():
            known = ", ".join(parent.feedback.event_weights)
            skipped[f"events the dataset does not weigh (it weighs {known})"] = int(unweighted.sum())
        frame = frame.loc[~unweighted]
    rows = pd.DataFrame({"user_id": frame["user_id"].astype(str), "item_id": frame["item_id"].astype(str)})
    if "rating" in columns:
        # under implicit feedback the column holds counts: an event without a count counts once
        rows["rating"] = pd.to_numeric(frame["rating"]).fillna(1.0).astype("float64")
    if "timestamp" in columns:
        rows["timestamp"] = _to_unix_seconds(frame["timestamp"])
    if "event" in columns:
        rows["event"] = frame["event"].astype("string").fillna("").astype(parent.interactions["event"].dtype)
    order = _to_unix_seconds(frame["timestamp"]).to_numpy()
    rows = rows.assign(_order=order).sort_values("_order", kind="stable").drop(columns="_order")
    return rows.drop_duplicates(["user_id", "item_id"], keep="last").reset_index(drop=True), dict(skipped)


def _with_feedback(parent: Dataset, rows: pd.DataFrame, added_items: list[dict[str, Any]]) -> Dataset:
    """The parent with `rows` added (a feedback row replaces the parent's row of the same user and item) and the
    items added while serving that the feedback names."""
    keys = pd.MultiIndex.from_frame(parent.interactions[["user_id", "item_id"]].astype(str))
    replaced = keys.isin(pd.MultiIndex.from_frame(rows[["user_id", "item_id"]]))
    interactions = pd.concat([parent.interactions.loc[~replaced], rows.astype(parent.interactions.dtypes)],
                             ignore_index=True)
    items = parent.items
    if items is not None:
        known = set(items["item_id"].astype(str))
        named = set(rows["item_id"])
        new = [{"item_id": entry["item_id"], **entry["attributes"]} for entry in added_items
               if entry["item_id"] in named and entry["item_id"] not in known]
        if new:
            items = pd.concat([items, pd.DataFrame(new)], ignore_index=True)
    return Dataset(interactions=interactions, items=items, users=parent.users, item_kinds=parent.item_kinds,
                   user_kinds=parent.user_kinds, feedback=parent.feedback)


def _version_name(parent_name: str) -> str:
    for number in range(1, 1000):
        name = f"{parent_name} + feedback" + (f" {number}" if number > 1 else "")
        try:
            return check_dataset_name(name)
        except DataError:
            continue
    raise FeedbackLoopError(f"no free name for a new version of '{parent_name}'; rename some of its versions")


def retrain_with_feedback(run_id: int) -> Retrained:
    """Make a new version of run `run_id`'s dataset with the feedback all its served runs gathered, split it as the
    run's experiment was split, and queue the experiment's finished models on it; see the module docstring."""
    with session_scope() as session:
        run = session.get(RunRow, int(run_id))
        if run is None:
            raise FeedbackLoopError(f"run {run_id} does not exist; pick a served run")
        experiment = run.experiment
        parent_row = experiment.dataset
        parent_id, parent_name = parent_row.id, parent_row.name
        protocol, params, seed, experiment_name = (experiment.protocol, dict(experiment.params or {}),
                                                   experiment.seed, experiment.name)
        finished = [(r.id, r.model, dict(r.params or {}), r.seed, r.tuning) for r in experiment.runs
                    if r.status == "done"]
        served = sorted(r for r, d in _dataset_runs(session) if d == parent_id)
    records = served_feedback(parent_id)
    if not records:
        raise FeedbackLoopError(f"dataset '{parent_name}' has no served feedback yet: serve run {run_id} "
                                "(python -m engine serve) and POST /feedback first")
    parent = load_dataset(parent_id)
    rows, skipped = feedback_rows(parent, records)
    if rows.empty:
        raise FeedbackLoopError(f"none of the {len(records)} feedback events can join '{parent_name}': "
                                + "; ".join(f"{n} {why}" for why, n in skipped.items()))
    added = [entry for r in served for entry in items_journal(r).records()]
    version = _with_feedback(parent, rows, added)
    name = _version_name(parent_name)
    lineage = {"parent_id": parent_id, "parent_name": parent_name, "feedback_rows": len(rows),
               "feedback_events": len(records), "from_runs": served, "skipped": skipped,
               "rows_table": f"{FEEDBACK_ROWS_TABLE}.parquet",
               "made_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    dataset_id = save_dataset(version, name, "feedback", {"lineage": lineage}, parent_id=parent_id,
                              extra_tables={FEEDBACK_ROWS_TABLE: rows[["user_id", "item_id"]]})
    new_experiment = create_experiment(dataset_id, protocol, params, seed, name=f"{experiment_name} + feedback")
    queued: list[int] = []
    seen: set[str] = set()
    for _, model, run_params, run_seed, tuning in finished:
        key = json.dumps([model, run_params, run_seed, tuning], sort_keys=True, default=str)
        if key not in seen:  # seeds of one model are queued once each, as on the original experiment
            seen.add(key)
            queued += submit_runs(new_experiment, model, run_params, seeds=[run_seed], tuning=tuning)
    compared = sorted(run for run, *_ in finished) + queued
    return Retrained(dataset_id, name, new_experiment, queued, compared, len(rows), skipped)


def lineage_of(dataset_id: int) -> dict[str, Any] | None:
    """The lineage entry of a dataset made with feedback (None for an original)."""
    with session_scope() as session:
        row = session.get(DatasetRow, int(dataset_id))
        return dict((row.details or {}).get("lineage") or {}) if row is not None and row.parent_id else None


def feedback_row_keys(dataset_id: int) -> pd.DataFrame:
    """The (user_id, item_id) rows of a dataset version that came from served feedback (empty for an original)."""
    with session_scope() as session:
        row = session.get(DatasetRow, int(dataset_id))
        path = get_settings().home / row.path / f"{FEEDBACK_ROWS_TABLE}.parquet" if row is not None else None
    return pd.read_parquet(path) if path is not None and path.is_file() else pd.DataFrame(columns=["user_id",
                                                                                                  "item_id"])
