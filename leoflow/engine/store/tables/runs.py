"""Tables of runs and their task instances: the run, each task instance and its past tries,
what tries exchange or keep (XCom, the task state store), the pools that bound them and the
credential of the agent running a try.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from leoflow.engine.store.tables.common import ID_LEN, STATE_LEN, UUID_LEN, metadata
from leoflow.engine.store.types import UTCDateTime, json_type, scalar_json_type

dag_run = Table(
    "dag_run",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "dag_id",
        String(ID_LEN),
        ForeignKey("dag.dag_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("run_id", String(ID_LEN), nullable=False),
    Column("run_type", String(50), nullable=False),
    # Null for manual runs without a logical date (Airflow 3); unique per DAG otherwise.
    Column("logical_date", UTCDateTime, nullable=True),
    Column("run_after", UTCDateTime, nullable=False),
    Column("data_interval_start", UTCDateTime, nullable=True),
    Column("data_interval_end", UTCDateTime, nullable=True),
    Column("state", String(STATE_LEN), nullable=False),
    Column("conf", json_type(none_as_null=True), nullable=True),
    # Every run is pinned to the version it started with.
    Column(
        "dag_version_id",
        String(UUID_LEN),
        ForeignKey("dag_version.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("triggered_by", String(50), nullable=True),
    Column("triggering_user_name", String(ID_LEN), nullable=True),
    Column("note", Text, nullable=True),
    Column("queued_at", UTCDateTime, nullable=True),
    Column("start_date", UTCDateTime, nullable=True),
    Column("end_date", UTCDateTime, nullable=True),
    Column("last_scheduling_decision", UTCDateTime, nullable=True),
    # The partition a run works on (Airflow 3.2's partition_key; docs/assets.md).
    Column("partition_key", String(ID_LEN), nullable=True),
    UniqueConstraint("dag_id", "run_id"),
    # Both dialects let several NULLs coexist under a unique constraint.
    UniqueConstraint("dag_id", "logical_date"),
    Index("ix_dag_run_dag_id_state", "dag_id", "state"),
    Index("ix_dag_run_state", "state"),
    Index("ix_dag_run_dag_id_run_after", "dag_id", "run_after"),
    sqlite_autoincrement=True,  # never reuse the id of a deleted run
)

task_instance = Table(
    "task_instance",
    metadata,
    Column("id", String(UUID_LEN), primary_key=True),
    Column(
        "dag_run_id",
        Integer,
        ForeignKey("dag_run.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # Copies of the run's keys, so that API filters need no join.
    Column("dag_id", String(ID_LEN), nullable=False),
    Column("run_id", String(ID_LEN), nullable=False),
    Column("task_id", String(ID_LEN), nullable=False),
    Column("map_index", Integer, nullable=False, default=-1),
    Column("rendered_map_index", String(ID_LEN), nullable=True),
    Column("state", String(STATE_LEN), nullable=True),
    Column("try_number", Integer, nullable=False, default=0),
    Column("max_tries", Integer, nullable=False, default=0),
    Column("operator", String(100), nullable=True),
    Column("pool", String(256), nullable=False, default="default_pool"),
    Column("pool_slots", Integer, nullable=False, default=1),
    Column("priority_weight", Integer, nullable=False, default=1),
    Column("scheduled_at", UTCDateTime, nullable=True),
    Column("queued_at", UTCDateTime, nullable=True),
    Column("start_date", UTCDateTime, nullable=True),
    Column("end_date", UTCDateTime, nullable=True),
    Column("duration", Float, nullable=True),
    Column("next_retry_at", UTCDateTime, nullable=True),
    Column("last_heartbeat_at", UTCDateTime, nullable=True),
    # Which executor runs the try, and its own handle on it (pid, pod name, asyncio task).
    Column("executor", String(100), nullable=True),
    Column("external_executor_id", String(ID_LEN), nullable=True),
    Column("hostname", String(1000), nullable=True),
    Column("pid", Integer, nullable=True),
    # Why a ready task is held back (pool full, max_active_tasks reached...), shown in the UI.
    Column("waiting_reason", Text, nullable=True),
    Column("note", Text, nullable=True),
    # Deferral (Airflow's names): the trigger a deferred try waits on, the method and
    # arguments it resumes with, when the deferral times out; and, for reschedule-mode
    # sensors, when the try's first poke started (its timeout counts from there).
    Column("trigger_id", Integer, nullable=True),
    Column("next_method", String(1000), nullable=True),
    Column("next_kwargs", json_type(none_as_null=True), nullable=True),
    Column("trigger_timeout", UTCDateTime, nullable=True),
    Column("first_poke_at", UTCDateTime, nullable=True),
    UniqueConstraint("dag_run_id", "task_id", "map_index"),
    Index("ix_task_instance_state", "state"),
    Index("ix_task_instance_dag_id_task_id", "dag_id", "task_id"),
)

task_instance_history = Table(
    "task_instance_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The live task instance this try belonged to (no FK: the row may be re-created).
    Column("task_instance_id", String(UUID_LEN), nullable=False),
    Column(
        "dag_run_id",
        Integer,
        ForeignKey("dag_run.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("dag_id", String(ID_LEN), nullable=False),
    Column("run_id", String(ID_LEN), nullable=False),
    Column("task_id", String(ID_LEN), nullable=False),
    Column("map_index", Integer, nullable=False),
    Column("try_number", Integer, nullable=False),
    Column("max_tries", Integer, nullable=False),
    Column("state", String(STATE_LEN), nullable=True),
    Column("operator", String(100), nullable=True),
    Column("pool", String(256), nullable=False),
    Column("executor", String(100), nullable=True),
    Column("external_executor_id", String(ID_LEN), nullable=True),
    Column("hostname", String(1000), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("queued_at", UTCDateTime, nullable=True),
    Column("start_date", UTCDateTime, nullable=True),
    Column("end_date", UTCDateTime, nullable=True),
    Column("duration", Float, nullable=True),
    Column("error", Text, nullable=True),
    UniqueConstraint("dag_run_id", "task_id", "map_index", "try_number"),
    sqlite_autoincrement=True,
)

xcom = Table(
    "xcom",
    metadata,
    Column(
        "dag_run_id",
        Integer,
        ForeignKey("dag_run.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("task_id", String(ID_LEN), primary_key=True),
    Column("map_index", Integer, primary_key=True),
    Column("key", String(512), primary_key=True),
    # JSON null is a legitimate value (a task returning None); a bare float must stay a
    # float on SQLite too (scalar_json_type).
    Column("value", scalar_json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Index("ix_xcom_expires_at", "expires_at"),
)

pool = Table(
    "pool",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("slots", Integer, nullable=False),
    Column("description", Text, nullable=True),
)

DEFAULT_POOL = "default_pool"
DEFAULT_POOL_SLOTS = 128

# The credential of the agent running a task instance's current try: minted when the try is
# queued, stored hashed (sha256), and deleted when the try reports its end. One row per task
# instance; a new try replaces it, so a stale agent's token stops working.
task_token = Table(
    "task_token",
    metadata,
    Column(
        "task_instance_id",
        String(UUID_LEN),
        ForeignKey("task_instance.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("try_number", Integer, nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    # the try's fencing record (store/tokens.py): its agent's start, and what it reported
    Column("started_at", UTCDateTime, nullable=True),
    Column("pid", Integer, nullable=True),
    Column("hostname", String(1000), nullable=True),
    Column("reported_at", UTCDateTime, nullable=True),
    Column("report", Text, nullable=True),
)


# The task state store (Airflow 3.3's task_state_store): JSON values a task instance keeps
# across its tries, addressed like XCom by (run, task, map index, key) but never shown to
# other tasks. Written and read only by the task's own agent (leoflow.engine.store.task_state).
task_state = Table(
    "task_state",
    metadata,
    Column(
        "dag_run_id",
        Integer,
        ForeignKey("dag_run.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("task_id", String(ID_LEN), primary_key=True),
    Column("map_index", Integer, primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("value", scalar_json_type(), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # null: NEVER_EXPIRE (kept as long as the run)
    Column("expires_at", UTCDateTime, nullable=True),
    Index("ix_task_state_expires_at", "expires_at"),
)
