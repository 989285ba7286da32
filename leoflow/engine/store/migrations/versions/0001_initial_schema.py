"""Initial schema: DAGs and their versions, runs, task instances and their tries, import
errors, audit log, XCom, pools.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Types are spelled out here instead of imported from ``tables.py``: a migration is a frozen
snapshot and must keep producing the same schema when the tables module moves on.
``UTCDateTime`` is stored as ``DateTime(timezone=True)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str, *, none_as_null: bool = False, nullable: bool = True) -> sa.Column[Any]:
    kind = sa.JSON(none_as_null=none_as_null).with_variant(
        postgresql.JSONB(none_as_null=none_as_null, astext_type=sa.Text()), "postgresql"
    )
    return sa.Column(name, kind, nullable=nullable)


def _id(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length=250), nullable=nullable)


def upgrade() -> None:
    # dag and dag_version reference each other: dag is created first without its foreign key
    # to dag_version, which is added once dag_version exists (batch mode for SQLite).
    op.create_table(
        "dag",
        _id("dag_id"),
        sa.Column("tenant", sa.String(length=100), nullable=False),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("is_stale", sa.Boolean(), nullable=False),
        sa.Column("fileloc", sa.Text(), nullable=True),
        sa.Column("current_version_id", sa.String(length=36), nullable=True),
        _ts("next_dagrun_logical_date"),
        _ts("next_dagrun_data_interval_start"),
        _ts("next_dagrun_data_interval_end"),
        _ts("next_dagrun_after"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("dag_id", name=op.f("pk_dag")),
    )
    op.create_index("ix_dag_next_dagrun_after", "dag", ["next_dagrun_after"])
    op.create_index("ix_dag_tenant", "dag", ["tenant"])

    op.create_table(
        "dag_version",
        sa.Column("id", sa.String(length=36), nullable=False),
        _id("dag_id"),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        _json("spec", nullable=False),
        sa.Column("source_code", sa.Text(), nullable=True),
        _ts("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name=op.f("fk_dag_version_dag_id_dag"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dag_version")),
        sa.UniqueConstraint(
            "dag_id", "content_hash", name=op.f("uq_dag_version_dag_id_content_hash")
        ),
        sa.UniqueConstraint(
            "dag_id", "version_number", name=op.f("uq_dag_version_dag_id_version_number")
        ),
    )
    with op.batch_alter_table("dag") as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_dag_current_version_id_dag_version"),
            "dag_version",
            ["current_version_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "dag_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _id("dag_id"),
        _id("run_id"),
        sa.Column("run_type", sa.String(length=50), nullable=False),
        _ts("logical_date"),
        _ts("run_after", nullable=False),
        _ts("data_interval_start"),
        _ts("data_interval_end"),
        sa.Column("state", sa.String(length=20), nullable=False),
        _json("conf", none_as_null=True),
        sa.Column("dag_version_id", sa.String(length=36), nullable=False),
        sa.Column("triggered_by", sa.String(length=50), nullable=True),
        _id("triggering_user_name", nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        _ts("queued_at"),
        _ts("start_date"),
        _ts("end_date"),
        _ts("last_scheduling_decision"),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name=op.f("fk_dag_run_dag_id_dag"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dag_version_id"],
            ["dag_version.id"],
            name=op.f("fk_dag_run_dag_version_id_dag_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dag_run")),
        sa.UniqueConstraint("dag_id", "logical_date", name=op.f("uq_dag_run_dag_id_logical_date")),
        sa.UniqueConstraint("dag_id", "run_id", name=op.f("uq_dag_run_dag_id_run_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_dag_run_dag_id_run_after", "dag_run", ["dag_id", "run_after"])
    op.create_index("ix_dag_run_dag_id_state", "dag_run", ["dag_id", "state"])
    op.create_index("ix_dag_run_state", "dag_run", ["state"])

    op.create_table(
        "task_instance",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("dag_run_id", sa.Integer(), nullable=False),
        _id("dag_id"),
        _id("run_id"),
        _id("task_id"),
        sa.Column("map_index", sa.Integer(), nullable=False),
        _id("rendered_map_index", nullable=True),
        sa.Column("state", sa.String(length=20), nullable=True),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("max_tries", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=True),
        sa.Column("pool", sa.String(length=256), nullable=False),
        sa.Column("pool_slots", sa.Integer(), nullable=False),
        sa.Column("priority_weight", sa.Integer(), nullable=False),
        _ts("scheduled_at"),
        _ts("queued_at"),
        _ts("start_date"),
        _ts("end_date"),
        sa.Column("duration", sa.Float(), nullable=True),
        _ts("next_retry_at"),
        _ts("last_heartbeat_at"),
        sa.Column("executor", sa.String(length=100), nullable=True),
        _id("external_executor_id", nullable=True),
        sa.Column("hostname", sa.String(length=1000), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("waiting_reason", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dag_run_id"],
            ["dag_run.id"],
            name=op.f("fk_task_instance_dag_run_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_instance")),
        sa.UniqueConstraint(
            "dag_run_id",
            "task_id",
            "map_index",
            name=op.f("uq_task_instance_dag_run_id_task_id_map_index"),
        ),
    )
    op.create_index("ix_task_instance_dag_id_task_id", "task_instance", ["dag_id", "task_id"])
    op.create_index("ix_task_instance_state", "task_instance", ["state"])

    op.create_table(
        "task_instance_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_instance_id", sa.String(length=36), nullable=False),
        sa.Column("dag_run_id", sa.Integer(), nullable=False),
        _id("dag_id"),
        _id("run_id"),
        _id("task_id"),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("max_tries", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=True),
        sa.Column("operator", sa.String(length=100), nullable=True),
        sa.Column("pool", sa.String(length=256), nullable=False),
        sa.Column("executor", sa.String(length=100), nullable=True),
        _id("external_executor_id", nullable=True),
        sa.Column("hostname", sa.String(length=1000), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        _ts("queued_at"),
        _ts("start_date"),
        _ts("end_date"),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dag_run_id"],
            ["dag_run.id"],
            name=op.f("fk_task_instance_history_dag_run_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_instance_history")),
        sa.UniqueConstraint(
            "dag_run_id",
            "task_id",
            "map_index",
            "try_number",
            name=op.f("uq_task_instance_history_dag_run_id_task_id_map_index_try_number"),
        ),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "import_error",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        _id("dag_id", nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("stack_trace", sa.Text(), nullable=False),
        _ts("timestamp", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_error")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_import_error_filename", "import_error", ["filename"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _ts("occurred_at", nullable=False),
        _id("username", nullable=True),
        sa.Column("event", sa.String(length=100), nullable=False),
        _id("dag_id", nullable=True),
        _id("run_id", nullable=True),
        _id("task_id", nullable=True),
        sa.Column("map_index", sa.Integer(), nullable=True),
        sa.Column("try_number", sa.Integer(), nullable=True),
        _json("extra", none_as_null=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_log_dag_id", "audit_log", ["dag_id"])
    op.create_index("ix_audit_log_occurred_at", "audit_log", ["occurred_at"])

    op.create_table(
        "xcom",
        sa.Column("dag_run_id", sa.Integer(), nullable=False),
        _id("task_id"),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        _json("value", nullable=False),
        _ts("created_at", nullable=False),
        _ts("expires_at"),
        sa.ForeignKeyConstraint(
            ["dag_run_id"],
            ["dag_run.id"],
            name=op.f("fk_xcom_dag_run_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dag_run_id", "task_id", "map_index", "key", name=op.f("pk_xcom")),
    )
    op.create_index("ix_xcom_expires_at", "xcom", ["expires_at"])

    op.create_table(
        "pool",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_pool")),
    )


def downgrade() -> None:
    # Indexes go with their tables. dag's foreign key to dag_version is dropped first so that
    # the two tables can be dropped in order on PostgreSQL.
    op.drop_table("pool")
    op.drop_table("xcom")
    op.drop_table("audit_log")
    op.drop_table("import_error")
    op.drop_table("task_instance_history")
    op.drop_table("task_instance")
    op.drop_table("dag_run")
    with op.batch_alter_table("dag") as batch_op:
        batch_op.drop_constraint(op.f("fk_dag_current_version_id_dag_version"), type_="foreignkey")
    op.drop_table("dag_version")
    op.drop_table("dag")
