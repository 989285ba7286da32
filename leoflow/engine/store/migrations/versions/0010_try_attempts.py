"""``task_token`` becomes the try's fencing record: when its agent authenticated (and its
pid and host), and the state it reported, committed before the agent is answered.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26

Types are spelled out (not imported from tables.py), as in 0001: a migration is frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("started_at", sa.DateTime(timezone=True)),
    ("pid", sa.Integer()),
    ("hostname", sa.String(1000)),
    ("reported_at", sa.DateTime(timezone=True)),
    ("report", sa.Text()),
)


def upgrade() -> None:
    for name, kind in COLUMNS:
        op.add_column("task_token", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_token") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
