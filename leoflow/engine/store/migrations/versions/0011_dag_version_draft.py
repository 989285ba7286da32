"""``dag_version.is_draft``: a version registered by a save that no run has pinned yet and
that was not pushed. The next save replaces it (same number) instead of adding one, so a
DAG's versions are the ones that ran or were pushed (``leoflow.engine.store.dags``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Existing versions are kept (not drafts): they may have been pushed, and nothing says they
were not. Types are spelled out, as in 0001: a migration is frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dag_version", sa.Column("is_draft", sa.Boolean(), nullable=False,
                                           server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("dag_version") as batch:
        batch.drop_column("is_draft")
