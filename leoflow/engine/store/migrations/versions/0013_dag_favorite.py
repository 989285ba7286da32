"""Add ``dag_favorite``: a user's favourite DAGs (Airflow 3's table of the same name).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

Types are spelled out (not imported from tables.py), as in 0001: a migration is frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dag_favorite",
        sa.Column("user_id", sa.String(length=250), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(["dag_id"], ["dag.dag_id"],
                                name=op.f("fk_dag_favorite_dag_id_dag"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "dag_id", name=op.f("pk_dag_favorite")),
    )


def downgrade() -> None:
    op.drop_table("dag_favorite")
