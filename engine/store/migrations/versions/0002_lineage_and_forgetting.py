"""Dataset lineage (a version made from another plus served feedback) and forgetting a user: `datasets.parent_id`,
`runs.forgotten_data_at` and the `forgotten_users` table (keyed hashes, never raw ids).

Idempotent like 0001: what a database already has is left alone.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two nullable columns and the table where missing."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table, column in (("datasets", sa.Column("parent_id", sa.Integer(), nullable=True)),
                          ("runs", sa.Column("forgotten_data_at", sa.DateTime(), nullable=True))):
        if column.name not in {c["name"] for c in inspector.get_columns(table)}:
            op.add_column(table, column)
    if not inspector.has_table("forgotten_users"):
        op.create_table(
            "forgotten_users",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("dataset_id", sa.Integer(), sa.ForeignKey("datasets.id", ondelete="CASCADE",
                                                                name="fk_forgotten_users_dataset_id_datasets"),
                      nullable=False),
            sa.Column("user_hash", sa.String(64), nullable=False),
            sa.Column("forgotten_at", sa.DateTime(), nullable=False),
            sa.Column("removed", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_forgotten_users"),
        )
        op.create_index("ix_forgotten_users_dataset_hash", "forgotten_users", ["dataset_id", "user_hash"])


def downgrade() -> None:
    op.drop_table("forgotten_users")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("forgotten_data_at")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("parent_id")
