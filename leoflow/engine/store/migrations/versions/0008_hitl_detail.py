"""Add ``hitl_detail``: human-in-the-loop requests and their answers.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24

Types are spelled out (not imported from tables.py), as in 0001: a migration is frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str, *, none_as_null: bool = False, nullable: bool = True) -> sa.Column[Any]:
    kind = sa.JSON(none_as_null=none_as_null).with_variant(
        postgresql.JSONB(none_as_null=none_as_null, astext_type=sa.Text()), "postgresql"
    )
    return sa.Column(name, kind, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "hitl_detail",
        sa.Column("ti_id", sa.String(length=36), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        _json("options", nullable=False),
        _json("defaults", none_as_null=True),
        sa.Column("multiple", sa.Boolean(), nullable=False),
        _json("params", nullable=False),
        _json("assigned_users", nullable=False),
        _ts("created_at", nullable=False),
        _ts("timeout_at"),
        _ts("responded_at"),
        sa.Column("responded_by_user_id", sa.String(length=250), nullable=True),
        sa.Column("responded_by_user_name", sa.String(length=250), nullable=True),
        _json("chosen_options", none_as_null=True),
        _json("params_input", none_as_null=True),
        sa.ForeignKeyConstraint(
            ["ti_id"],
            ["task_instance.id"],
            name=op.f("fk_hitl_detail_ti_id_task_instance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ti_id", name=op.f("pk_hitl_detail")),
    )
    op.create_index("ix_hitl_detail_responded_at", "hitl_detail", ["responded_at"])


def downgrade() -> None:
    op.drop_index("ix_hitl_detail_responded_at", table_name="hitl_detail")
    op.drop_table("hitl_detail")
