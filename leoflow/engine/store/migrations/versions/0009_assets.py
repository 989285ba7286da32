"""Add the asset tables (assets, aliases, events, consumer queue, refs, state, watchers) and
``dag_run.partition_key``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25

Types are spelled out (not imported from tables.py), as in 0001: a migration is frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = 1500


def _ts(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    kind = sa.JSON(none_as_null=False).with_variant(
        postgresql.JSONB(none_as_null=False, astext_type=sa.Text()), "postgresql")
    return sa.Column(name, kind, nullable=nullable)


def _fk(table: str, column: str, target: str, target_column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.{target_column}"],
                                   name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE")


def upgrade() -> None:
    with op.batch_alter_table("dag_run") as batch_op:
        batch_op.add_column(sa.Column("partition_key", sa.String(length=250), nullable=True))
    op.create_table(
        "asset",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=_NAME), nullable=False),
        sa.Column("uri", sa.String(length=_NAME), nullable=False),
        sa.Column("group", sa.String(length=_NAME), nullable=False),
        _json("extra", nullable=False),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset")),
        sa.UniqueConstraint("tenant", "name", name=op.f("uq_asset_tenant_name")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_asset_tenant_uri", "asset", ["tenant", "uri"])
    op.create_table(
        "asset_alias",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=_NAME), nullable=False),
        sa.Column("group", sa.String(length=_NAME), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_alias")),
        sa.UniqueConstraint("tenant", "name", name=op.f("uq_asset_alias_tenant_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "asset_alias_asset",
        sa.Column("alias_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        _fk("asset_alias_asset", "alias_id", "asset_alias", "id"),
        _fk("asset_alias_asset", "asset_id", "asset", "id"),
        sa.PrimaryKeyConstraint("alias_id", "asset_id", name=op.f("pk_asset_alias_asset")),
    )
    op.create_index("ix_asset_alias_asset_asset_id", "asset_alias_asset", ["asset_id"])
    op.create_table(
        "asset_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        _json("extra", nullable=False),
        sa.Column("source_dag_id", sa.String(length=250), nullable=True),
        sa.Column("source_run_id", sa.String(length=250), nullable=True),
        sa.Column("source_task_id", sa.String(length=250), nullable=True),
        sa.Column("source_map_index", sa.Integer(), nullable=True),
        sa.Column("source_alias", sa.String(length=_NAME), nullable=True),
        sa.Column("partition_key", sa.String(length=250), nullable=True),
        _ts("timestamp", nullable=False),
        _fk("asset_event", "asset_id", "asset", "id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_event")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_asset_event_asset_id_timestamp", "asset_event", ["asset_id", "timestamp"])
    op.create_index("ix_asset_event_source", "asset_event", ["source_dag_id", "source_run_id"])
    op.create_table(
        "dag_asset_ref",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=100), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        sa.Column("alias_id", sa.Integer(), nullable=True),
        sa.Column("ref_name", sa.String(length=_NAME), nullable=True),
        sa.Column("ref_uri", sa.String(length=_NAME), nullable=True),
        sa.Column("task_id", sa.String(length=250), nullable=True),
        _fk("dag_asset_ref", "dag_id", "dag", "dag_id"),
        _fk("dag_asset_ref", "asset_id", "asset", "id"),
        _fk("dag_asset_ref", "alias_id", "asset_alias", "id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dag_asset_ref")),
    )
    op.create_index("ix_dag_asset_ref_dag_id", "dag_asset_ref", ["dag_id"])
    op.create_index("ix_dag_asset_ref_asset_id", "dag_asset_ref", ["asset_id"])
    op.create_index("ix_dag_asset_ref_alias_id", "dag_asset_ref", ["alias_id"])
    op.create_table(
        "asset_queue",
        sa.Column("tenant", sa.String(length=100), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("partition_key", sa.String(length=250), nullable=True),
        _ts("created_at", nullable=False),
        _fk("asset_queue", "dag_id", "dag", "dag_id"),
        _fk("asset_queue", "event_id", "asset_event", "id"),
        _fk("asset_queue", "asset_id", "asset", "id"),
        sa.PrimaryKeyConstraint("dag_id", "event_id", name=op.f("pk_asset_queue")),
    )
    op.create_index("ix_asset_queue_asset_id", "asset_queue", ["asset_id"])
    op.create_table(
        "dag_run_asset_event",
        sa.Column("dag_run_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        _fk("dag_run_asset_event", "dag_run_id", "dag_run", "id"),
        _fk("dag_run_asset_event", "event_id", "asset_event", "id"),
        sa.PrimaryKeyConstraint("dag_run_id", "event_id", name=op.f("pk_dag_run_asset_event")),
    )
    op.create_index("ix_dag_run_asset_event_event_id", "dag_run_asset_event", ["event_id"])
    # TEXT on SQLite keeps a float a float (see 0006); JSONB on PostgreSQL
    value = sa.Text().with_variant(
        postgresql.JSONB(none_as_null=False, astext_type=sa.Text()), "postgresql")
    op.create_table(
        "asset_state",
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", value, nullable=False),
        _ts("updated_at", nullable=False),
        _fk("asset_state", "asset_id", "asset", "id"),
        sa.PrimaryKeyConstraint("asset_id", "key", name=op.f("pk_asset_state")),
    )
    op.create_table(
        "asset_watcher",
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("name", sa.String(length=_NAME), nullable=False),
        _json("trigger", nullable=False),
        _fk("asset_watcher", "asset_id", "asset", "id"),
        _fk("asset_watcher", "dag_id", "dag", "dag_id"),
        sa.PrimaryKeyConstraint("asset_id", "dag_id", "name", name=op.f("pk_asset_watcher")),
    )


def downgrade() -> None:
    for table in ("asset_watcher", "asset_state", "dag_run_asset_event", "asset_queue",
                  "dag_asset_ref", "asset_event", "asset_alias_asset", "asset_alias", "asset"):
        op.drop_table(table)
    with op.batch_alter_table("dag_run") as batch_op:
        batch_op.drop_column("partition_key")
