"""Add ``trigger`` and the task-instance columns of deferral and reschedule.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

Types are spelled out (not imported from tables.py), as in 0001: a migration is frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TI_COLUMNS = ("trigger_id", "next_method", "next_kwargs", "trigger_timeout", "first_poke_at")


def _ts(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str, *, none_as_null: bool = False, nullable: bool = True) -> sa.Column[Any]:
    kind = sa.JSON(none_as_null=none_as_null).with_variant(
        postgresql.JSONB(none_as_null=none_as_null, astext_type=sa.Text()), "postgresql"
    )
    return sa.Column(name, kind, nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("task_instance") as batch_op:
        batch_op.add_column(sa.Column("trigger_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_method", sa.String(length=1000), nullable=True))
        batch_op.add_column(_json("next_kwargs", none_as_null=True))
        batch_op.add_column(_ts("trigger_timeout"))
        batch_op.add_column(_ts("first_poke_at"))
    op.create_table(
        "trigger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("classpath", sa.String(length=1000), nullable=False),
        _json("kwargs", nullable=False),
        _ts("created_date", nullable=False),
        sa.Column("triggerer_id", sa.String(length=250), nullable=True),
        sa.Column("task_instance_id", sa.String(length=36), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        _ts("due_at"),
        _ts("timeout_at"),
        sa.Column("timeout_kind", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_instance_id"],
            ["task_instance.id"],
            name=op.f("fk_trigger_task_instance_id_task_instance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_trigger_task_instance_id", "trigger", ["task_instance_id"])


def downgrade() -> None:
    op.drop_index("ix_trigger_task_instance_id", table_name="trigger")
    op.drop_table("trigger")
    with op.batch_alter_table("task_instance") as batch_op:
        for name in reversed(_TI_COLUMNS):
            batch_op.drop_column(name)
