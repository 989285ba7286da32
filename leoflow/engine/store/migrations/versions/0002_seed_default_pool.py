"""Seed ``default_pool`` with 128 slots, as Airflow does.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Every task instance lands in ``default_pool`` unless its task names another pool, so the
row must exist before the first run. A separate revision keeps data apart from DDL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_pool = sa.table(
    "pool",
    sa.column("name", sa.String()),
    sa.column("slots", sa.Integer()),
    sa.column("description", sa.Text()),
)


def upgrade() -> None:
    op.bulk_insert(_pool, [{"name": "default_pool", "slots": 128, "description": "Default pool"}])


def downgrade() -> None:
    op.execute(_pool.delete().where(_pool.c.name == "default_pool"))
