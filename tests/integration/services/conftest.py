"""The operations are tested on the scheduler's harness: a real store, the real loop, the
scripted executor and the manual clock."""

from tests.integration.scheduler.conftest import (  # noqa: F401  (fixtures)
    any_harness,
    clock,
    db_url,
    executor,
    harness,
    migrated_postgres_url,
    migrated_sqlite_url,
    postgres_template,
    sqlite_template,
)
