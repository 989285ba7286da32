"""Leoflow's state is its owner's only, and a backup holds the state only, privately, and
restores it exactly (issue 15, item 13).

* a real control plane on a fresh home: the home is 0700, the SQLite store and its -wal and
  -shm 0600, the generated secrets 0600, a task log 0600 in 0700 folders;
* a Lite home with Leoflow's own install venv in it (``~/.leoflow/venv``, a real venv) and
  a workspace with an executable script, a private file and symbolic links: the backup is
  0600, holds no environment and no live IDE session, is small; the restore keeps modes
  and links, the install still runs and the restored store opens with its admin.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from leoflow.app.controlplane import start_control_plane
from leoflow.app.lite_backup import backup, restore
from leoflow.app.lite_users import admin_exists
from leoflow.app.settings import Settings, lite_database_url
from leoflow.engine.auth.passwords import Passwords
from leoflow.engine.auth.service import AuthService
from leoflow.engine.logs.paths import LogKey
from leoflow.engine.store import Store, users


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


async def test_state_files_are_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old = os.umask(0o022)  # the usual umask: what made them 0644 before
    try:
        settings = Settings.load(env={"LEOFLOW_HOME": str(home)})
        plane = await start_control_plane(settings)
        try:
            await AuthService.open(plane.store, settings)  # generates the JWT secret
            async with plane.store.begin() as conn:
                await users.create_user(conn, "someone", password_hash="x", role="Viewer")
            key = LogKey("d", "r", "t", 1)
            await plane.logs.append_lines(key, "stdout", ["password=hunter2"])
            await plane.logs.flush(key)
            database = home / "leoflow.db"
            found = {"home": mode(home), "leoflow.db": mode(database)}
            for suffix in ("-wal", "-shm"):
                companion = database.with_name(database.name + suffix)
                if companion.exists():
                    found[companion.name] = mode(companion)
            log_file = next((home / "logs").rglob("*.log"))
            found["log"] = mode(log_file)
            found["log folders"] = {mode(p) for p in log_file.parents
                                    if p == home / "logs" or (home / "logs") in p.parents}
            for secret in ("jwt_secret", "fernet.key"):
                if (home / secret).exists():
                    found[secret] = mode(home / secret)
        finally:
            await plane.stop()
    finally:
        os.umask(old)
    assert "leoflow.db-wal" in found and "jwt_secret" in found
    assert found.pop("home") == 0o700
    assert found.pop("log folders") == {0o700}
    assert set(found.values()) == {0o600}, found


async def make_home(tmp_path: Path) -> tuple[Path, Path, str]:
    home, workspace = tmp_path / "home", tmp_path / "workspace"
    home.mkdir()
    url = lite_database_url(home)
    store = await Store.open(url, auto_migrate=True)
    async with store.begin() as conn:
        await users.create_user(conn, "admin", password_hash=Passwords().hash("pass-123456"),
                                role="Admin")
    await store.close()
    # Leoflow's own install venv, as install.sh makes it (~/.leoflow/venv): a real one.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home / "venv")],
                   check=True)
    (home / "fernet.key").write_text("key\n")
    os.chmod(home / "fernet.key", 0o600)
    (home / "logs" / "d" / "r" / "t").mkdir(parents=True)
    (home / "logs" / "d" / "r" / "t" / "1.log").write_text("line\n")
    project = workspace / "proj"
    project.mkdir(parents=True)
    (project / "dag.py").write_text("# mine\n")
    (project / "run.sh").write_text("#!/bin/sh\necho ran\n")
    os.chmod(project / "run.sh", 0o750)
    (project / "private.txt").write_text("mine only\n")
    os.chmod(project / "private.txt", 0o600)
    (project / "latest.py").symlink_to("dag.py")
    (workspace / "data").symlink_to("/usr/share")  # a link out, kept as a link
    (workspace / ".leoflow" / "ide-sessions").mkdir(parents=True)
    (workspace / ".leoflow" / "ide-sessions" / "storage-user-x.json").write_text(
        '{"token": "live"}')
    return home, workspace, url


async def test_backup_holds_the_state_only_and_restores_exactly(tmp_path: Path) -> None:
    home, workspace, url = await make_home(tmp_path)
    archive = tmp_path / "out" / "lite.tar.gz"
    old = os.umask(0o022)
    try:
        started = time.monotonic()
        report = backup(home, workspace, url, archive)
        took = time.monotonic() - started
    finally:
        os.umask(old)
    assert mode(archive) == 0o600
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert not any(n.startswith("home/venv") for n in members), "the install venv is state?"
    assert not any("ide-sessions" in n for n in members)
    assert members["db/leoflow.db"].mode == 0o600
    assert members["workspace/proj/latest.py"].issym()
    assert members["workspace/proj/run.sh"].mode == 0o750
    assert report.size < 1_000_000, report.size
    assert took < 10

    # Lose the state (and break the install's files), then restore.
    (workspace / "proj" / "dag.py").write_text("# broken\n")
    os.unlink(home / "leoflow.db")
    restore(home, workspace, url, archive)
    assert (workspace / "proj" / "dag.py").read_text() == "# mine\n"
    assert mode(workspace / "proj" / "run.sh") == 0o750
    assert mode(workspace / "proj" / "private.txt") == 0o600
    assert (workspace / "proj" / "latest.py").is_symlink()
    assert os.readlink(workspace / "proj" / "latest.py") == "dag.py"
    assert os.readlink(workspace / "data") == "/usr/share"
    assert mode(home / "leoflow.db") == 0o600
    assert mode(home) == 0o700
    assert (home / "fernet.key").read_text() == "key\n"
    # The install still works: its venv was neither backed up nor replaced.
    ran = subprocess.run([str(home / "venv" / "bin" / "python"), "-c", "print('ok')"],
                         capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "ok"
    ran = subprocess.run([str(workspace / "proj" / "run.sh")], capture_output=True, text=True,
                         check=True)
    assert ran.stdout.strip() == "ran"
    assert await admin_exists(url)
