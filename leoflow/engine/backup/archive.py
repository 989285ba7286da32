"""Writing a backup of Lite's state (see the package docstring).

Environments (per-DAG venvs, Leoflow's own install venv, any folder with ``pyvenv.cfg``)
and the IDE's live sessions are left out: environments are rebuilt from ``leoflow.yaml``,
sessions expire.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from leoflow.engine.backup.errors import BackupError
from leoflow.engine.backup.sqlite import copy_sqlite, sqlite_path
from leoflow.engine.safe_files import TMP_SUFFIX

BACKUP_FORMAT = 1
BACKUP_MANIFEST = "leoflow-backup.json"
DB_MEMBER = "db/leoflow.db"
WORKSPACE_EXCLUDED = frozenset({".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache",
                                ".pytest_cache"})


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


def _home_files(home: Path, database: Path | None, workspace: Path,
                excluded: frozenset[str]) -> Iterator[Path]:
    skip = {database, *(database.with_name(database.name + s) for s in
                        ("-wal", "-shm", "-journal"))} if database else set()
    for path in _walk(home, excluded):
        if path in skip or path == workspace or workspace in path.parents \
                or path.name.endswith((".tmp", TMP_SUFFIX)):
            continue
        yield path


def backup(home: Path, workspace: Path, database_url: str, target: Path, *,
           home_excluded: frozenset[str], version: str) -> BackupReport:
    """Write the Lite state to ``target`` (``.tar.gz``, mode 0600: it holds the secrets);
    safe while Lite runs. The state only: the store (SQLite's online backup API), the
    home's logs, code and secrets, the workspace's files; file modes and symbolic links
    are recorded as they are. Environments (``venvs``, any folder with ``pyvenv.cfg``),
    the home's names in ``home_excluded`` (at any depth) and the IDE's live sessions are
    left out. ``version`` is the Leoflow version the manifest names."""
    database = sqlite_path(database_url)
    if database is None:
        raise BackupError("backup covers Lite's SQLite store; this Lite uses PostgreSQL, "
                          "back that up with pg_dump (and copy the workspace)")
    if not database.exists():
        raise BackupError(f"there is no Lite store to back up at {database} (has "
                          "`leoflow lite` run with this LEOFLOW_HOME?)")
    target = target.expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    manifest = {"format": BACKUP_FORMAT, "created_at": datetime.now(UTC).isoformat(),
                "leoflow_version": version, "workspace_name": workspace.name,
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
                for path in _home_files(home, database, workspace, home_excluded):
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
