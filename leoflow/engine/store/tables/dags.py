"""Tables of DAGs as registered: the DAG, its versions (each compiled dag.json, immutable),
and the files that failed to compile.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from leoflow.engine.store.tables.common import ID_LEN, UUID_LEN, metadata
from leoflow.engine.store.types import UTCDateTime, json_type

dag = Table(
    "dag",
    metadata,
    Column("dag_id", String(ID_LEN), primary_key=True),
    Column("tenant", String(100), nullable=False, default="default"),
    Column("is_paused", Boolean, nullable=False),
    # The DAG file disappeared from the workspace (or was not pushed again): kept for history.
    Column("is_stale", Boolean, nullable=False, default=False),
    Column("fileloc", Text, nullable=True),
    # The version matching the DAG's current source; runs pin their own version.
    # use_alter: dag and dag_version point at each other.
    Column(
        "current_version_id",
        String(UUID_LEN),
        ForeignKey("dag_version.id", ondelete="SET NULL", use_alter=True),
        nullable=True,
    ),
    # The next scheduled run, as computed by the timetable (null: none due).
    Column("next_dagrun_logical_date", UTCDateTime, nullable=True),
    Column("next_dagrun_data_interval_start", UTCDateTime, nullable=True),
    Column("next_dagrun_data_interval_end", UTCDateTime, nullable=True),
    Column("next_dagrun_after", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_dag_tenant", "tenant"),
    Index("ix_dag_next_dagrun_after", "next_dagrun_after"),
)

dag_version = Table(
    "dag_version",
    metadata,
    Column("id", String(UUID_LEN), primary_key=True),
    Column(
        "dag_id",
        String(ID_LEN),
        ForeignKey("dag.dag_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("version_number", Integer, nullable=False),
    Column("content_hash", String(80), nullable=False),
    Column("spec", json_type(), nullable=False),
    Column("source_code", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    # Registered by a save, not yet pinned by a run nor pushed: the next save replaces it
    # (same number), so the versions a DAG keeps are the ones that ran or were pushed.
    Column("is_draft", Boolean, nullable=False, default=False, server_default=false()),
    UniqueConstraint("dag_id", "version_number"),
    UniqueConstraint("dag_id", "content_hash"),
)

import_error = Table(
    "import_error",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("filename", Text, nullable=False),
    Column("dag_id", String(ID_LEN), nullable=True),
    Column("message", Text, nullable=False),
    Column("stack_trace", Text, nullable=False),
    Column("timestamp", UTCDateTime, nullable=False),
    Index("ix_import_error_filename", "filename"),
    sqlite_autoincrement=True,  # import_error_id is visible through the API
)
