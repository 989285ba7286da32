"""Keep XCom values as TEXT on SQLite, so that a float stays a float.

SQLite gave the ``JSON``-declared ``xcom.value`` column NUMERIC affinity: the JSON text
``4.0`` was stored as the integer 4. The column becomes ``TEXT`` (a table rebuild, as SQLite
cannot change a column's type); values already stored keep what they became. PostgreSQL's
JSONB column is unaffected.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("xcom") as batch_op:
        batch_op.alter_column("value", type_=sa.Text(), existing_type=sa.JSON(),
                              existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("xcom") as batch_op:
        batch_op.alter_column("value", type_=sa.JSON(), existing_type=sa.Text(),
                              existing_nullable=False)
