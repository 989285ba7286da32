"""The metadata schema as SQLAlchemy Core tables (the single source of truth).

Alembic migrations in ``migrations/versions`` must produce exactly this schema; a test
compares the migrated database with ``metadata`` and fails on any difference. When you change
a table here, add a migration in the same commit.

Naming follows Airflow 3's database where it has an equivalent (``dag_run.run_id``,
``task_instance.map_index``, ``try_number``), so that the ``/api/v2`` layer maps columns to
fields one to one. One deliberate exception: ``dag_run_id`` columns hold the *integer*
primary key ``dag_run.id``, never the string ``run_id``.

Timestamps are ``UTCDateTime`` (aware UTC on both dialects) and are filled in by the
repositories from Python, so that SQLite and PostgreSQL store the same values.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from leoflow.engine.store.types import UTCDateTime, json_type, scalar_json_type

# Named constraints are required for ALTERs on SQLite (batch mode) and make error messages
# and migrations readable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LEN = 250  # as Airflow: dag_id, task_id and run_id fit in 250 characters
UUID_LEN = 36  # canonical text form of a UUID, e.g. str(uuid.uuid4())
STATE_LEN = 20

metadata = MetaData(naming_convention=NAMING_CONVENTION)

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
    UniqueConstraint("dag_id", "version_number"),
    UniqueConstraint("dag_id", "content_hash"),
)

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

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("occurred_at", UTCDateTime, nullable=False),  # when
    Column("username", String(ID_LEN), nullable=True),  # who (null: the system itself)
    Column("event", String(100), nullable=False),  # what, e.g. "trigger", "pause", "clear"
    Column("dag_id", String(ID_LEN), nullable=True),
    Column("run_id", String(ID_LEN), nullable=True),
    Column("task_id", String(ID_LEN), nullable=True),
    Column("map_index", Integer, nullable=True),
    Column("try_number", Integer, nullable=True),
    Column("extra", json_type(none_as_null=True), nullable=True),
    Index("ix_audit_log_occurred_at", "occurred_at"),
    Index("ix_audit_log_dag_id", "dag_id"),
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
)

# -- Users, API tokens, revoked access tokens, variables, connections (docs/auth.md) -------

TENANT_LEN = 100
DEFAULT_TENANT = "default"

# A person (or a CI robot) who calls the API. The password hash is argon2id (the PHC string
# carries its own parameters); role is one of permissions.ROLES.
user_account = Table(
    "user_account",
    metadata,
    Column("username", String(ID_LEN), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(20), nullable=False),
    Column("tenant", String(TENANT_LEN), nullable=False, default=DEFAULT_TENANT),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_user_account_tenant", "tenant"),
    Index("ix_user_account_role", "role"),
)

# Long-lived bearer tokens for CI, acting as their user. Only the SHA-256 of the token is
# stored; the plain token is shown once, when it is created.
api_token = Table(
    "api_token",
    metadata,
    Column("id", String(UUID_LEN), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column(
        "username",
        String(ID_LEN),
        ForeignKey("user_account.username", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("description", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),  # null: until deleted
    UniqueConstraint("token_hash"),
    Index("ix_api_token_username", "username"),
)

# Access tokens (JWTs) revoked before their expiry, by their ``jti``; a row can go once the
# token it names has expired anyway.
revoked_token = Table(
    "revoked_token",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=False),
    Index("ix_revoked_token_expires_at", "expires_at"),
)

# Airflow variables, per tenant. ``value`` holds Fernet ciphertext when ``is_encrypted``.
variable = Table(
    "variable",
    metadata,
    Column("tenant", String(TENANT_LEN), primary_key=True),
    Column("key", String(ID_LEN), primary_key=True),
    Column("value", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("is_encrypted", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Airflow connections, per tenant. ``password`` and ``extra`` hold Fernet ciphertext.
connection = Table(
    "connection",
    metadata,
    Column("tenant", String(TENANT_LEN), primary_key=True),
    Column("connection_id", String(ID_LEN), primary_key=True),
    Column("conn_type", String(500), nullable=False),
    Column("description", Text, nullable=True),
    Column("host", String(500), nullable=True),
    Column("login", Text, nullable=True),
    Column("schema", String(500), nullable=True),
    Column("port", Integer, nullable=True),
    Column("password", Text, nullable=True),
    Column("extra", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

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
