"""Typed errors of the operations: each names what the caller must fix.

The API maps them to HTTP statuses (``status`` is a hint: 400, 404, 409, 422).
"""

from __future__ import annotations

from leoflow.errors import LeoflowError


class ServiceError(LeoflowError):
    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class DagNotFound(ServiceError):
    status = 404

    def __init__(self, dag_id: str) -> None:
        super().__init__(f"The Dag with ID: `{dag_id}` was not found")
        self.dag_id = dag_id


class RunNotFound(ServiceError):
    status = 404

    def __init__(self, dag_id: str, run_id: str) -> None:
        super().__init__(f"The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not "
                         "found")
        self.dag_id = dag_id
        self.run_id = run_id


class TaskNotFound(ServiceError):
    status = 404

    def __init__(self, dag_id: str, task_ids: list[str]) -> None:
        names = ", ".join(repr(t) for t in task_ids)
        super().__init__(f"DAG {dag_id!r} has no task {names}", field="task_ids")
        self.dag_id = dag_id
        self.task_ids = task_ids


class RunAlreadyExists(ServiceError):
    """A run with this run_id, or this logical_date, exists already (Airflow answers 409)."""

    status = 409

    def __init__(self, dag_id: str, field: str, message: str) -> None:
        super().__init__(message, field=field)
        self.dag_id = dag_id


class DagStale(ServiceError):
    """The DAG's file is gone or no longer defines it (Airflow's stale DAG): it keeps its
    history but cannot be triggered. Airflow's API answers 404 with these words, and every
    face (API, IDE, CLI) says the same."""

    status = 404

    def __init__(self, dag_id: str) -> None:
        super().__init__(f"DAG with dag_id: '{dag_id}' not found")
        self.dag_id = dag_id


class DagHasImportErrors(ServiceError):
    """The DAG has an import error recorded: Airflow 3 refuses to trigger it (400)."""

    status = 400

    def __init__(self, dag_id: str) -> None:
        super().__init__(f"DAG with dag_id: '{dag_id}' has import errors and cannot be "
                         "triggered")
        self.dag_id = dag_id


class DagPausedError(ServiceError):
    status = 409

    def __init__(self, dag_id: str) -> None:
        super().__init__(f"DAG {dag_id!r} is paused; unpause it to trigger a run")
        self.dag_id = dag_id


class InvalidConf(ServiceError):
    status = 422


class InvalidParams(ServiceError):
    status = 422


class InvalidOperation(ServiceError):
    """The operation conflicts with the current state (e.g. a DAG with no version yet)."""

    status = 409


class InvalidArgument(ServiceError):
    """A value the caller passed cannot be used (a naive date, a state that cannot be set
    by hand); ``field`` names it."""

    status = 400
