"""Backfills (Airflow 3's ``backfill`` table): runs asked for the logical dates of a DAG's
timetable in a range, started a few at a time (``max_active_runs``), pausable and
cancellable. ``backfill_date`` holds every date of a backfill and, once started, the run
that covers it (``leoflow.engine.services.backfills``)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table

from leoflow.engine.store.tables.common import ID_LEN, metadata
from leoflow.engine.store.types import UTCDateTime, json_type

backfill = Table(
    "backfill",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dag_id", String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("from_date", UTCDateTime, nullable=False),
    Column("to_date", UTCDateTime, nullable=False),
    Column("dag_run_conf", json_type(none_as_null=True), nullable=True),
    Column("is_paused", Boolean, nullable=False),
    Column("reprocess_behavior", String(20), nullable=False),
    Column("max_active_runs", Integer, nullable=False),
    Column("run_backwards", Boolean, nullable=False),
    Column("triggering_user_name", String(250), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
)

backfill_date = Table(
    "backfill_date",
    metadata,
    Column("backfill_id", Integer, ForeignKey("backfill.id", ondelete="CASCADE"),
           primary_key=True),
    Column("logical_date", UTCDateTime, primary_key=True),
    # the run that covers the date once started (created, or an existing one cleared)
    Column("run_id", String(ID_LEN), nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
)
