"""Restoring a backup of Lite's state (see the package docstring).

Nothing is ever written through a link: entries below a symbolic link, absolute names,
``..``, hard links, devices and fifos are refused; links are made last, exactly as
recorded. The previous state is not deleted but set aside.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from leoflow.engine.backup.archive import BACKUP_FORMAT, BACKUP_MANIFEST, DB_MEMBER
from leoflow.engine.backup.errors import BackupError
from leoflow.engine.backup.sqlite import sqlite_path
from leoflow.engine.safe_files import make_private_dir, make_sqlite_private


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
            raise BackupError(f"the backup holds an unsafe entry {member.name!r}; "
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
    """Replace the Lite state by the backup's; the caller makes sure no Lite server runs
    on this home. The previous state is not deleted: the store, logs, code and secrets
    move to ``<home>/pre-restore-<time>/`` and the workspace to
    ``<workspace>.pre-restore-<time>``.
    """
    database = sqlite_path(database_url)
    if database is None:
        raise BackupError("restore replaces Lite's SQLite store; this Lite uses "
                          "PostgreSQL (restore that with pg_restore)")
    source = source.expanduser().resolve()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with _open_backup(source) as tar, tempfile.TemporaryDirectory(prefix=".leoflow-restore-",
                                          dir=_existing_parent(home)) as scratch:
        members = _safe_members(tar)
        names = {m.name for m in members}
        if BACKUP_MANIFEST not in names or DB_MEMBER not in names:
            raise BackupError(f"{source}: not a Leoflow Lite backup (no manifest or store)")
        manifest = json.loads(tar.extractfile(BACKUP_MANIFEST).read())  # type: ignore[union-attr]
        if manifest.get("format") != BACKUP_FORMAT:
            raise BackupError(f"{source}: backup format {manifest.get('format')!r} is not "
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
    return RestoreReport(files=sum(1 for m in members if m.isfile()), set_aside=tuple(aside))


@contextlib.contextmanager
def _open_backup(source: Path) -> Iterator[tarfile.TarFile]:
    try:
        tar = tarfile.open(source, "r:gz")  # noqa: SIM115 (closed below)
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{source}: not a Leoflow Lite backup ({exc})") from None
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
