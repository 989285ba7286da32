"""Schema migrations: Alembic, run from code over the async engine.

The migration scripts ship inside the package (``leoflow/engine/store/migrations``) and the
Alembic configuration is built here, so a user's machine needs no ``alembic.ini``. Lite calls
``ensure_schema(engine, auto_migrate=True)`` at start; a Pro deployment runs
``leoflow db migrate`` once per upgrade and every process opens the store with
``auto_migrate=False``, so that a control plane never runs on a schema older or newer than
its code (``SchemaMismatchError``).

On SQLite, migrations run with foreign keys off (``batch`` operations recreate tables, and
dropping a referenced table would otherwise cascade deletes) and are checked with
``PRAGMA foreign_key_check`` before the connection is given back.

Alembic is imported only when something is to be migrated: checking that a store is at the
head is one SELECT on the version table against the head read from the scripts' headers
(``head_revision``), which keeps Alembic's import (about 0.1 s) off every start of a store
already at the head.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Column, Connection, MetaData, String, Table, inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leoflow.engine.store.errors import SchemaMismatchError, StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Not "alembic_version": a database shared with Airflow (or another Alembic user) must not
# mix up its revisions with ours.
VERSION_TABLE = "leoflow_schema_version"
SCRIPT_LOCATION = "leoflow.engine.store:migrations"

SchemaKind = Literal["up_to_date", "empty", "older", "newer"]


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` pointing at the packaged scripts, bound to ``connection``.

    ``migrations/env.py`` reads the connection from ``config.attributes``; it refuses to
    run without one (there is no URL in the configuration on purpose).
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


# Alembic's own layout of the version table (one VARCHAR(32) primary key column).
_VERSION = Table(VERSION_TABLE, MetaData(), Column("version_num", String(32), primary_key=True))
VERSIONS_DIR = Path(__file__).parent / "migrations" / "versions"
_HEADER = re.compile(r'^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:"([^"]*)"|None)', re.M)


@functools.cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


@functools.cache
def head_revision() -> str:
    """The revision this version of the code expects the database to be at.

    Read from the scripts' ``revision``/``down_revision`` lines, without importing Alembic
    (tests check it against Alembic's own reading); a layout this cannot read is left to
    Alembic."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for script in VERSIONS_DIR.glob("[0-9]*.py"):
        header = {m[1]: m[2] for m in _HEADER.finditer(script.read_text("utf-8"))}
        if not header.get("revision") or "down_revision" not in header:
            return alembic_head()
        revisions.add(header["revision"])
        if header["down_revision"]:
            downs.add(header["down_revision"])
    heads = sorted(revisions - downs)
    return heads[0] if len(heads) == 1 else alembic_head()


def alembic_head() -> str:
    """The head as Alembic reads it from the scripts (imports every one of them)."""
    heads = _script().get_heads()
    if len(heads) != 1:  # a merge migration is missing: a bug in Leoflow, not in the database
        raise StoreError(f"migrations have {len(heads)} heads {heads}; expected exactly one")
    return heads[0]


def known_revisions() -> tuple[str, ...]:
    """Every revision shipped with the code, oldest first."""
    return tuple(reversed([s.revision for s in _script().walk_revisions()]))


@dataclass(frozen=True)
class SchemaStatus:
    """Where the database schema stands relative to the code."""

    current: str | None
    expected: str

    @property
    def kind(self) -> SchemaKind:
        if self.current == self.expected:
            return "up_to_date"
        if self.current is None:
            return "empty"
        if self.current in known_revisions():
            return "older"
        # A revision id the code does not know was written by a newer Leoflow (or by hand).
        return "newer"

    @property
    def ok(self) -> bool:
        return self.kind == "up_to_date"

    def error(self) -> SchemaMismatchError:
        """The error to raise when a caller insists on an up-to-date schema."""
        return SchemaMismatchError(self.current, self.expected, self.kind)


def _current_revision(connection: Connection) -> str | None:
    """The revision in the version table (``None`` without one): one SELECT, as Alembic's
    ``get_current_revision`` reads it; a table with several rows is left to Alembic, whose
    error names them."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(select(_VERSION.c.version_num)).scalars().all()
    if len(rows) <= 1:
        return rows[0] if rows else None
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def schema_status(engine: AsyncEngine) -> SchemaStatus:
    """Read the revision stored in the database and compare it with the code's head."""
    async with engine.connect() as conn:
        current = await conn.run_sync(_current_revision)
    return SchemaStatus(current=current, expected=head_revision())


def _sqlite_pragma(connection: Connection, statement: str) -> list[tuple[Any, ...]]:
    # PRAGMA foreign_keys is silently ignored inside a transaction, so these go straight to
    # the driver (which is in autocommit mode, see database.py) and never open one.
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
        return list(cursor.fetchall())
    finally:
        cursor.close()


async def _run_alembic(engine: AsyncEngine, action: Callable[[Config], None]) -> None:
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.execution_options(leoflow_sqlite_begin="IMMEDIATE")
            await conn.run_sync(_sqlite_pragma, "PRAGMA foreign_keys=OFF")
        try:
            await conn.run_sync(lambda sync_conn: action(alembic_config(sync_conn)))
            await conn.commit()
            if sqlite:
                await _check_sqlite_foreign_keys(conn)
        finally:
            if sqlite:
                await conn.rollback()
                await conn.run_sync(_sqlite_pragma, "PRAGMA foreign_keys=ON")


async def _check_sqlite_foreign_keys(conn: AsyncConnection) -> None:
    violations = await conn.run_sync(_sqlite_pragma, "PRAGMA foreign_key_check")
    if violations:
        raise StoreError(f"migration left rows that break foreign keys: {violations[:5]}")


async def migrate(engine: AsyncEngine, revision: str = "head") -> SchemaStatus:
    """Upgrade the schema to ``revision`` (the code's head by default); idempotent.

    Refuses a database migrated by a newer Leoflow: upgrading from an unknown revision is
    impossible, and downgrading belongs to the code that wrote it.
    """
    status = await schema_status(engine)
    if status.kind == "newer":
        raise status.error()
    if status.kind != "up_to_date" or revision != "head":
        from alembic import command

        await _run_alembic(engine, lambda config: command.upgrade(config, revision))
    return await schema_status(engine)


async def downgrade(engine: AsyncEngine, revision: str) -> SchemaStatus:
    """Downgrade the schema to ``revision`` (``"base"`` drops every table). Used by tests
    and by operators rolling back a failed upgrade; never called automatically."""
    from alembic import command

    await _run_alembic(engine, lambda config: command.downgrade(config, revision))
    return await schema_status(engine)


async def stamp(engine: AsyncEngine, revision: str) -> None:
    """Record ``revision`` as current without running anything (repairs and tests).

    Unlike ``alembic stamp`` it accepts a revision id the code does not know, to simulate a
    database written by a newer Leoflow.
    """

    def _stamp(connection: Connection) -> None:
        _VERSION.create(connection, checkfirst=True)
        connection.execute(_VERSION.delete())
        connection.execute(_VERSION.insert().values(version_num=revision))

    async with engine.begin() as conn:
        await conn.run_sync(_stamp)


async def ensure_schema(engine: AsyncEngine, *, auto_migrate: bool = False) -> SchemaStatus:
    """Make sure the schema matches the code before anything else touches the database.

    With ``auto_migrate`` (Lite) an empty or older schema is upgraded in place; without it
    (Pro, where ``leoflow db migrate`` is a deliberate step) any difference raises
    ``SchemaMismatchError``. A newer schema always raises.
    """
    status = await schema_status(engine)
    if status.ok:
        return status
    if auto_migrate and status.kind in ("empty", "older"):
        return await migrate(engine)
    raise status.error()



async def schema_diff(engine: AsyncEngine) -> list[Any]:
    """Differences between the live database and ``tables.metadata`` (Alembic's autogenerate
    comparison); an empty list means the migrations produce exactly the declared schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from leoflow.engine.store.tables import metadata

    def _diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={"version_table": VERSION_TABLE, "compare_type": True},
        )
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        return await conn.run_sync(_diff)


async def autogenerate_revision(engine: AsyncEngine, message: str, rev_id: str) -> None:
    """Write a new migration script comparing ``metadata`` with a database at head.

    A developer tool: point it at a scratch database (e.g. a temporary SQLite file), then
    review and edit the script it writes into ``migrations/versions``. Revision ids are
    sequence numbers (``"0003"``) so that the files sort in order.
    """
    from alembic import command

    if known_revisions():
        await migrate(engine)

    def _revision(connection: Connection) -> None:
        command.revision(
            alembic_config(connection), message=message, autogenerate=True, rev_id=rev_id
        )

    async with engine.connect() as conn:
        await conn.run_sync(_revision)
    _script.cache_clear()
    head_revision.cache_clear()
