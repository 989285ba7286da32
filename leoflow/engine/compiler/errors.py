"""The error a user gets when a DAG project does not compile."""

from __future__ import annotations

from leoflow.errors import LocatedError


class CompileError(LocatedError):
    """A DAG project that cannot become dag.json.

    ``kind`` says what went wrong (``syntax``, ``import``, ``no_dag``, ``cycle``,
    ``unknown_upstream``, ``duplicate_task_id``, ``serialization``, ``schedule``,
    ``project``, ``timeout``, ...); ``traceback`` keeps the user's traceback when there is one.
    """

    def __init__(self, message: str, *, kind: str, file: str | None = None,
                 line: int | None = None, traceback: str = "") -> None:
        super().__init__(message, file=file, line=line)
        self.kind = kind
        self.traceback = traceback
