"""Lite's files: what it remembers, its lock, backup and restore, passwords — in process, on
a real migrated SQLite store."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from leoflow.app.lite import LiteOptions, _Lite
from leoflow.app.lite_backup import backup, restore
from leoflow.app.lite_lock import LiteLock, running_server
from leoflow.app.lite_state import (
    LiteConfig,
    LiteStateError,
    ide_secret,
    resolve_workspace,
)
from leoflow.app.lite_users import admin_exists, reset_password
from leoflow.app.settings import lite_database_url
from leoflow.engine.auth.passwords import Passwords
from leoflow.engine.backup.errors import BackupError
from leoflow.engine.backup.sqlite import sqlite_path
from leoflow.engine.store import Store, users


@pytest.fixture
async def lite_home(tmp_path: Path) -> tuple[Path, Path, str]:
    """A home with a migrated store holding an admin, some logs and secrets; a workspace."""
    home, workspace = tmp_path / "home", tmp_path / "workspace"
    home.mkdir()
    url = lite_database_url(home)
    store = await Store.open(url, auto_migrate=True)
    async with store.begin() as conn:
        await users.create_user(conn, "admin", password_hash=Passwords().hash("first-pass"),
                                role="Admin")
    await store.close()
    (home / "logs" / "hello" / "run" / "t").mkdir(parents=True)
    (home / "logs" / "hello" / "run" / "t" / "1.log").write_text('{"event": "hi"}\n')
    (home / "fernet.key").write_text("key\n")
    (home / "venvs" / "hello-abc" / "bin").mkdir(parents=True)
    (home / "venvs" / "hello-abc" / "bin" / "python").write_text("")
    (workspace / "hello").mkdir(parents=True)
    (workspace / "hello" / "dag.py").write_text("# mine\n")
    (workspace / "hello" / ".venv").mkdir()
    (workspace / "hello" / ".venv" / "big").write_text("x" * 1000)
    return home, workspace, url


async def test_a_backup_restores_the_whole_state(tmp_path: Path,
                                                 lite_home: tuple[Path, Path, str]) -> None:
    home, workspace, url = lite_home
    archive = tmp_path / "out" / "lite.tar.gz"
    report = backup(home, workspace, url, archive)
    assert report.path == archive and archive.exists()
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"leoflow-backup.json", "db/leoflow.db", "home/fernet.key",
            "home/logs/hello/run/t/1.log", "workspace/hello/dag.py"} <= names
    assert not any("venvs" in n or ".venv" in n for n in names)

    # Lose everything, then restore.
    (workspace / "hello" / "dag.py").write_text("# broken\n")
    (home / "fernet.key").write_text("another\n")
    sqlite_path(url).unlink()  # type: ignore[union-attr]
    restored = restore(home, workspace, url, archive)
    assert (workspace / "hello" / "dag.py").read_text() == "# mine\n"
    assert (home / "fernet.key").read_text() == "key\n"
    assert (home / "logs" / "hello" / "run" / "t" / "1.log").exists()
    assert (home / "venvs" / "hello-abc").exists()  # environments are left in place
    assert await admin_exists(url)
    # The replaced state is set aside, not deleted.
    assert len(restored.set_aside) == 2
    old_home, old_workspace = restored.set_aside
    assert (old_home / "fernet.key").read_text() == "another\n"
    assert (old_workspace / "hello" / "dag.py").read_text() == "# broken\n"
    assert LiteConfig.load(home).workspace == workspace


async def test_restore_is_refused_while_lite_runs(tmp_path: Path,
                                                  lite_home: tuple[Path, Path, str]) -> None:
    home, workspace, url = lite_home
    archive = tmp_path / "lite.tar.gz"
    lock = LiteLock(home)
    lock.acquire({"url": "http://127.0.0.1:8088"})
    try:
        backup(home, workspace, url, archive)  # a backup is fine while running
        assert running_server(home)["url"] == "http://127.0.0.1:8088"  # type: ignore[index]
        with pytest.raises(LiteStateError, match="is running"):
            restore(home, workspace, url, archive)
        with pytest.raises(LiteStateError, match="already running"):
            LiteLock(home).acquire({})
    finally:
        lock.release()
    assert running_server(home) is None
    restore(home, workspace, url, archive)


def test_unusable_archives_are_refused(tmp_path: Path) -> None:
    home, workspace = tmp_path / "home", tmp_path / "workspace"
    url = lite_database_url(home)
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar")
    with pytest.raises(BackupError, match="not a Leoflow Lite backup"):
        restore(home, workspace, url, junk)
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(BackupError, match="unsafe"):
        restore(home, workspace, url, evil)
    assert not (tmp_path / "escape.txt").exists()


def test_backup_needs_the_sqlite_store(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="pg_dump"):
        backup(tmp_path, tmp_path / "ws", "postgresql+asyncpg://u@h/db", tmp_path / "b.tgz")
    with pytest.raises(BackupError, match="no Lite store"):
        backup(tmp_path, tmp_path / "ws", lite_database_url(tmp_path), tmp_path / "b.tgz")


async def test_reset_password_changes_only_the_hash(lite_home: tuple[Path, Path, str]) -> None:
    _home, _workspace, url = lite_home
    password = await reset_password(url, "admin")
    assert len(password) >= 16
    store = await Store.open(url)
    try:
        async with store.connect() as conn:
            user = await users.get_user(conn, "admin")
    finally:
        await store.close()
    assert user is not None and user.role == "Admin"
    assert Passwords().verify(user.password_hash, password)
    assert not Passwords().verify(user.password_hash, "first-pass")
    with pytest.raises(LiteStateError, match=r"no user 'ghost' \(users: admin\)"):
        await reset_password(url, "ghost")


async def test_a_new_store_has_no_admin(tmp_path: Path) -> None:
    assert not await admin_exists(lite_database_url(tmp_path))


def test_the_workspace_and_choices_are_remembered(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    home = tmp_path / "home"
    assert resolve_workspace(home, None) == tmp_path / "leoflow"
    LiteConfig(workspace=tmp_path / "dags", postgres="embedded", grpc_port=50123).save(home)
    assert resolve_workspace(home, None) == tmp_path / "dags"
    assert resolve_workspace(home, str(tmp_path / "other")) == tmp_path / "other"
    config = LiteConfig.load(home)
    assert (config.postgres, config.grpc_port) == ("embedded", 50123)
    secret = ide_secret(home)
    assert ide_secret(home) == secret and len(secret) >= 32
    assert (home / "ide_secret").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(("host", "warned"), [("127.0.0.1", False), ("0.0.0.0", True)])
def test_listening_beyond_this_machine_warns(tmp_path: Path, host: str, warned: bool) -> None:
    said: list[str] = []
    settings = SimpleNamespace(home=tmp_path, database_url=lite_database_url(tmp_path))
    lite = _Lite(LiteOptions(host=host, say=said.append), settings, tmp_path / "ws",
                 "http://127.0.0.1:8088", "s3cret-pass", 50000, None, 0.0)
    lite.ide_mounted = True
    lite._banner(1.0)
    text = "\n".join(said)
    assert "s3cret-pass" in text and "http://127.0.0.1:8088" in text
    assert ("WARNING" in text and "editor" in text) is warned
