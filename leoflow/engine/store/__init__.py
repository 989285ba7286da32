"""The metadata store: SQLAlchemy Core tables, Alembic migrations, repositories.

Usage::

    from leoflow.engine.store import Store, dags, runs

    store = await Store.open(settings.database_url, auto_migrate=True)  # Lite
    async with store.begin() as conn:                 # one transaction, committed at exit
        await dags.upsert_dag(conn, "etl", fileloc="etl/dag.py")
        version = await dags.register_version(conn, "etl", spec_dict, source_code)
    async with store.connect() as conn:               # reads; never waits for writers
        page = await runs.list_runs(conn, dag_id="etl", limit=50)

The repository modules (``dags``, ``runs``, ``task_instances``, ``xcom``, ``pools``,
``import_errors``, ``audit``, ``triggers``) hold async functions that take an
``AsyncConnection`` and never commit: the caller owns the transaction. They return the
frozen rows of ``rows``.
See docs/store.md.
"""

from leoflow.engine.store import (
    audit,
    dags,
    import_errors,
    pools,
    runs,
    schema,
    task_instances,
    triggers,
    xcom,
)
from leoflow.engine.store.database import Store, create_engine, mask_url, normalize_url
from leoflow.engine.store.errors import (
    DagNotFoundError,
    DagRunNotFoundError,
    DuplicateRunError,
    DuplicateTaskInstanceError,
    NestedWriteError,
    PoolError,
    SchemaMismatchError,
    StoreError,
    StoreUnavailableError,
    TaskInstanceNotFoundError,
)
from leoflow.engine.store.rows import (
    AuditLogRow,
    DagRow,
    DagRunRow,
    DagVersionRow,
    ImportErrorRow,
    Page,
    PoolRow,
    TaskInstanceHistoryRow,
    TaskInstanceRow,
    TriggerRow,
    XComRow,
)
from leoflow.engine.store.schema import (
    SchemaStatus,
    ensure_schema,
    head_revision,
    migrate,
    schema_status,
)
from leoflow.engine.store.task_instances import NewTaskInstance
from leoflow.engine.store.types import UTCDateTime, utcnow

__all__ = [
    "AuditLogRow",
    "DagNotFoundError",
    "DagRow",
    "DagRunNotFoundError",
    "DagRunRow",
    "DagVersionRow",
    "DuplicateRunError",
    "DuplicateTaskInstanceError",
    "ImportErrorRow",
    "NestedWriteError",
    "NewTaskInstance",
    "Page",
    "PoolError",
    "PoolRow",
    "SchemaMismatchError",
    "SchemaStatus",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "TaskInstanceHistoryRow",
    "TaskInstanceNotFoundError",
    "TaskInstanceRow",
    "TriggerRow",
    "UTCDateTime",
    "XComRow",
    "audit",
    "create_engine",
    "dags",
    "ensure_schema",
    "head_revision",
    "import_errors",
    "mask_url",
    "migrate",
    "normalize_url",
    "pools",
    "runs",
    "schema",
    "schema_status",
    "task_instances",
    "triggers",
    "utcnow",
    "xcom",
]
