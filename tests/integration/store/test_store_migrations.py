"""Migrations: idempotent, exactly the declared schema, and schema drift detected."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from leoflow.engine.store import SchemaMismatchError, Store, StoreUnavailableError, pools, schema
from leoflow.engine.store.database import create_engine


async def test_open_refuses_an_empty_database_without_auto_migrate(database_url: str) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        await Store.open(database_url)
    assert caught.value.kind == "empty"
    assert caught.value.current is None
    assert caught.value.expected == schema.head_revision()
    assert "leoflow db migrate" in str(caught.value)


async def test_migrations_are_idempotent(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        first = await schema.migrate(engine)
        second = await schema.migrate(engine)
        assert first == second
        assert first.ok and first.current == schema.head_revision()
        # Reopening with or without auto-migrate finds nothing to do.
        async with await Store.open(database_url) as store:
            assert (await store.migrate()).ok
    finally:
        await engine.dispose()


async def test_head_creates_exactly_the_declared_schema(store: Store) -> None:
    assert await schema.schema_diff(store.engine) == []


async def test_schema_diff_is_not_vacuous(store: Store) -> None:
    async with store.begin() as conn:
        await conn.execute(text("DROP INDEX ix_dag_run_state"))
    diff = await schema.schema_diff(store.engine)
    assert [d[0] for d in diff] == ["add_index"]


async def test_default_pool_is_seeded(store: Store) -> None:
    async with store.connect() as conn:
        default = await pools.get_pool(conn, "default_pool")
    assert default is not None and default.slots == 128


async def test_downgrade_to_base_and_back(store: Store) -> None:
    assert (await schema.downgrade(store.engine, "base")).kind == "empty"
    assert (await schema.migrate(store.engine)).ok
    assert await schema.schema_diff(store.engine) == []


async def test_older_schema_is_reported_then_upgraded(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        older = await schema.migrate(engine, schema.known_revisions()[0])
        assert older.kind == "older"
        with pytest.raises(SchemaMismatchError) as caught:
            await Store.open(database_url)
        assert caught.value.kind == "older"
        assert caught.value.current == schema.known_revisions()[0]
        # Lite upgrades in place.
        async with await Store.open(database_url, auto_migrate=True) as store:
            assert (await store.schema_status()).ok
    finally:
        await engine.dispose()


async def test_newer_schema_is_refused_even_with_auto_migrate(store: Store) -> None:
    await schema.stamp(store.engine, "ffffffffffff")
    status = await store.schema_status()
    assert status.kind == "newer" and status.current == "ffffffffffff"
    for auto in (False, True):
        with pytest.raises(SchemaMismatchError) as caught:
            await Store.open(store.engine.url, auto_migrate=auto)
        assert caught.value.kind == "newer"
        assert "newer Leoflow" in str(caught.value)
    with pytest.raises(SchemaMismatchError):
        await store.migrate()


async def test_unreachable_database_is_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    with pytest.raises(StoreUnavailableError, match="cannot open the metadata database"):
        await Store.open(f"sqlite:///{tmp_path}/a_file/leoflow.db")
    missing_socket = f"postgresql://leo:pw@/leoflow?host={tmp_path}/nowhere&port=5432"
    with pytest.raises(StoreUnavailableError) as caught:
        await Store.open(missing_socket)
    assert "pw" not in str(caught.value)


@pytest.mark.postgres
async def test_missing_postgres_database_is_a_typed_error(postgres_url: str) -> None:
    url = postgres_url.replace("/test_", "/missing_", 1)
    with pytest.raises(StoreUnavailableError, match="does not exist"):
        await Store.open(url)


async def test_stamped_older_revision_is_reported(store: Store) -> None:
    oldest = schema.known_revisions()[0]
    await schema.stamp(store.engine, oldest)
    status = await store.schema_status()
    assert (status.kind, status.current) == ("older", oldest)
    with pytest.raises(SchemaMismatchError) as caught:
        await store.ensure_schema()
    assert (caught.value.current, caught.value.expected) == (oldest, schema.head_revision())
