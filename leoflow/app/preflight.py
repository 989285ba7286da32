"""Checks before a start: can Leoflow write where it keeps its state and the user's files?

A read-only or full Leoflow home used to surface as a traceback (283 lines from
``leoflow-server``, none saying "read-only") from whichever part wrote first. These checks
run before anything starts and answer one line naming the folder and the cause, which the
CLI prints without a traceback and ``leoflow-server`` prints before exiting with status 2.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from leoflow.engine.safe_files import describe_os_error
from leoflow.errors import LeoflowError


class NotWritableError(LeoflowError):
    """A folder Leoflow must write to cannot be written; ``path`` and ``cause`` say why."""

    def __init__(self, what: str, path: Path, cause: str) -> None:
        super().__init__(f"{what} {path} is not writable: {cause}")
        self.path = path
        self.cause = cause


def check_writable(folder: Path, what: str) -> None:
    """Create ``folder`` when missing and write (then remove) a probe file in it; raise
    ``NotWritableError`` naming the folder and the cause (read-only file system, no space
    left on device, permission denied)."""
    folder = Path(folder).expanduser()
    probe = folder / f".leoflow-probe-{secrets.token_hex(4)}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, b"leoflow")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise NotWritableError(what, folder, describe_os_error(exc)) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def check_workspace(workspace: Path) -> None:
    """The workspace, or (when it does not exist yet) the folder it will be made in."""
    folder = Path(workspace).expanduser()
    target = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    check_writable(target, "the workspace" if target == folder else
                   f"the folder the workspace {folder} is made in,")


def check_state_folders(home: Path, database_url: str | None = None) -> None:
    """The home, and the SQLite store's folder when it lies elsewhere."""
    check_writable(home, "the Leoflow home (LEOFLOW_HOME)")
    if database_url and database_url.startswith(("sqlite:///", "sqlite+aiosqlite:///")):
        database = Path(database_url.split(":///", 1)[1].split("?", 1)[0])
        if database.parent != Path(home) and str(database) not in ("", ":memory:"):
            check_writable(database.parent, "the folder of the SQLite store")
