"""Operations on DAGs, runs and task instances: the service layer the API, the CLI and the
IDE call. Each operation validates first (so bad input writes nothing), writes in one
transaction with an audit row, then wakes the scheduler."""

from leoflow.engine.services.errors import (
    DagHasImportErrors,
    DagNotFound,
    DagPausedError,
    DagStale,
    InvalidArgument,
    InvalidConf,
    InvalidOperation,
    InvalidParams,
    RunAlreadyExists,
    RunNotFound,
    ServiceError,
    TaskNotFound,
)
from leoflow.engine.services.operations import Operations, SchedulerHandle

__all__ = [
    "DagHasImportErrors",
    "DagNotFound",
    "DagPausedError",
    "DagStale",
    "InvalidArgument",
    "InvalidConf",
    "InvalidOperation",
    "InvalidParams",
    "Operations",
    "RunAlreadyExists",
    "RunNotFound",
    "SchedulerHandle",
    "ServiceError",
    "TaskNotFound",
]
