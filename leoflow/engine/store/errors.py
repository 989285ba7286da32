"""Typed errors of the metadata store.

Each error carries the values a caller needs to answer a user (which DAG, which run id, which
revision) so that the API can map it to a status code and the CLI can print it in one line.
"""

from __future__ import annotations

from datetime import datetime

from leoflow.errors import LeoflowError


class StoreError(LeoflowError):
    """Base class of every error raised on purpose by the store."""


class StoreUnavailableError(StoreError):
    """The database could not be reached or opened (bad URL, server down, unwritable file)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot open the metadata database {url}: {reason}")
        self.url = url
        self.reason = reason


class SchemaMismatchError(StoreError):
    """The database schema is not the one this version of Leoflow was written for.

    ``current`` is the revision found in the database (``None`` for an empty database) and
    ``expected`` the head revision shipped with the code. ``kind`` says which way they differ:
    ``"empty"`` or ``"older"`` (run ``leoflow db migrate``) or ``"newer"`` (the database was
    migrated by a newer Leoflow, or by something else; upgrade Leoflow, never downgrade the
    data behind its back).
    """

    def __init__(self, current: str | None, expected: str, kind: str) -> None:
        if kind == "newer":
            hint = "it was migrated by a newer Leoflow; upgrade Leoflow to use it"
        elif kind == "empty":
            hint = "the database has no Leoflow schema yet; run `leoflow db migrate`"
        else:
            hint = "run `leoflow db migrate` to upgrade it"
        super().__init__(
            f"database schema is at revision {current or '<none>'}, this Leoflow expects "
            f"{expected}: {hint}"
        )
        self.current = current
        self.expected = expected
        self.kind = kind


class NestedWriteError(StoreError):
    """``store.begin()`` was entered again by a task that already holds a write transaction.

    On SQLite writes are serialized by one lock, so a nested ``begin()`` would wait for
    itself forever; pass the open connection down instead.
    """

    def __init__(self) -> None:
        super().__init__(
            "store.begin() called inside another store.begin() of the same task; "
            "pass the open connection to the inner code instead"
        )


class DagNotFoundError(StoreError):
    """A DAG id that the store does not know."""

    def __init__(self, dag_id: str) -> None:
        super().__init__(f"DAG {dag_id!r} not found")
        self.dag_id = dag_id


class DagRunNotFoundError(StoreError):
    """A DAG run that the store does not know."""

    def __init__(self, dag_id: str | None, run_id: str | int) -> None:
        where = f"{dag_id!r}/{run_id!r}" if dag_id else f"id {run_id!r}"
        super().__init__(f"DAG run {where} not found")
        self.dag_id = dag_id
        self.run_id = run_id


class TaskInstanceNotFoundError(StoreError):
    """A task instance that the store does not know."""

    def __init__(self, ti_id: str) -> None:
        super().__init__(f"task instance {ti_id!r} not found")
        self.ti_id = ti_id


class DuplicateRunError(StoreError):
    """A run with the same run id, or the same non-null logical date, exists for the DAG.

    ``field`` is ``"run_id"`` or ``"logical_date"``; the API answers 409.
    """

    def __init__(
        self,
        dag_id: str,
        *,
        field: str,
        run_id: str,
        logical_date: datetime | None = None,
    ) -> None:
        if field == "logical_date":
            what = f"logical date {logical_date.isoformat() if logical_date else None}"
        else:
            what = f"run id {run_id!r}"
        super().__init__(f"DAG {dag_id!r} already has a run with {what}")
        self.dag_id = dag_id
        self.field = field
        self.run_id = run_id
        self.logical_date = logical_date


class DuplicateTaskInstanceError(StoreError):
    """A task instance with the same (run, task_id, map_index) exists."""

    def __init__(self, dag_run_id: int, task_id: str, map_index: int) -> None:
        super().__init__(
            f"task instance {task_id!r} (map_index {map_index}) already exists in run {dag_run_id}"
        )
        self.dag_run_id = dag_run_id
        self.task_id = task_id
        self.map_index = map_index


class PoolError(StoreError):
    """A pool operation that cannot be done (e.g. deleting ``default_pool``)."""
