"""Add ``backfill`` and ``backfill_date``: Airflow 3's backfills (a DAG's timetable dates in a
range, run a few at a time, pausable and cancellable).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

Types are spelled out (not imported from tables.py), as in 0001: a migration is frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conf = sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql")
    op.create_table(
        "backfill",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("from_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("to_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dag_run_conf", conf, nullable=True),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("reprocess_behavior", sa.String(length=20), nullable=False),
        sa.Column("max_active_runs", sa.Integer(), nullable=False),
        sa.Column("run_backwards", sa.Boolean(), nullable=False),
        sa.Column("triggering_user_name", sa.String(length=250), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["dag_id"], ["dag.dag_id"],
                                name=op.f("fk_backfill_dag_id_dag"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill")),
    )
    op.create_index(op.f("ix_backfill_dag_id"), "backfill", ["dag_id"])
    op.create_table(
        "backfill_date",
        sa.Column("backfill_id", sa.Integer(), nullable=False),
        sa.Column("logical_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["backfill_id"], ["backfill.id"],
                                name=op.f("fk_backfill_date_backfill_id_backfill"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("backfill_id", "logical_date", name=op.f("pk_backfill_date")),
    )


def downgrade() -> None:
    op.drop_table("backfill_date")
    op.drop_index(op.f("ix_backfill_dag_id"), table_name="backfill")
    op.drop_table("backfill")
