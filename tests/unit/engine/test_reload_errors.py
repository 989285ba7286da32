"""The hot reloader's error kinds are typed: taken from the compiler's ``CompileError`` and
the environment errors' classes, never guessed from a class name or a duck-typed attribute.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from leoflow.engine.compiler.errors import CompileError, CompileErrorKind
from leoflow.engine.environments.errors import DependencyInstallError, PythonVersionNotFound
from leoflow.engine.reload.errors import (
    ReloadStep,
    environment_failure,
    located,
)
from leoflow.errors import LeoflowError, LocatedError

ROOT = Path(__file__).resolve().parents[3]
YAML = 'dag_id: conf\ndependencies:\n  - pandas==2.2.3\npython_version: "3.12"\n'
DEPENDENCIES_LINE, PYTHON_LINE = 2, 4


class PythonPackageInstallError(DependencyInstallError):
    """A dependency failure whose class name says "python": still the dependencies' fault."""


class InterpreterMissing(PythonVersionNotFound):
    """A missing interpreter whose class name does not say "python"."""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "leoflow.yaml").write_text(YAML, "utf-8")
    return tmp_path / "conf"


def relative_to(root: Path) -> Callable[[Path], str]:
    return lambda path: path.resolve().relative_to(root.resolve()).as_posix()


@pytest.mark.parametrize(("error", "line"), [
    (PythonVersionNotFound("no 3.12", requested="3.12", installed=["3.11"]), PYTHON_LINE),
    (InterpreterMissing("no 3.12", requested="3.12", installed=["3.11"]), PYTHON_LINE),
    (DependencyInstallError("pandas==2.2.3: no such version", output="uv said no"),
     DEPENDENCIES_LINE),
    (PythonPackageInstallError("python-dateutil: no such version"), DEPENDENCIES_LINE),
    (OSError("uv crashed"), DEPENDENCIES_LINE),
], ids=["python", "python-by-class", "dependencies", "dependencies-named-python", "oserror"])
def test_an_environment_error_points_at_the_key_its_class_names(
        project: Path, error: Exception, line: int) -> None:
    failure = environment_failure(error, project, relative_to(project.parent))
    assert failure.error.kind is ReloadStep.ENVIRONMENT
    assert (failure.error.file, failure.error.line) == ("conf/leoflow.yaml", line)
    assert str(error) in failure.error.message


def test_an_environment_error_keeps_uvs_output_as_the_traceback(project: Path) -> None:
    error = DependencyInstallError("install failed", output="No solution found")
    failure = environment_failure(error, project, relative_to(project.parent))
    assert failure.error.traceback == "No solution found"


@pytest.mark.parametrize("kind", list(CompileErrorKind))
def test_a_compile_error_keeps_its_kind(tmp_path: Path, kind: CompileErrorKind) -> None:
    exc = CompileError("broken", kind=kind.value, file=str(tmp_path / "p" / "dag.py"), line=3,
                       traceback="Traceback ...")
    error = located(exc, relative_to(tmp_path)).error
    assert error.kind is kind
    assert (error.file, error.line, error.message, error.traceback) == (
        "p/dag.py", 3, "broken", "Traceback ...")


def test_other_errors_are_not_given_a_compile_kind_by_their_attributes(tmp_path: Path) -> None:
    class LooksCompiled(LocatedError):
        kind = "syntax"
        traceback = "not the user's"

    error = located(LooksCompiled("odd", file=str(tmp_path / "x.py"), line=1),
                    relative_to(tmp_path)).error
    assert error.kind is CompileErrorKind.OTHER and error.traceback == ""
    assert located(LeoflowError("plain"), relative_to(tmp_path)).error.kind \
        is CompileErrorKind.OTHER


def test_an_unknown_kind_from_the_compile_child_is_other_not_a_crash() -> None:
    assert CompileError("x", kind="from_a_newer_child").kind is CompileErrorKind.OTHER


def test_every_kind_the_compiler_names_is_typed() -> None:
    """A kind added to the compiler or its child without a member would be reported as
    ``error``: this lists the kinds their sources name and checks each one."""
    sources = [ROOT / "leoflow" / "sdk" / "compile_child.py",
               *sorted((ROOT / "leoflow" / "engine" / "compiler").glob("*.py"))]
    named: set[str] = set()
    for path in sources:
        text = path.read_text("utf-8")
        named |= set(re.findall(r'kind="([a-z_]+)"', text))
        named |= set(re.findall(r'"kind": "([a-z_]+)"', text))
        named |= set(re.findall(r'kind = "([a-z_]+)"', text))
        named |= set(re.findall(r'"([a-z_]+)" if ', text)) & {"cycle", "unknown_upstream",
                                                              "duplicate_task_id",
                                                              "airflow_internal"}
    assert {"syntax", "import", "timeout", "project"} <= named  # the scan finds them
    assert named <= {k.value for k in CompileErrorKind}, named - {k.value
                                                                   for k in CompileErrorKind}
