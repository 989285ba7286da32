"""The schema check without Alembic: the head read from the scripts' headers, the current
revision read with one SELECT, and Alembic left unimported when the store is at the head."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import Connection

from leoflow.engine.store import Store, schema
from leoflow.engine.store.database import create_engine


def _alembic_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection,
                                         opts={"version_table": schema.VERSION_TABLE})
    return context.get_current_revision()


def test_the_head_read_from_the_headers_is_alembics() -> None:
    assert schema.head_revision() == schema.alembic_head()
    assert schema.head_revision() == schema.known_revisions()[-1]


async def test_the_current_revision_is_read_as_alembic_reads_it(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        seen = []
        for target in (None, schema.known_revisions()[0], "head"):
            if target is not None:
                await schema.migrate(engine, target)
            async with engine.connect() as conn:
                ours = await conn.run_sync(schema._current_revision)
                theirs = await conn.run_sync(_alembic_revision)
            assert ours == theirs
            seen.append(ours)
        assert seen == [None, schema.known_revisions()[0], schema.head_revision()]
    finally:
        await engine.dispose()


async def test_an_older_store_is_still_upgraded_on_open(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await schema.migrate(engine, schema.known_revisions()[-2])
    finally:
        await engine.dispose()
    store = await Store.open(database_url, auto_migrate=True)
    try:
        status = await store.schema_status()
        assert status.ok and status.current == schema.head_revision()
        assert await schema.schema_diff(store.engine) == []
    finally:
        await store.close()


async def test_opening_a_store_at_the_head_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'at-head.db'}"
    await (await Store.open(url, auto_migrate=True)).close()
    probe = textwrap.dedent(f"""
        import asyncio, sys
        from leoflow.engine.store import Store

        async def main():
            store = await Store.open({url!r}, auto_migrate=True)
            await store.close()

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
