"""The error a user gets when a DAG project does not compile, and the kinds it comes in."""

from __future__ import annotations

from enum import StrEnum

from leoflow.errors import LocatedError


class CompileErrorKind(StrEnum):
    """What went wrong in a compile. The compile child (``leoflow.sdk.compile_child``) and
    the compiler's own checks name one of these; the IDE, the CLI's ``--json`` and the hot
    reloader's events carry it as the plain string (a ``StrEnum`` compares and serializes
    as its value)."""

    SYNTAX = "syntax"
    IMPORT = "import"
    AIRFLOW_INTERNAL = "airflow_internal"
    AIRFLOW_UNSUPPORTED = "airflow_unsupported"
    SERIALIZATION = "serialization"
    DEFINITION = "definition"
    DUPLICATE_TASK_ID = "duplicate_task_id"
    DUPLICATE_DAG_ID = "duplicate_dag_id"
    NO_DAG = "no_dag"
    CYCLE = "cycle"
    UNKNOWN_UPSTREAM = "unknown_upstream"
    SPEC = "spec"
    SCHEDULE = "schedule"
    PROJECT = "project"
    TIMEOUT = "timeout"
    CRASH = "crash"
    MEMORY = "memory"
    ISOLATION = "isolation"  # a tenant's project that may not compile here
    OTHER = "error"  # a kind this Leoflow does not know (a newer compile child's)

    @classmethod
    def of(cls, value: str) -> CompileErrorKind:
        """The kind named ``value``; ``OTHER`` for a name this Leoflow does not know (the
        child's report is data: an unknown kind must not turn a compile error into a crash
        of the compiler)."""
        try:
            return cls(value)
        except ValueError:
            return cls.OTHER


class CompileError(LocatedError):
    """A DAG project that cannot become dag.json.

    ``kind`` says what went wrong (a ``CompileErrorKind``: ``syntax``, ``import``,
    ``no_dag``, ``cycle``, ``unknown_upstream``, ``duplicate_task_id``, ``serialization``,
    ``schedule``, ``project``, ``timeout``, ...); ``traceback`` keeps the user's traceback
    when there is one.
    """

    def __init__(self, message: str, *, kind: CompileErrorKind | str, file: str | None = None,
                 line: int | None = None, traceback: str = "") -> None:
        super().__init__(message, file=file, line=line)
        self.kind = CompileErrorKind.of(kind)
        self.traceback = traceback
