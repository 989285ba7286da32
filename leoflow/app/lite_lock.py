"""The running Lite server's lock: one server per home.

``lite.lock`` is held (``flock``) by the running server, and names its pid and URL; the
operating system releases it when the process dies, even by ``kill -9``, so a stale lock
never blocks a start.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

from leoflow.app.lite_state import LiteStateError

LOCK_FILE = "lite.lock"


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


def refuse_lite_store(database_url: str, *, command: str = "leoflow-server") -> None:
    """Raise ``LiteStateError`` when ``database_url`` is the SQLite file of a running Lite.

    A second control plane on Lite's file would run a second scheduler over the same runs
    (both launch the same tasks); Lite holds its lock for its whole life, so the lock beside
    the file says whether one runs. ``leoflow-server`` without ``LEOFLOW_HOME`` defaults to
    the same home as Lite (``~/.leoflow``), which is how this happens by accident.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from leoflow.engine.store.database import sqlite_path

    try:
        path = sqlite_path(make_url(database_url))
    except ArgumentError:
        return
    if path is None:
        return
    running = running_server(path.expanduser().resolve().parent)
    if running is None:
        return
    raise LiteStateError(
        f"Leoflow Lite is running on this database ({path}): pid {running.get('pid', '?')}, "
        f"{running.get('url') or 'URL unknown'}. {command} would run a second scheduler "
        "over Lite's runs. Stop Lite first (Ctrl-C in its terminal), or give the server a "
        "home of its own: LEOFLOW_HOME=~/leoflow-server " + command + " (or --database-url "
        "for PostgreSQL)")
