"""The schema as it stood when Alembic took over from the hand-written additive migrations.

Idempotent on purpose: a database made by an older version (no `alembic_version` table) gets the tables, columns
and indexes it lacks, with its rows kept, and a new database gets everything; both then stand at this revision.
The table definitions are frozen here (not imported from engine.store.tables) so later model changes cannot
rewrite history; they need a revision of their own.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = sa.MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

sa.Table(
    "datasets", SCHEMA,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("path", sa.String(500), nullable=False),
    sa.Column("feedback", sa.JSON(), nullable=False),
    sa.Column("item_kinds", sa.JSON(), nullable=False),
    sa.Column("user_kinds", sa.JSON(), nullable=False),
    sa.Column("n_users", sa.Integer(), nullable=False),
    sa.Column("n_items", sa.Integer(), nullable=False),
    sa.Column("n_interactions", sa.Integer(), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("details", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "workers", SCHEMA,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("started_at", sa.DateTime(), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
    sa.Column("stopped", sa.Boolean(), nullable=False),
)
sa.Table(
    "experiments", SCHEMA,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("dataset_id", sa.Integer(), sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("protocol", sa.String(40), nullable=False),
    sa.Column("params", sa.JSON(), nullable=False),
    sa.Column("seed", sa.Integer(), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("split_path", sa.String(500), nullable=False),
    sa.Column("sizes", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "runs", SCHEMA,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("experiment_id", sa.Integer(), sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("model", sa.String(80), nullable=False),
    sa.Column("params", sa.JSON(), nullable=False),
    sa.Column("seed", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False),
    sa.Column("worker_id", sa.String(80), nullable=True),
    sa.Column("pid", sa.Integer(), nullable=True),
    sa.Column("device", sa.String(80), nullable=True),
    sa.Column("progress", sa.Float(), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("traceback", sa.Text(), nullable=True),
    sa.Column("fit_seconds", sa.Float(), nullable=True),
    sa.Column("eval_seconds", sa.Float(), nullable=True),
    sa.Column("artifact_path", sa.String(500), nullable=True),
    sa.Column("results", sa.JSON(), nullable=False),
    sa.Column("tuning", sa.JSON(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("started_at", sa.DateTime(), nullable=True),
    sa.Column("finished_at", sa.DateTime(), nullable=True),
    sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
    sa.Index("ix_runs_status_id", "status", "id"),
)
sa.Table(
    "metrics", SCHEMA,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("slice", sa.String(60), nullable=False),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("mean", sa.Float(), nullable=True),
    sa.Column("ci_low", sa.Float(), nullable=True),
    sa.Column("ci_high", sa.Float(), nullable=True),
    sa.Column("n_users", sa.Integer(), nullable=False),
    sa.Index("ix_metrics_run_slice", "run_id", "slice"),
)
sa.Table(
    "run_events", SCHEMA,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("epoch", sa.Integer(), nullable=True),
    sa.Column("n_epochs", sa.Integer(), nullable=True),
    sa.Column("step", sa.Integer(), nullable=True),
    sa.Column("n_steps", sa.Integer(), nullable=True),
    sa.Column("loss", sa.Float(), nullable=True),
    sa.Column("metric", sa.Float(), nullable=True),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Index("ix_run_events_run_id_id", "run_id", "id"),
)
sa.Table(
    "tuning_trials", SCHEMA,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("params", sa.JSON(), nullable=False),
    sa.Column("score", sa.Float(), nullable=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("fit_seconds", sa.Float(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Index("ix_tuning_trials_run_number", "run_id", "number"),
)


def upgrade() -> None:
    """Create what is missing: whole tables, then columns and indexes an older file lacks (its rows kept)."""
    bind = op.get_bind()
    SCHEMA.create_all(bind, checkfirst=True)
    inspector = sa.inspect(bind)
    for table in SCHEMA.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                # nullable: rows written before the column existed have no value for it (the old migrations' rule)
                op.add_column(table.name, sa.Column(column.name, column.type, nullable=True))
        indexes = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                op.create_index(index.name, table.name, [c.name for c in index.columns])


def downgrade() -> None:
    SCHEMA.drop_all(op.get_bind())
