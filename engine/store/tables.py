"""Database tables (SQLAlchemy 2.0 typed declarative): datasets, experiments, runs and what runs produce.

High-volume per-user metric values live in Parquet files beside each run's artifact; the database keeps
aggregates, progress events and states, so pages can filter them with SQL.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class DatasetRow(Base):
    """A stored dataset: Parquet files in `path` (relative to the data folder) plus its schema and counts."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(40))  # upload | synthetic | folder | cli
    path: Mapped[str] = mapped_column(String(500))
    feedback: Mapped[dict[str, Any]] = mapped_column(default=dict)
    item_kinds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    user_kinds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    n_users: Mapped[int] = mapped_column(Integer, default=0)
    n_items: Mapped[int] = mapped_column(Integer, default=0)
    n_interactions: Mapped[int] = mapped_column(Integer, default=0)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # origin, options, warnings shown at intake
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # lineage: the version this one was made from (with served feedback added); its `details["lineage"]` says how
    parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    experiments: Mapped[list["ExperimentRow"]] = relationship(back_populates="dataset", cascade="all, delete-orphan",
                                                              passive_deletes=True)


class ExperimentRow(Base):
    """A dataset + protocol + parameters + seed, with its stored split and slice sizes."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    split_path: Mapped[str] = mapped_column(String(500), default="")
    sizes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    dataset: Mapped[DatasetRow] = relationship(back_populates="experiments")
    runs: Mapped[list["RunRow"]] = relationship(back_populates="experiment", cascade="all, delete-orphan",
                                                passive_deletes=True)


RUN_STATES = ("queued", "running", "done", "failed", "cancelled")


class RunRow(Base):
    """One model trained and evaluated on one experiment; also the job queue's entry."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(80))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    device: Mapped[str | None] = mapped_column(String(80), nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    fit_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    eval_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    artifact_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    results: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the per-model entry of results.json
    tuning: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)  # a TuningBudget's JSON; None: defaults
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # set when a user this run was trained on asked to be forgotten: its model still encodes them
    forgotten_data_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    experiment: Mapped[ExperimentRow] = relationship(back_populates="runs")
    metrics: Mapped[list["MetricRow"]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    events: Mapped[list["RunEventRow"]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    trials: Mapped[list["TuningTrialRow"]] = relationship(cascade="all, delete-orphan", passive_deletes=True,
                                                          order_by="TuningTrialRow.number")


class MetricRow(Base):
    """One aggregate metric of a run on one slice (long format, easy to pivot)."""

    __tablename__ = "metrics"
    __table_args__ = (Index("ix_metrics_run_slice", "run_id", "slice"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    slice: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(40))  # e.g. ndcg@20, auc, coverage@20
    mean: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    ci_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_users: Mapped[int] = mapped_column(Integer, default=0)


class TuningTrialRow(Base):
    """One configuration tried while tuning a run on its validation slice (the run's experiment names the dataset
    and protocol, so later comparisons on them start from the best settings known)."""

    __tablename__ = "tuning_trials"
    __table_args__ = (Index("ix_tuning_trials_run_number", "run_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)  # validation; None when pruned or failed
    state: Mapped[str] = mapped_column(String(20))  # complete | pruned | failed
    fit_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class RunEventRow(Base):
    """A progress event or log line of a run (epoch, step, loss, validation metric)."""

    __tablename__ = "run_events"
    __table_args__ = (Index("ix_run_events_run_id_id", "run_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))  # progress | log
    epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    n_epochs: Mapped[int | None] = mapped_column(Integer, nullable=True)
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    n_steps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    metric: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")


class ForgottenUserRow(Base):
    """A user erased from a dataset at their request, by keyed hash only (the raw id is never stored)."""

    __tablename__ = "forgotten_users"
    __table_args__ = (Index("ix_forgotten_users_dataset_hash", "dataset_id", "user_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    user_hash: Mapped[str] = mapped_column(String(64))
    forgotten_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    removed: Mapped[dict[str, Any]] = mapped_column(default=dict)  # rows removed per place, runs marked


class WorkerRow(Base):
    """A supervisor process; alive while its heartbeat is fresh."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)
