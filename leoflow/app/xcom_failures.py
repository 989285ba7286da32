"""An XCom write that fails on a full disk says so in one line, naming where.

The agent already fails the try when its XCom push is refused ("XComPushError: cannot store
XCom 'return_value': <the control plane's reason>"). On a full disk that reason was
SQLAlchemy's "(sqlite3.OperationalError) database or disk is full (Background on this error
at: ...)", which names no file. ``DiskFullXCom`` gives the try's error the cause and the
store's file instead ("no space left on device: <path>").
"""

from __future__ import annotations

import errno
from typing import Any

from leoflow.engine.xcom import RETURN_VALUE, XComBackend
from leoflow.engine.xcom.forwarding import ForwardingXCom
from leoflow.errors import LeoflowError

_FULL = ("database or disk is full", "no space left on device", "disk quota exceeded")


class XComWriteError(LeoflowError):
    """An XCom value could not be stored because the store's disk is full."""


class DiskFullXCom(ForwardingXCom):
    """The XCom backend, with a full disk's errors named (``database``: the SQLite file)."""

    def __init__(self, backend: XComBackend, database: str | None) -> None:
        super().__init__(backend)
        self._database = database

    async def push(self, *, dag_run_id: int, task_id: str, map_index: int = -1,
                   key: str = RETURN_VALUE, value: Any, conn: Any = None) -> int:
        try:
            return int(await super().push(dag_run_id=dag_run_id, task_id=task_id,
                                          map_index=map_index, key=key, value=value,
                                          conn=conn))
        except Exception as exc:
            where = disk_full_path(exc, self._database)
            if where is None:
                raise
            raise XComWriteError(f"no space left on device: {where}") from exc


def disk_full_path(exc: BaseException, database: str | None) -> str | None:
    """Where the disk is full, if ``exc`` (or its cause) says so; else None."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return str(error.filename or database or "the store")
        if any(marker in str(error).lower() for marker in _FULL):
            return database or "the store"
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
    return None
