"""Errors about specs and project files; each names the file, line and field to fix."""

from __future__ import annotations

from leoflow.errors import LocatedError


class SpecError(LocatedError):
    """A dag.json or leoflow.yaml document that does not match its schema or rules."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        super().__init__(message, file=file, line=line)
        self.field = field


class GraphError(SpecError):
    """The task graph is not a DAG: a cycle, or an edge to a task that does not exist."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 tasks: tuple[str, ...] = ()) -> None:
        super().__init__(message, file=file, line=line)
        self.tasks = tasks
