"""The scheduler's harness (a real store, SQLite and PostgreSQL) for the agent service's
calls: the service is served over a real gRPC server beside it."""

from tests.integration.scheduler.conftest import (  # noqa: F401 (fixtures)
    clock,
    db_url,
    migrated_postgres_url,
    migrated_sqlite_url,
    postgres_template,
    sqlite_template,
)
