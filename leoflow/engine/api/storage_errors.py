"""A full or read-only disk answered with its cause instead of a generic 500.

When the store's disk fills up, SQLite says "database or disk is full" and a log or file
write raises ``ENOSPC``; a disk remounted read-only says "attempt to write a readonly
database" / ``EROFS``. The API answers these with a body naming the cause and the path:
507 Insufficient Storage for a full disk, 503 for a read-only one (retrying later may work
once an operator acts), so a client and an operator see at once what happened.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("leoflow.api")

_FULL = ("database or disk is full", "no space left on device", "disk quota exceeded")
_READ_ONLY = ("attempt to write a readonly database", "read-only file system")


def install_storage_handlers(app: FastAPI) -> None:
    """Answer store and file-system errors caused by the disk with their cause. Any other
    such error is raised again, to the app's generic 500 handler."""

    async def storage_error(request: Request, exc: Exception) -> JSONResponse:
        failure = storage_failure(exc, store_file(request.app.state))
        if failure is None:
            raise exc
        log.error("%s %s: %s", request.method, request.url.path, failure[1])
        return JSONResponse({"detail": failure[1]}, status_code=failure[0])

    app.add_exception_handler(DBAPIError, storage_error)
    app.add_exception_handler(OSError, storage_error)


def storage_failure(exc: BaseException, database: str | None = None
                    ) -> tuple[int, str] | None:
    """``(status, detail)`` when ``exc`` (or what caused it) is a full or read-only disk;
    ``database`` is the store's file, named in the detail when the store failed."""
    from leoflow.engine.safe_files import os_error_line

    for error in _chain(exc):
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return 507, f"Insufficient storage: {os_error_line(error)}; free space there"
        if isinstance(error, OSError) and error.errno == errno.EROFS:
            return 503, f"Storage is read-only: {os_error_line(error)}"
        text = str(error).lower()
        where = f"the store {database}" if database else "the store"
        if any(marker in text for marker in _FULL):
            return 507, (f"Insufficient storage: {where}: no space left on device "
                         "(database or disk is full); free space on its disk")
        if any(marker in text for marker in _READ_ONLY):
            return 503, f"Storage is read-only: {where}: read-only file system"
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        error = pending.pop(0)
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        pending.extend([getattr(error, "orig", None), error.__cause__, error.__context__])


def store_file(app_state: Any) -> str | None:
    """The SQLite file of the API's store, for the message (None for PostgreSQL)."""
    try:
        url = app_state.context.store.engine.url
    except AttributeError:
        return None
    return url.database if url.get_backend_name() == "sqlite" else None
