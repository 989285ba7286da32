"""The state of a Lite installation: what it remembers, who is running, backup and restore,
passwords.

Lite keeps everything under the Leoflow home (``~/.leoflow``) and the workspace
(``~/leoflow``):

* ``lite.json`` remembers the choices of the first start that later starts reuse: the
  workspace folder, whether the store is the embedded PostgreSQL, and the agents' gRPC port
  (kept stable so that agents still running after a crash reconnect to the next start);
* ``lite.lock`` is held (``flock``) by the running server, and names its pid and URL; the
  operating system releases it when the process dies, even by ``kill -9``, so a stale lock
  never blocks a start;
* a backup is one ``.tar.gz`` (mode 0600) holding a consistent copy of the SQLite store
  (SQLite's online backup API: correct while Lite keeps writing), the home's logs, task
  code and generated secrets (the Fernet key that encrypts connection passwords, the JWT
  secret), and the workspace, with their modes and symbolic links. Environments (per-DAG
  venvs, Leoflow's own install venv, any folder with ``pyvenv.cfg``) and the IDE's live
  sessions are left out: environments are rebuilt from ``leoflow.yaml``, sessions expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import json
import os
import secrets
import shutil
import socket
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from leoflow.app.workspace import DEFAULT_WORKSPACE
from leoflow.engine.safe_files import (
    TMP_SUFFIX,
    make_private_dir,
    make_sqlite_private,
    write_file,
)
from leoflow.errors import LeoflowError

STATE_FILE = "lite.json"
LOCK_FILE = "lite.lock"
PGDATA_DIR = "pgdata"
IDE_SECRET_FILE = "ide_secret"
BACKUP_FORMAT = 1
BACKUP_MANIFEST = "leoflow-backup.json"
DB_MEMBER = "db/leoflow.db"
# Never in a backup: rebuildable, machine-bound or live files of the home.
HOME_EXCLUDED = frozenset({"venvs", PGDATA_DIR, LOCK_FILE, STATE_FILE, "tmp"})
WORKSPACE_EXCLUDED = frozenset({".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache",
                                ".pytest_cache"})
PASSWORD_BYTES = 12  # token_urlsafe(12): 16 characters, 96 bits


class LiteStateError(LeoflowError):
    """Lite's state cannot be used as asked (a server is running, a backup is unreadable)."""


def generate_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


