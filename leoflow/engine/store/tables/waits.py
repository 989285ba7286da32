"""Tables of what a parked try waits for: a trigger (a deferred task or a sensor, run by the
control plane's trigger runner) or a human's answer (human-in-the-loop).
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
)

from leoflow.engine.store.tables.common import ID_LEN, STATE_LEN, UUID_LEN, metadata
from leoflow.engine.store.types import UTCDateTime, json_type

# What a deferred task instance waits for, run by the control plane's trigger runner
# (leoflow.engine.triggers). One row per waiting try; the row is deleted in the transaction
# that applies its event, so a trigger fires at most once even across restarts.
trigger = Table(
    "trigger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("classpath", String(1000), nullable=False),  # the kind: time, file, http, ...
    Column("kwargs", json_type(), nullable=False),
    Column("created_date", UTCDateTime, nullable=False),
    # The replica whose runner owns it (the scheduler leader in HA).
    Column("triggerer_id", String(ID_LEN), nullable=True),
    Column(
        "task_instance_id",
        String(UUID_LEN),
        ForeignKey("task_instance.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("try_number", Integer, nullable=False),
    # A time trigger's moment, resolved from the run when the deferral started.
    Column("due_at", UTCDateTime, nullable=True),
    # When the wait gives up, and whose timeout it is ("sensor" or "defer").
    Column("timeout_at", UTCDateTime, nullable=True),
    Column("timeout_kind", String(STATE_LEN), nullable=True),
    Index("ix_trigger_task_instance_id", "task_instance_id"),
    sqlite_autoincrement=True,  # ids are never reused: a task instance names its trigger
)

# A human-in-the-loop request and its answer (Airflow's hitl_detail): one row per task
# instance, for its latest try (a new try's request replaces the row). Written by the
# scheduler in the transaction that parks the try in ``awaiting_input``; answered by
# leoflow.engine.services.hitl (or by the trigger runner with the defaults at the timeout).
hitl_detail = Table(
    "hitl_detail",
    metadata,
    Column(
        "ti_id",
        String(UUID_LEN),
        ForeignKey("task_instance.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("try_number", Integer, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=True),
    Column("options", json_type(), nullable=False),
    Column("defaults", json_type(none_as_null=True), nullable=True),
    Column("multiple", Boolean, nullable=False),
    Column("params", json_type(), nullable=False),
    Column("assigned_users", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("timeout_at", UTCDateTime, nullable=True),
    # the answer: null until someone (or the timeout's defaults) answers
    Column("responded_at", UTCDateTime, nullable=True),
    Column("responded_by_user_id", String(ID_LEN), nullable=True),
    Column("responded_by_user_name", String(ID_LEN), nullable=True),
    Column("chosen_options", json_type(none_as_null=True), nullable=True),
    Column("params_input", json_type(none_as_null=True), nullable=True),
    Index("ix_hitl_detail_responded_at", "responded_at"),
)
