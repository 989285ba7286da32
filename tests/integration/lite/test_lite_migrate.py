"""The child that migrates a new Lite store while Lite builds (``lite_migrate``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from leoflow.app.lite_migrate import start_migration
from leoflow.engine.store import schema


def test_a_new_store_is_created_at_the_head_by_the_child(tmp_path: Path) -> None:
    database = tmp_path / "leoflow.db"
    child = start_migration(f"sqlite+aiosqlite:///{database}")
    assert child is not None
    assert child.wait(60) == 0
    with sqlite3.connect(database) as conn:
        assert conn.execute(f"SELECT version_num FROM {schema.VERSION_TABLE}").fetchall() \
            == [(schema.head_revision(),)]
        assert conn.execute("SELECT name, slots FROM pool").fetchall() == [
            ("default_pool", 128)]
    assert database.stat().st_mode & 0o077 == 0  # private, as the control plane makes it


def test_no_child_for_an_existing_store_or_another_database(tmp_path: Path) -> None:
    database = tmp_path / "leoflow.db"
    database.touch()
    assert start_migration(f"sqlite+aiosqlite:///{database}") is None
    assert start_migration("postgresql+asyncpg://leoflow@127.0.0.1:1/leoflow") is None


def test_a_failed_child_leaves_no_store_behind(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder", "utf-8")
    database = tmp_path / "a-file" / "leoflow.db"
    child = start_migration(f"sqlite+aiosqlite:///{database}")
    assert child is not None
    assert child.wait(60) != 0  # the control plane's own open then reports the error
    assert not database.exists()
