"""Writing files without following links, and the one-line reason when a write fails.

Every file Leoflow writes into a user's workspace or its own home goes through
``write_file``: a folder someone else can write to (a shared workspace, a project checked
out from git, a tenant's task) may hold a planted symbolic link such as
``.dag.py.leoflow-tmp -> ~/.bashrc``, and a plain ``open(tmp, "w")`` would write through it.
``write_file`` therefore

* opens the target's folder once (``O_DIRECTORY``) and works relative to that descriptor,
  so the folder cannot be swapped for a link between the check and the write;
* checks that the folder really is inside ``root`` (when given), by the path the kernel
  reports for the open descriptor;
* creates the temporary file with ``O_CREAT | O_EXCL | O_NOFOLLOW`` under a random name, so
  an existing file or link of that name is never opened, and checks after creation that
  the name still is the regular file it created (same inode, one link);
* refuses a target that is itself a symbolic link leading out of ``root`` (a link inside
  ``root`` is written through: the file it names is replaced, the link is kept);
* writes, ``fsync``s, sets the mode (the replaced file's, else ``mode``), then renames over
  the target: a reader (the hot reloader) never sees half a file.

``describe_os_error`` turns an ``OSError`` into the sentence a user needs ("read-only file
system", "no space left on device"), naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from leoflow.errors import LeoflowError

TMP_SUFFIX = ".leoflow-tmp"
_CAUSES = {
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "is a folder",
    errno.EFBIG: "file too large (a file size limit was reached)",
    errno.ELOOP: "is a symbolic link (refused: Leoflow does not write through links)",
}


class UnsafeWriteError(LeoflowError):
    """A write refused or failed; ``path`` is the file, ``reason`` says why in words."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def describe_os_error(exc: OSError) -> str:
    """The cause of ``exc`` in words, e.g. ``read-only file system``."""
    if exc.errno in _CAUSES:
        return _CAUSES[exc.errno]
    return (exc.strerror or str(exc)).lower()


def os_error_line(exc: OSError, path: str | Path | None = None) -> str:
    """``<path>: <cause>`` for an ``OSError`` (its own file name when ``path`` is None)."""
    where = path if path is not None else (exc.filename or "")
    cause = describe_os_error(exc)
    return f"{where}: {cause}" if where else cause


def write_file(target: str | Path, data: bytes | str, *, root: str | Path | None = None,
               mode: int = 0o644, exclusive: bool = False) -> Path:
    """Atomically replace ``target`` by ``data`` without following any planted link.

    ``root`` confines the write: the target's folder must resolve inside it, and a target
    that is a link must lead inside it. ``exclusive`` refuses an existing target (create).
    ``mode`` is the new file's mode; a replaced file keeps its own. Raises
    ``UnsafeWriteError`` naming the path and the cause (a refused link, a read-only file
    system, a full disk).
    """
    target = Path(target)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    real_root = Path(root).resolve() if root is not None else None
    try:
        return _write(target, payload, real_root, mode, exclusive)
    except UnsafeWriteError:
        raise
    except OSError as exc:
        raise UnsafeWriteError(target, describe_os_error(exc)) from None


def _write(target: Path, payload: bytes, root: Path | None, mode: int,
           exclusive: bool) -> Path:
    folder_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        folder = _fd_path(folder_fd, target.parent)
        if root is not None and not _inside(folder, root):
            raise UnsafeWriteError(target, "its folder leads outside "
                                           f"{root} (through a symbolic link); refused")
        name = target.name
        keep_mode: int | None = None
        try:
            current = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        except FileNotFoundError:
            current = None
        if current is not None:
            if exclusive:
                raise UnsafeWriteError(target, "exists already")
            if stat.S_ISLNK(current.st_mode):
                # Written through only when the link leads inside ``root``.
                real = (folder / os.readlink(name, dir_fd=folder_fd)).resolve()
                if root is None or not _inside(real, root):
                    raise UnsafeWriteError(target, "is a symbolic link leading outside the "
                                                   "workspace; refused")
                return _write(real, payload, root, mode, exclusive)
            if stat.S_ISDIR(current.st_mode):
                raise UnsafeWriteError(target, "is a folder")
            if not stat.S_ISREG(current.st_mode):
                raise UnsafeWriteError(target, "is not a regular file; refused")
            keep_mode = stat.S_IMODE(current.st_mode)
        tmp_name = f".{name}.{secrets.token_hex(6)}{TMP_SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp_name, flags, 0o600, dir_fd=folder_fd)
        try:
            created = os.fstat(fd)
            seen = os.stat(tmp_name, dir_fd=folder_fd, follow_symlinks=False)
            if (not stat.S_ISREG(created.st_mode) or created.st_nlink != 1
                    or (seen.st_dev, seen.st_ino) != (created.st_dev, created.st_ino)):
                raise UnsafeWriteError(target, "its temporary file was replaced while being "
                                               "written; refused")
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fchmod(fd, keep_mode if keep_mode is not None else mode)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp_name, dir_fd=folder_fd)
            raise
        os.close(fd)
        try:
            if exclusive:
                # link() fails when the name exists: no window where another file is replaced
                os.link(tmp_name, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd,
                        follow_symlinks=False)
                os.unlink(tmp_name, dir_fd=folder_fd)
            else:
                os.replace(tmp_name, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except FileExistsError:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name, dir_fd=folder_fd)
            raise UnsafeWriteError(target, "exists already") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name, dir_fd=folder_fd)
            raise
        with contextlib.suppress(OSError):
            os.fsync(folder_fd)
        return folder / name
    finally:
        os.close(folder_fd)


def _fd_path(fd: int, fallback: Path) -> Path:
    """The real path of an open folder (Linux: ``/proc/self/fd``; else resolved by name)."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return fallback.resolve()


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def make_private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) as owner-only folders (0700); an existing
    folder we own is made 0700 too. For Leoflow's state (home, logs, backups' scratch)."""
    path = Path(path)
    missing = []
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
    make_private(path, 0o700)
    return path


def make_private(path: str | Path, mode: int = 0o600) -> None:
    """chmod ``path`` to ``mode`` when it exists, is not a link and is ours."""
    with contextlib.suppress(OSError):
        info = os.lstat(path)
        if not stat.S_ISLNK(info.st_mode) and info.st_uid == os.getuid() \
                and stat.S_IMODE(info.st_mode) != mode:
            os.chmod(path, mode)


SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def make_sqlite_private(database: str | Path) -> None:
    """The SQLite file owner-only before SQLite opens it: created 0600 when missing (SQLite
    gives its -wal and -shm files the database file's mode), and an existing database and
    its companions made 0600. The folder is created 0700 when missing."""
    path = Path(database)
    if not path.parent.exists():
        make_private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600))
    for suffix in ("", *SQLITE_COMPANIONS):
        make_private(path.with_name(path.name + suffix))
