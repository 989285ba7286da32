"""Why a DAG's environment could not be made, with what the user can do about it.

These are also ``OSError`` (Python's ``EnvironmentError``): the failure lies in the machine's
environment (an interpreter that is not installed, a package index that does not answer),
so code that already treats ``EnvironmentError`` as "the machine is not ready" catches them.
"""

from __future__ import annotations

from leoflow.errors import LeoflowError


class EnvironmentBuildError(LeoflowError, OSError):
    """A per-DAG virtual environment could not be created."""

    def __init__(self, message: str, *, dag_id: str | None = None, output: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.dag_id = dag_id
        self.output = output

    def __str__(self) -> str:
        return self.message


class UvNotFound(EnvironmentBuildError):
    """The ``uv`` tool (the ``uv`` Python package) is not installed beside Leoflow."""


class PythonVersionNotFound(EnvironmentBuildError):
    """The DAG asks for a Python version that is not installed on this machine."""

    def __init__(self, message: str, *, requested: str, installed: list[str],
                 dag_id: str | None = None) -> None:
        super().__init__(message, dag_id=dag_id)
        self.requested = requested
        self.installed = installed


class DependencyInstallError(EnvironmentBuildError):
    """``uv pip install`` of the DAG's dependencies failed (bad pin, no such package...)."""
