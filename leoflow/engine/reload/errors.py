"""Why a project did not reload: the located error the reloader stores and publishes.

Each error has a typed ``kind``: a ``CompileErrorKind`` when the compiler refused the
project (it comes from the ``CompileError`` the compiler raised), else the reload step that
failed (``ReloadStep``: building the environment, registering, or a bug of Leoflow's).
Nothing here guesses a kind from an exception's class name or message: an environment
error points at ``python_version`` only when it is a ``PythonVersionNotFound``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from leoflow.engine.compiler.errors import CompileError, CompileErrorKind
from leoflow.engine.environments.errors import EnvironmentBuildError, PythonVersionNotFound
from leoflow.engine.reload.projects import PROJECT_FILE
from leoflow.errors import LeoflowError, LocatedError


class ReloadStep(StrEnum):
    """The reload steps that fail outside the compiler."""

    ENVIRONMENT = "environment"  # the DAG's environment could not be built
    REGISTER = "register"        # the store refused a compiled DAG (its dag_id is taken...)
    INTERNAL = "internal"        # a bug of Leoflow's while reloading


ReloadErrorKind = CompileErrorKind | ReloadStep


@dataclass(frozen=True)
class ReloadError:
    """Why a project did not compile: where (``file`` relative to the workspace, ``line``),
    what (``message``), its ``kind`` (``syntax``, ``import``, ``cycle``, ``environment``...)
    and the user's traceback when there is one."""

    file: str | None
    line: int | None
    message: str
    kind: ReloadErrorKind = CompileErrorKind.OTHER
    traceback: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else (self.file or "")
        return f"{where}: {self.message}" if where else self.message


class ReloadFailure(Exception):
    """A reload step failed; carries the located error."""

    def __init__(self, error: ReloadError) -> None:
        super().__init__(str(error))
        self.error = error


def located(exc: LeoflowError, relative: Callable[[Path], str]) -> ReloadFailure:
    """The failure of a compile step: file (made relative with ``relative``), line and
    message from the error, its kind from the ``CompileError`` (any other Leoflow error
    is of kind ``OTHER``)."""
    file = exc.file if isinstance(exc, LocatedError) else None
    if file:
        path = Path(file)
        file = relative(path if path.is_absolute() else Path.cwd() / path)
    message = (exc.message if isinstance(exc, LocatedError) else "") or str(exc)
    if isinstance(exc, CompileError):
        kind, traceback = exc.kind, exc.traceback
    else:
        kind, traceback = CompileErrorKind.OTHER, ""
    return ReloadFailure(ReloadError(
        file, exc.line if isinstance(exc, LocatedError) else None, message,
        kind=kind, traceback=traceback))


def environment_failure(exc: Exception, project_dir: Path,
                        relative: Callable[[Path], str]) -> ReloadFailure:
    """The failure of building a project's environment, pointing at the ``leoflow.yaml``
    key to fix: ``python_version`` when that Python is not installed, else
    ``dependencies``."""
    yaml_file = project_dir / PROJECT_FILE
    key = "python_version" if isinstance(exc, PythonVersionNotFound) else "dependencies"
    return ReloadFailure(ReloadError(
        relative(yaml_file), line_of_key(yaml_file, key),
        f"the DAG's environment could not be built: {exc}", kind=ReloadStep.ENVIRONMENT,
        traceback=exc.output if isinstance(exc, EnvironmentBuildError) else ""))


def line_of_key(path: Path, key: str) -> int | None:
    """The line of a top-level YAML key, to point an environment error at it."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError:
        return None
    for number, line in enumerate(lines, start=1):
        if line.startswith(f"{key}:"):
            return number
    return None
