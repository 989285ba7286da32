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
    # the try's fencing record (store/tokens.py): its agent's start, and what it reported
    Column("started_at", UTCDateTime, nullable=True),
    Column("pid", Integer, nullable=True),
    Column("hostname", String(1000), nullable=True),
    Column("reported_at", UTCDateTime, nullable=True),
    Column("report", Text, nullable=True),
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

# -- Assets (Airflow 3's data-aware scheduling; docs/assets.md, leoflow.engine.store.assets) --

ASSET_NAME_LEN = 1500  # as Airflow's asset.name / uri / group

# An asset a DAG of the tenant names (schedule, outlet, inlet, @asset). Upserted when a DAG
# version becomes current; never deleted by a re-registration (events keep pointing at it).
asset = Table(
    "asset",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(TENANT_LEN), nullable=False),
    Column("name", String(ASSET_NAME_LEN), nullable=False),
    Column("uri", String(ASSET_NAME_LEN), nullable=False),
    Column("group", String(ASSET_NAME_LEN), nullable=False, default="asset"),
    Column("extra", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant", "name"),
    Index("ix_asset_tenant_uri", "tenant", "uri"),
    sqlite_autoincrement=True,  # asset_id is visible through the API
)

asset_alias = Table(
    "asset_alias",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(TENANT_LEN), nullable=False),
    Column("name", String(ASSET_NAME_LEN), nullable=False),
    Column("group", String(ASSET_NAME_LEN), nullable=False, default=""),
    UniqueConstraint("tenant", "name"),
    sqlite_autoincrement=True,
)

# Which assets an alias has resolved to (an ``outlet_events[alias].add(asset)`` at run time).
asset_alias_asset = Table(
    "asset_alias_asset",
    metadata,
    Column("alias_id", Integer, ForeignKey("asset_alias.id", ondelete="CASCADE"),
           primary_key=True),
    Column("asset_id", Integer, ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_asset_alias_asset_asset_id", "asset_id"),
)

# One update of an asset: by a task's success, the API, or a watcher.
asset_event = Table(
    "asset_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", Integer, ForeignKey("asset.id", ondelete="CASCADE"), nullable=False),
    Column("extra", json_type(), nullable=False),
    Column("source_dag_id", String(ID_LEN), nullable=True),
    Column("source_run_id", String(ID_LEN), nullable=True),
    Column("source_task_id", String(ID_LEN), nullable=True),
    Column("source_map_index", Integer, nullable=True),
    Column("source_alias", String(ASSET_NAME_LEN), nullable=True),
    Column("partition_key", String(ID_LEN), nullable=True),
    Column("timestamp", UTCDateTime, nullable=False),
    Index("ix_asset_event_asset_id_timestamp", "asset_id", "timestamp"),
    Index("ix_asset_event_source", "source_dag_id", "source_run_id"),
    sqlite_autoincrement=True,  # event ids are visible through the API and never reused
)

# Who consumes and who produces what, per DAG, from its current version: ``kind`` is
# ``schedule`` (a leaf of its condition), ``outlet`` or ``inlet`` (with ``task_id``). A leaf
# names an asset (``asset_id``), an alias (``alias_id``) or an ``Asset.ref`` resolved at
# evaluation time (``ref_name`` or ``ref_uri``). Rewritten whole when a version becomes current.
dag_asset_ref = Table(
    "dag_asset_ref",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(TENANT_LEN), nullable=False),
    Column("dag_id", String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"),
           nullable=False),
    Column("kind", String(STATE_LEN), nullable=False),
    Column("asset_id", Integer, ForeignKey("asset.id", ondelete="CASCADE"), nullable=True),
    Column("alias_id", Integer, ForeignKey("asset_alias.id", ondelete="CASCADE"),
           nullable=True),
    Column("ref_name", String(ASSET_NAME_LEN), nullable=True),
    Column("ref_uri", String(ASSET_NAME_LEN), nullable=True),
    Column("task_id", String(ID_LEN), nullable=True),
    Index("ix_dag_asset_ref_dag_id", "dag_id"),
    Index("ix_dag_asset_ref_asset_id", "asset_id"),
    Index("ix_dag_asset_ref_alias_id", "alias_id"),
)

# Events waiting for a consumer's condition (Airflow's asset_dag_run_queue), one row per
# (consumer, event): the rows a run consumes become its triggering events.
asset_queue = Table(
    "asset_queue",
    metadata,
    Column("tenant", String(TENANT_LEN), nullable=False),
    Column("dag_id", String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"),
           primary_key=True),
    Column("event_id", Integer, ForeignKey("asset_event.id", ondelete="CASCADE"),
           primary_key=True),
    Column("asset_id", Integer, ForeignKey("asset.id", ondelete="CASCADE"), nullable=False),
    Column("partition_key", String(ID_LEN), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_asset_queue_asset_id", "asset_id"),
)

# The events that started a run (Airflow's dagrun_asset_event).
dag_run_asset_event = Table(
    "dag_run_asset_event",
    metadata,
    Column("dag_run_id", Integer, ForeignKey("dag_run.id", ondelete="CASCADE"),
           primary_key=True),
    Column("event_id", Integer, ForeignKey("asset_event.id", ondelete="CASCADE"),
           primary_key=True),
    Index("ix_dag_run_asset_event_event_id", "event_id"),
)

# The asset state store (Airflow 3.3): JSON values kept per asset, shared by its tasks.
asset_state = Table(
    "asset_state",
    metadata,
    Column("asset_id", Integer, ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("value", scalar_json_type(), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The watchers of the current DAG versions' assets (AssetWatcher): run by the trigger runner.
asset_watcher = Table(
    "asset_watcher",
    metadata,
    Column("asset_id", Integer, ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True),
    Column("dag_id", String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"),
           primary_key=True),
    Column("name", String(ASSET_NAME_LEN), primary_key=True),
    Column("trigger", json_type(), nullable=False),
)
