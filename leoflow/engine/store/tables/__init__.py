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

The tables are grouped by concern, one module each: ``dags`` (DAGs, versions, import
errors), ``runs`` (runs, task instances, tries, XCom, task state, pools, try tokens),
``auth`` (users, tokens, audit log, variables, connections), ``waits`` (triggers,
human-in-the-loop) and ``assets``; ``common`` holds the ``MetaData`` they share. This
package is where everyone imports them from (``from leoflow.engine.store.tables import
dag_run``, ``tables.metadata`` for Alembic): importing it registers every table.
"""

from __future__ import annotations

from leoflow.engine.store.tables.assets import (
    ASSET_NAME_LEN,
    asset,
    asset_alias,
    asset_alias_asset,
    asset_event,
    asset_queue,
    asset_state,
    asset_watcher,
    dag_asset_ref,
    dag_run_asset_event,
)
from leoflow.engine.store.tables.auth import (
    api_token,
    audit_log,
    connection,
    revoked_token,
    user_account,
    variable,
)
from leoflow.engine.store.tables.backfills import backfill, backfill_date
from leoflow.engine.store.tables.common import (
    DEFAULT_TENANT,
    ID_LEN,
    NAMING_CONVENTION,
    STATE_LEN,
    TENANT_LEN,
    UUID_LEN,
    metadata,
)
from leoflow.engine.store.tables.dags import dag, dag_version, import_error
from leoflow.engine.store.tables.favorites import dag_favorite
from leoflow.engine.store.tables.runs import (
    DEFAULT_POOL,
    DEFAULT_POOL_SLOTS,
    dag_run,
    pool,
    task_instance,
    task_instance_history,
    task_state,
    task_token,
    xcom,
)
from leoflow.engine.store.tables.waits import hitl_detail, trigger

__all__ = [
    "ASSET_NAME_LEN", "DEFAULT_POOL", "DEFAULT_POOL_SLOTS", "DEFAULT_TENANT", "ID_LEN",
    "NAMING_CONVENTION", "STATE_LEN", "TENANT_LEN", "UUID_LEN", "api_token", "asset",
    "asset_alias", "asset_alias_asset", "asset_event", "asset_queue", "asset_state",
    "asset_watcher", "audit_log", "backfill", "backfill_date", "connection", "dag",
    "dag_asset_ref", "dag_favorite", "dag_run", "dag_run_asset_event", "dag_version", "hitl_detail",
    "import_error", "metadata", "pool", "revoked_token", "task_instance",
    "task_instance_history", "task_state", "task_token", "trigger", "user_account",
    "variable", "xcom",
]
