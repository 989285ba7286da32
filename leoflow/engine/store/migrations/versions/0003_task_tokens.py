"""Add ``task_token``: the hashed per-try credential of a task's agent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Types are spelled out (not imported from tables.py), as in 0001: a migration is frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_token",
        sa.Column("task_instance_id", sa.String(36),
                  sa.ForeignKey("task_instance.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("task_token")
