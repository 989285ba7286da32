"""The ``Store``: one async engine, transactions, and SQLite's single-writer rule.

One code path serves SQLite (aiosqlite) and PostgreSQL (asyncpg); what differs is set up
here, once:

* SQLite connections get WAL journaling (readers never block the writer), foreign keys on,
  a busy timeout, and SQLAlchemy emits ``BEGIN`` itself (the sqlite3 driver's legacy mode
  would not, which breaks SAVEPOINTs and transactional DDL). Write transactions start with
  ``BEGIN IMMEDIATE`` so that a writer takes the file lock up front instead of failing on a
  lock upgrade half way through.
* On SQLite, ``Store.begin()`` holds an ``asyncio.Lock``: writes from every task of the
  process are serialized before they reach the file, so "database is locked" cannot happen
  inside the one process that owns the file. Readers (``Store.connect()``) take no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from leoflow.engine.store import schema
from leoflow.engine.store.errors import NestedWriteError, StoreUnavailableError

SQLITE_BUSY_TIMEOUT_MS = 30_000

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
}


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL and pick the async driver the store uses for its dialect.

    Users may paste ``postgresql://...`` or ``sqlite:///...``; the store always talks through
    asyncpg or aiosqlite. Raises ``StoreUnavailableError`` for a URL that cannot be parsed or
    names another database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreUnavailableError(str(url), "not a database URL") from exc
    parsed = parsed.set(drivername=_DRIVERS.get(parsed.drivername, parsed.drivername))
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise StoreUnavailableError(
            mask_url(parsed), "only SQLite (sqlite+aiosqlite) and PostgreSQL (postgresql+asyncpg)"
        )
    return parsed


def mask_url(url: str | URL) -> str:
    """The URL as it may be printed: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid URL>"


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL (``None`` for in-memory databases or other dialects)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: SQLAlchemy's "begin" hook below emits BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")  # durable with WAL, much faster
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("leoflow_sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def create_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """Create the async engine for ``url`` with the store's per-dialect settings.

    Creates the parent folder of a SQLite file. Does no other I/O: nothing connects until
    the first query.
    """
    parsed = normalize_url(url)
    path = sqlite_path(parsed)
    if path is not None:
        try:
            path.expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(mask_url(parsed), str(exc)) from exc
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _install_sqlite_hooks(engine)
    return engine


# Errors that mean "the database cannot be reached or opened", as opposed to a bug.
_UNAVAILABLE: tuple[type[BaseException], ...] = (DBAPIError, OSError, TimeoutError)


def _unavailable(dialect: str) -> tuple[type[BaseException], ...]:
    """``_UNAVAILABLE``, plus asyncpg's own errors (raised at connect time, unwrapped by
    SQLAlchemy) on PostgreSQL: asyncpg is imported only there (a SQLite start skips it)."""
    if dialect != "postgresql":
        return _UNAVAILABLE
    import asyncpg

    return (*_UNAVAILABLE, asyncpg.PostgresError, asyncpg.InterfaceError)


class Store:
    """The metadata database: owns an ``AsyncEngine`` and hands out connections.

    * ``async with store.begin() as conn`` runs one write transaction, committed when the
      block exits normally and rolled back on an exception. Pass ``conn`` to the repository
      functions (``dags``, ``runs``, ...), which never commit. Keep write transactions short
      and free of other I/O: on SQLite they hold the process-wide write lock. Calling
      ``begin()`` again inside the block raises ``NestedWriteError`` (it would deadlock on
      SQLite); pass the connection down instead.
    * ``async with store.connect() as conn`` is for reads; it never waits for writers. Do not
      write through it: on SQLite that would bypass the writer lock.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # Tasks inside begin(): a nested begin() raises instead of waiting for itself.
        self._writers: set[asyncio.Task[Any]] = set()

    @classmethod
    def from_url(cls, url: str | URL, **engine_kwargs: Any) -> Store:
        """Build a store without touching the database (see ``open`` for the usual way)."""
        return cls(create_engine(url, **engine_kwargs))

    @classmethod
    async def open(
        cls, url: str | URL, *, auto_migrate: bool = False, **engine_kwargs: Any
    ) -> Store:
        """Build a store and check its schema before anyone uses it.

        ``auto_migrate=True`` (Lite) upgrades an empty or older schema in place; otherwise a
        schema that differs from the code raises ``SchemaMismatchError``. A database that
        cannot be reached raises ``StoreUnavailableError``.
        """
        _private_sqlite_file(url)
        store = cls.from_url(url, **engine_kwargs)
        try:
            await store.ensure_schema(auto_migrate=auto_migrate)
        except BaseException:
            await store.close()
            raise
        return store

    @property
    def url(self) -> str:
        """The database URL with the password masked, for messages and logs."""
        return mask_url(self.engine.url)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction (see the class docstring)."""
        task = asyncio.current_task()
        if task is not None and task in self._writers:
            raise NestedWriteError()
        if task is not None:
            self._writers.add(task)
        try:
            if self._write_lock is None:
                async with self.engine.begin() as conn:
                    yield conn
            else:
                async with self._write_lock, self.engine.connect() as conn:
                    await conn.execution_options(leoflow_sqlite_begin="IMMEDIATE")
                    async with conn.begin():
                        yield conn
        finally:
            if task is not None:
                self._writers.discard(task)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; its implicit transaction is rolled back at exit."""
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        """Connect once and run ``SELECT 1``; ``StoreUnavailableError`` when that fails.

        Only this step translates driver errors: a failure after the connection works is a
        bug or a real database error and keeps its own type.
        """
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except _unavailable(self.dialect) as exc:
            lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise StoreUnavailableError(
                self.url, lines[0] if lines else type(exc).__name__
            ) from exc

    async def schema_status(self) -> schema.SchemaStatus:
        """The database's schema revision compared with the code's."""
        await self.ping()
        return await schema.schema_status(self.engine)

    async def ensure_schema(self, *, auto_migrate: bool = False) -> schema.SchemaStatus:
        """See ``schema.ensure_schema``; holds the writer lock while migrating."""
        await self.ping()
        async with self._exclusive():
            return await schema.ensure_schema(self.engine, auto_migrate=auto_migrate)

    async def migrate(self, revision: str = "head") -> schema.SchemaStatus:
        """Upgrade the schema (``leoflow db migrate``); a no-op when already at head."""
        await self.ping()
        async with self._exclusive():
            return await schema.migrate(self.engine, revision)

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    async def close(self) -> None:
        """Close every pooled connection. The store must not be used afterwards."""
        await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


def _private_sqlite_file(url: str | URL) -> None:
    """A SQLite store file is the owner's only (0600, and so its -wal and -shm): it holds
    password hashes, sessions and encrypted secrets (docs/security.md)."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return  # from_url reports it
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:") or parsed.query.get("mode") == "memory":
        return
    from leoflow.engine.safe_files import make_sqlite_private

    with contextlib.suppress(OSError):  # an unreachable file is reported by the open itself
        make_sqlite_private(database)