# -- lite.json -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiteConfig:
    """What the first start chose and later starts reuse."""

    workspace: Path | None = None
    postgres: str | None = None  # "embedded" or None (a URL belongs in config.toml)
    grpc_port: int | None = None

    @classmethod
    def load(cls, home: Path) -> LiteConfig:
        try:
            data = json.loads((home / STATE_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return cls()
        workspace = data.get("workspace")
        port = data.get("grpc_port")
        return cls(workspace=Path(workspace) if isinstance(workspace, str) else None,
                   postgres=data.get("postgres") if data.get("postgres") == "embedded"
                   else None,
                   grpc_port=port if isinstance(port, int) and 0 < port < 65536 else None)

    def save(self, home: Path) -> None:
        make_private_dir(home)
        data = {"workspace": str(self.workspace) if self.workspace else None,
                "postgres": self.postgres, "grpc_port": self.grpc_port}
        write_file(home / STATE_FILE, json.dumps(data, indent=1) + "\n", mode=0o600)


def resolve_workspace(home: Path, flag: str | None) -> Path:
    """The workspace: the flag, else the one Lite used last, else ``~/leoflow``."""
    chosen = Path(flag) if flag else (LiteConfig.load(home).workspace or DEFAULT_WORKSPACE)
    return chosen.expanduser().resolve()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on the port now. Probed with ``SO_REUSEADDR``, as
    servers bind: connections of a killed server left in TIME_WAIT do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def ide_secret(home: Path) -> str:
    """The secret that signs the IDE's session cookies: made once, kept in the home (not in
    the workspace, which may be a git repository), so that sessions survive a restart."""
    path = home / IDE_SECRET_FILE
    with contextlib.suppress(OSError):
        value = path.read_text("utf-8").strip()
        if len(value) >= 32:
            return value
    make_private_dir(home)
    value = secrets.token_urlsafe(48)
    write_file(path, value + "\n", mode=0o600)
    return value


# -- the running server's lock ---------------------------------------------------------------
class LiteLock:
    """Held by a running ``leoflow lite`` for its whole life (see the module docstring)."""

    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self, info: dict[str, Any]) -> None:
        """Take the lock or raise ``LiteStateError`` naming the running server."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            running = running_server(self.path.parent) or {}
            raise LiteStateError(
                f"Leoflow Lite is already running with this home ({self.path.parent}): pid "
                f"{running.get('pid', '?')}, {running.get('url', 'URL unknown')}; stop it "
                "first (Ctrl-C in its terminal)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), **info}))
        handle.flush()
        self._file = handle

    def update(self, **info: Any) -> None:
        if self._file is None:
            return
        current = json.loads(self.path.read_text("utf-8") or "{}")
        current.update(info)
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps(current))
        self._file.flush()

    def release(self) -> None:
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self._file.seek(0)
            self._file.truncate()
        self._file.close()  # closing drops the flock
        self._file = None


def running_server(home: Path) -> dict[str, Any] | None:
    """The running Lite server's ``{"pid", "url", ...}``, or None when none holds the lock."""
    path = home / LOCK_FILE
    if not path.exists():
        return None
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            try:
                return dict(json.loads(handle.read() or "{}"))
            except ValueError:
                return {}
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


# -- the SQLite file -------------------------------------------------------------------------
def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite`` URL, or None for another database."""
    prefix = next((p for p in ("sqlite+aiosqlite:///", "sqlite:///")
                   if database_url.startswith(p)), None)
    if prefix is None:
        return None
    return Path(database_url[len(prefix):].split("?", 1)[0])


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API takes a snapshot
    between the writer's transactions, WAL content included)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


# -- backup ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BackupReport:
    path: Path
    files: int
    size: int


def _walk(root: Path, excluded: frozenset[str],
          skipped: frozenset[Path] = frozenset()) -> Iterator[Path]:
    """Folders, regular files and symbolic links under ``root`` (sorted), never following a
    link; excluded names (at any depth), ``skipped`` paths and virtual environments (a
    folder holding ``pyvenv.cfg``: Leoflow's own install venv, a project's .venv) are left
    out: environments are rebuilt, not restored."""
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        kept = []
        for name in sorted(dirs):
            path = here / name
            if name in excluded or path in skipped or ((path / "pyvenv.cfg").exists() \
                    and not path.is_symlink()):
                continue
            yield path
            if not path.is_symlink():
                kept.append(name)
        dirs[:] = kept
        for name in sorted(names):
            path = here / name
            if name not in excluded and path not in skipped \
                    and (path.is_symlink() or path.is_file()):
                yield path


def _home_files(home: Path, database: Path | None, workspace: Path) -> Iterator[Path]:
    skip = {database, *(database.with_name(database.name + s) for s in
                        ("-wal", "-shm", "-journal"))} if database else set()
    for path in _walk(home, HOME_EXCLUDED):
        if path in skip or path == workspace or workspace in path.parents \
                or path.name.endswith((".tmp", TMP_SUFFIX)):
            continue
        yield path


def backup(home: Path, workspace: Path, database_url: str, target: Path) -> BackupReport:
    """Write the Lite state to ``target`` (``.tar.gz``, mode 0600: it holds the secrets);
    safe while Lite runs. The state only: the store (SQLite's online backup API), the
    home's logs, code and secrets, the workspace's files; file modes and symbolic links
    are recorded as they are. Environments (``venvs``, any folder with ``pyvenv.cfg``)
    and the IDE's live sessions are left out."""
    database = sqlite_path(database_url)
    if database is None:
        raise LiteStateError("backup covers Lite's SQLite store; this Lite uses PostgreSQL, "
                             "back that up with pg_dump (and copy the workspace)")
    if not database.exists():
        raise LiteStateError(f"there is no Lite store to back up at {database} (has "
                             "`leoflow lite` run with this LEOFLOW_HOME?)")
    target = target.expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    manifest = {"format": BACKUP_FORMAT, "created_at": datetime.now(UTC).isoformat(),
                "leoflow_version": _version(), "workspace_name": workspace.name,
                "database": "sqlite"}
    files = 0
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")
    # Created owner-only and exclusively: never through a planted link, never 0644.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        with tempfile.TemporaryDirectory(prefix="leoflow-backup-") as scratch, \
                os.fdopen(fd, "wb") as raw:
            snapshot = Path(scratch) / "leoflow.db"
            copy_sqlite(database, snapshot)
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                _add_bytes(tar, BACKUP_MANIFEST, json.dumps(manifest, indent=1).encode())
                tar.add(snapshot, DB_MEMBER, recursive=False, filter=_owner_only)
                files += 1
                for path in _home_files(home, database, workspace):
                    tar.add(path, "home/" + path.relative_to(home).as_posix(),
                            recursive=False)
                    files += not path.is_dir()
                if workspace.is_dir():
                    sessions = frozenset({workspace / ".leoflow" / "ide-sessions"})
                    for path in _walk(workspace, WORKSPACE_EXCLUDED, sessions):
                        tar.add(path, "workspace/" + path.relative_to(workspace).as_posix(),
                                recursive=False)
                        files += not path.is_dir()
            raw.flush()
            os.fsync(raw.fileno())
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return BackupReport(target, files, target.stat().st_size)


def _owner_only(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode = 0o600
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _version() -> str:
    from leoflow import __version__

    return __version__


# -- restore ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RestoreReport:
    files: int
    set_aside: tuple[Path, ...]  # the previous state, moved out of the way


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Files, folders and symbolic links with relative names; no entry below a link (it
    would be written through it), no hard link, device or fifo."""
    members = []
    links: set[PurePosixPath] = set()
    for member in tar.getmembers():
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts or not (
                member.isfile() or member.isdir() or member.issym()) \
                or any(parent in links for parent in name.parents):
            raise LiteStateError(f"the backup holds an unsafe entry {member.name!r}; "
                                 "refusing to restore it")
        if member.issym():
            links.add(name)
        members.append(member)
    return members


def _unpack(tar: tarfile.TarFile, members: list[tarfile.TarInfo], into: Path) -> None:
    """Files and folders with their modes (setuid/setgid bits dropped), then the symbolic
    links exactly as recorded (created last: nothing is ever written through one)."""
    plain = [m for m in members if not m.issym()]
    tar.extractall(into, members=plain, **_filter_kwargs())
    for member in members:
        if member.issym():
            dest = into / member.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(member.linkname, dest)


def restore(home: Path, workspace: Path, database_url: str, source: Path) -> RestoreReport:
    """Replace the Lite state by the backup's. Refuses while a Lite server runs on this
    home. The previous state is not deleted: the store, logs, code and secrets move to
    ``<home>/pre-restore-<time>/`` and the workspace to ``<workspace>.pre-restore-<time>``.
    """
    running = running_server(home)
    if running is not None:
        raise LiteStateError(
            f"Leoflow Lite is running (pid {running.get('pid', '?')}); stop it before "
            "restoring a backup")
    database = sqlite_path(database_url)
    if database is None:
        raise LiteStateError("restore replaces Lite's SQLite store; this Lite uses "
                             "PostgreSQL (restore that with pg_restore)")
    source = source.expanduser().resolve()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with _open_backup(source) as tar, tempfile.TemporaryDirectory(prefix=".leoflow-restore-",
                                          dir=_existing_parent(home)) as scratch:
        members = _safe_members(tar)
        names = {m.name for m in members}
        if BACKUP_MANIFEST not in names or DB_MEMBER not in names:
            raise LiteStateError(f"{source}: not a Leoflow Lite backup (no manifest or store)")
        manifest = json.loads(tar.extractfile(BACKUP_MANIFEST).read())  # type: ignore[union-attr]
        if manifest.get("format") != BACKUP_FORMAT:
            raise LiteStateError(f"{source}: backup format {manifest.get('format')!r} is not "
                                 f"supported (this Leoflow reads format {BACKUP_FORMAT})")
        unpacked = Path(scratch)
        _unpack(tar, members, unpacked)
        aside: list[Path] = []
        make_private_dir(home)
        old_home = home / f"pre-restore-{stamp}"
        restored_home = unpacked / "home"
        # Move the current store, logs, code and secrets aside, then the backup's in.
        replaced = {database.name, database.name + "-wal", database.name + "-shm",
                    database.name + "-journal"}
        if restored_home.is_dir():
            replaced |= {p.name for p in restored_home.iterdir()}
        for name in sorted(replaced):
            current = home / name
            if current.exists():
                old_home.mkdir(exist_ok=True)
                current.rename(old_home / name)
        if old_home.exists():
            aside.append(old_home)
        database.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(unpacked / DB_MEMBER), database)
        make_sqlite_private(database)
        if restored_home.is_dir():
            for item in sorted(restored_home.iterdir()):
                shutil.move(str(item), home / item.name)
        restored_workspace = unpacked / "workspace"
        if workspace.exists():
            old_workspace = workspace.with_name(f"{workspace.name}.pre-restore-{stamp}")
            workspace.rename(old_workspace)
            aside.append(old_workspace)
        if restored_workspace.is_dir():
            shutil.move(str(restored_workspace), workspace)
        else:
            workspace.mkdir(parents=True)
        config = LiteConfig.load(home)
        LiteConfig(workspace=workspace, postgres=config.postgres,
                   grpc_port=config.grpc_port).save(home)
    return RestoreReport(files=sum(1 for m in members if m.isfile()), set_aside=tuple(aside))


@contextlib.contextmanager
def _open_backup(source: Path) -> Iterator[tarfile.TarFile]:
    try:
        tar = tarfile.open(source, "r:gz")  # noqa: SIM115 (closed below)
    except (OSError, tarfile.TarError) as exc:
        raise LiteStateError(f"{source}: not a Leoflow Lite backup ({exc})") from None
    with tar:
        yield tar


def _existing_parent(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path(tempfile.gettempdir())


def _filter_kwargs() -> dict[str, Any]:
    # Python 3.11.4+ and 3.12 have extraction filters ("tar": modes kept but setuid, setgid
    # and sticky bits); members are checked above anyway, links are made by _unpack.
    return {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}


# -- users -----------------------------------------------------------------------------------
async def admin_exists(database_url: str) -> bool:
    """Whether the store has a user with the Admin role.

    For SQLite this is one query through the standard library (no engine, no migration
    check: a store without the users table has no admin), which keeps it off the start's
    critical path; the control plane migrates the store as it opens it.
    """
    from leoflow.engine.auth.service import ADMIN_ROLE
    from leoflow.engine.store import Store, users

    database = sqlite_path(database_url)
    if database is not None:
        return await asyncio.to_thread(_sqlite_admin_exists, database, ADMIN_ROLE)
    store = await Store.open(database_url, auto_migrate=True)
    try:
        async with store.connect() as conn:
            return await users.count_users(conn, role=ADMIN_ROLE) > 0
    finally:
        await store.close()


def _sqlite_admin_exists(database: Path, role: str) -> bool:
    if not database.exists():
        return False
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute("SELECT count(*) FROM user_account WHERE role = ?", (role,)).fetchone()
    except sqlite3.OperationalError:  # no users table yet: a store before its migration
        return False
    finally:
        conn.close()
    return bool(row and row[0])


async def reset_password(database_url: str, username: str) -> str:
    """Give ``username`` a new generated password (stored as an argon2 hash); returns it."""
    from leoflow.engine.auth.passwords import Passwords
    from leoflow.engine.store import Store, audit, users

    store = await Store.open(database_url, auto_migrate=True)
    try:
        async with store.connect() as conn:
            user = await users.get_user(conn, username)
            known = [] if user else [u.username for u in
                                     (await users.list_users(conn, limit=20)).items]
        if user is None:
            hint = f" (users: {', '.join(known)})" if known else " (there are no users yet)"
            raise LiteStateError(f"there is no user {username!r}{hint}")
        password = generate_password()
        password_hash = await Passwords().hash_async(password)
        async with store.begin() as conn:
            await users.update_user(conn, username, password_hash=password_hash)
            await audit.record_event(conn, "reset_password", username="leoflow lite",
                                     extra={"user": username})
    finally:
        await store.close()
    return password
