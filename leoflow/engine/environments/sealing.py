"""Shared environments are read-only once built: no task can change another DAG's packages.

A DAG environment is shared by every DAG asking for the same contents (manager.py). What
keeps one DAG from changing the packages another one runs with is that nobody writes into a
finished environment:

* its files and folders lose their write bits (``seal``): ``pip install`` or an edit in
  place from a task running as the control plane's own user fails with ``Permission
  denied``; tasks of other tenants run as OS users that never had write access (they get
  read and execute through an ACL, executors/isolation.py);
* its bytecode is compiled when it is built, so importing from it never needs to write;
* Leoflow itself opens a folder of it for writing only to re-point its SDK link
  (``writable``), and removes an environment only with ``remove``.

A root user overrides file modes: a try that runs as root (a root control plane's default
tenant) is not held back by them. docs/environments.md says so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def _chmod(path: Path, *, add: int = 0, remove: int = 0) -> None:
    mode = stat.S_IMODE(path.lstat().st_mode)
    wanted = (mode | add) & ~remove
    if wanted != mode:
        os.chmod(path, wanted)


def _entries(top: Path) -> Iterator[tuple[Path, bool]]:
    """Every file and folder under ``top`` (symlinks left out: their mode means nothing and
    chmod would follow them out of the environment), folders after their contents."""
    for folder, dirs, files in os.walk(top, topdown=False):
        base = Path(folder)
        for name in files:
            path = base / name
            if not path.is_symlink():
                yield path, False
        for name in dirs:
            path = base / name
            if not path.is_symlink():
                yield path, True


def seal(top: Path, *, keep_top_writable: bool = False) -> int:
    """Remove every write bit under ``top``; the number of entries changed or checked."""
    count = 0
    for path, _is_dir in _entries(top):
        _chmod(path, remove=WRITE_BITS)
        count += 1
    if not keep_top_writable:
        _chmod(top, remove=WRITE_BITS)
    return count


def is_sealed(top: Path) -> bool:
    """Whether the environment's root folder is read-only (checked after the marker)."""
    try:
        return not stat.S_IMODE(top.lstat().st_mode) & WRITE_BITS
    except OSError:
        return False


@contextlib.contextmanager
def writable(*folders: Path) -> Iterator[None]:
    """Open ``folders`` (not their contents) to their owner for the time of a block, then
    close them again: how Leoflow re-points the SDK link of a sealed environment."""
    opened: list[Path] = []
    try:
        for folder in folders:
            if folder.is_dir() and not folder.is_symlink():
                mode = stat.S_IMODE(folder.lstat().st_mode)
                if not mode & stat.S_IWUSR:
                    os.chmod(folder, mode | stat.S_IWUSR)
                    opened.append(folder)
        yield
    finally:
        for folder in reversed(opened):
            with contextlib.suppress(OSError):
                _chmod(folder, remove=WRITE_BITS)


def remove(top: Path) -> None:
    """Delete an environment, sealed or not (a sealed folder's entries cannot be unlinked by
    a non-root owner until the folder is writable again)."""
    if not top.exists() and not top.is_symlink():
        return
    if top.is_symlink() or not top.is_dir():
        top.unlink()
        return
    with contextlib.suppress(OSError):
        _chmod(top, add=stat.S_IWUSR)
    for path, is_dir in _entries(top):
        if is_dir:
            with contextlib.suppress(OSError):
                _chmod(path, add=stat.S_IWUSR)
    shutil.rmtree(top, ignore_errors=True)
