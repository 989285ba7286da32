"""Add ``task_state``: the task state store (values a task instance keeps across tries).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

Types are spelled out (not imported from tables.py), as in 0001: a migration is frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # TEXT on SQLite keeps a float a float (see 0006); JSONB on PostgreSQL
    value = sa.Text().with_variant(
        postgresql.JSONB(none_as_null=False, astext_type=sa.Text()), "postgresql")
    op.create_table(
        "task_state",
        sa.Column("dag_run_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", value, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dag_run_id"],
            ["dag_run.id"],
            name=op.f("fk_task_state_dag_run_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dag_run_id", "task_id", "map_index", "key",
                                name=op.f("pk_task_state")),
    )
    op.create_index("ix_task_state_expires_at", "task_state", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_task_state_expires_at", table_name="task_state")
    op.drop_table("task_state")
