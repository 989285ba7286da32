"""Tasks whose function runs in a Python environment of its own, as in Airflow.

``PythonVirtualenvOperator`` (``@task.virtualenv``) runs its function in a virtual
environment made from its ``requirements``; ``ExternalPythonOperator``
(``@task.external_python``) in an interpreter that already exists (``python=``). The branch
variants follow the task ids the function returns.

As in Airflow, what runs there is the function's *source* (decorators removed), not the DAG
file: the DAG file's own imports need not exist in that environment, and the function must
import what it uses itself. The task runner (in the DAG's environment) writes a small script
and the arguments to a temporary folder, runs the script with the other interpreter, and
reads the result back; the function's prints go to the task's log.

Arguments and result travel as JSON, not pickle: they come from and go to XCom, which holds
JSON in Leoflow, so nothing is lost, and the DAG's environment needs neither ``dill`` nor
``cloudpickle`` (``serializer`` is accepted and, as in Airflow, adds ``dill`` or
``cloudpickle`` to the requirements of an environment without system site packages).

Where the virtual environment comes from: the control plane builds it with uv before the
try starts (cached, keyed by Python version and requirements; the build's progress is in
the task's log) and names its interpreter in ``LEOFLOW_VENV_PYTHON``.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, ClassVar

from leoflow.sdk.baseoperator import BaseOperator, is_building_mapped
from leoflow.sdk.context_objects import call_kwargs
from leoflow.sdk.errors import AirflowException, AirflowSkipException, DagDefinitionError
from leoflow.sdk.operators import DecoratedOperator

VENV_PYTHON_ENV = "LEOFLOW_VENV_PYTHON"  # set for the task by the control plane
SERIALIZERS = ("pickle", "dill", "cloudpickle")

# Airflow's BASE_SERIALIZABLE_CONTEXT_KEYS: the context values a function running in
# another environment may receive (plain strings and numbers).
SERIALIZABLE_CONTEXT_KEYS = frozenset({
    "ds", "ds_nodash", "expanded_ti_count", "inlets", "outlets", "run_id",
    "task_instance_key_str", "test_mode", "ts", "ts_nodash", "ts_nodash_with_tz",
    "next_ds", "next_ds_nodash", "prev_ds", "prev_ds_nodash", "tomorrow_ds",
    "tomorrow_ds_nodash", "yesterday_ds", "yesterday_ds_nodash", "task_reschedule_count",
    "params", "map_index", "try_number",
})

# Accepted so Airflow DAG files compile unchanged; they do not change what Leoflow does
# (environments are always cached, under the control plane's home).
_IGNORED = ("venv_cache_path", "do_not_use_caching", "templates_exts",
            "index_urls_from_connection_ids")

SCRIPT = '''\
import json
import os
import sys

os.environ["PYTHON_OPERATORS_VIRTUAL_ENV_MODE"] = "1"

with open(sys.argv[3], encoding="utf-8") as _file:
    virtualenv_string_args = [_line.strip() for _line in _file]

# the task's function
{source}

with open(sys.argv[1], encoding="utf-8") as _file:
    _arg_dict = json.load(_file)
try:
    _result = {name}(*_arg_dict["args"], **_arg_dict["kwargs"])
except Exception as _exc:
    with open(sys.argv[4], "w", encoding="utf-8") as _file:
        _file.write(f"{{type(_exc).__name__}}: {{_exc}}")
    raise
try:
    _text = json.dumps(_result)
except (TypeError, ValueError):
    with open(sys.argv[4], "w", encoding="utf-8") as _file:
        _file.write(f"{name}() returned a value of type {{type(_result).__name__}}, which is "
                    "not JSON-serializable; return JSON data (dict, list, str, number, bool, "
                    "None) so it can be stored as XCom")
    sys.exit(1)
with open(sys.argv[2], "w", encoding="utf-8") as _file:
    _file.write(_text)
'''


def function_source(func: Callable[..., Any]) -> str:
    """The function's source without its decorators, dedented (what the script defines)."""
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError) as exc:
        raise AirflowException(f"cannot read the source of {func!r}: {exc}") from None
    tree = ast.parse(source)
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise AirflowException(f"the source of {func.__name__!r} is not a function definition")
    lines = source.splitlines()
    return "\n".join(lines[node.lineno - 1:]) + "\n"


def read_requirements(requirements: Any, fileloc: str | None, where: str,
                      line: int | None) -> list[str]:
    """Requirements as a list of strings: a list, one string, or a ``.txt`` file's lines
    (a path relative to the DAG file, as Airflow's templated requirements file)."""
    if not requirements:
        return []
    if isinstance(requirements, str):
        if requirements.strip().endswith(".txt") and "\n" not in requirements:
            base = Path(fileloc).parent if fileloc else Path.cwd()
            path = base / requirements.strip()
            try:
                text = path.read_text("utf-8")
            except OSError as exc:
                raise DagDefinitionError(f"{where}: cannot read the requirements file "
                                         f"{str(path)!r}: {exc.strerror or exc}",
                                         file=fileloc, line=line) from None
        else:
            text = requirements
        items = [raw.split(" #")[0].strip() for raw in text.splitlines()]
        return [i for i in items if i and not i.startswith("#")]
    if isinstance(requirements, Collection):
        out = []
        for item in requirements:
            if not isinstance(item, str):
                raise DagDefinitionError(f"{where}: requirements must be strings, got {item!r}",
                                         file=fileloc, line=line)
            out.append(item.strip())
        return [i for i in out if i]
    raise DagDefinitionError(f"{where}: requirements must be a list of strings or a "
                             f"requirements file name, got {requirements!r}", file=fileloc,
                             line=line)


class _EnvironmentCallOperator(BaseOperator):
    """What the virtualenv and external-python operators share: the call in another
    interpreter. ``_interpreter()`` says which one."""

    operator_kind: ClassVar[str] = "python"
    mappable_fields: ClassVar[tuple[str, ...]] = ("op_args", "op_kwargs")
    custom_operator_name: ClassVar[str] = ""

    def __init__(self, task_id: str, python_callable: Callable[..., Any] | None = None,
                 op_args: Collection[Any] | None = None,
                 op_kwargs: Mapping[str, Any] | None = None, multiple_outputs: bool = False,
                 serializer: str | None = None, string_args: Collection[str] | None = None,
                 templates_dict: dict[str, Any] | None = None, expect_airflow: bool = True,
                 skip_on_exit_code: int | Collection[int] | None = None,
                 env_vars: dict[str, str] | None = None, inherit_env: bool = True,
                 use_dill: bool = False, use_airflow_context: bool = False,
                 **kwargs: Any) -> None:
        for name in _IGNORED:
            kwargs.pop(name, None)
        super().__init__(task_id=task_id, **kwargs)
        self._venv_options: dict[str, Any] = {}
        name = type(self).__name__
        if python_callable is not None or not isinstance(self, DecoratedOperator):
            self._check_callable(python_callable)
        self.callable = python_callable
        self.multiple_outputs = bool(multiple_outputs)
        serializer = serializer or ("dill" if use_dill else "pickle")
        if serializer not in SERIALIZERS:
            raise DagDefinitionError(
                f"{name}({task_id!r}): unsupported serializer {serializer!r}; expected one of "
                f"{', '.join(map(repr, SERIALIZERS))}", file=self.fileloc, line=self.line)
        if use_airflow_context:
            raise DagDefinitionError(
                f"{name}({task_id!r}): use_airflow_context=True is not supported by Leoflow "
                "(the function cannot reach Airflow's context from another environment); pass "
                "what it needs as arguments", file=self.fileloc, line=self.line)
        self.serializer = serializer
        self.string_args = [str(s) for s in (string_args or [])]
        self.expect_airflow = bool(expect_airflow)
        if skip_on_exit_code is None:
            codes: list[int] = []
        elif isinstance(skip_on_exit_code, int):
            codes = [skip_on_exit_code]
        else:
            codes = [int(c) for c in skip_on_exit_code]
        self.skip_on_exit_code = codes
        self.env_vars = {str(k): str(v) for k, v in (env_vars or {}).items()}
        self.inherit_env = bool(inherit_env)
        inputs = dict(op_kwargs or {})
        # templates_dict travels as an input, so the agent renders it like op_kwargs; the
        # function receives it as Airflow gives context values (if it asks for it)
        self._templates_dict_input = bool(templates_dict) and "templates_dict" not in inputs
        if self._templates_dict_input:
            inputs["templates_dict"] = dict(templates_dict or {})
        self.set_inputs(list(op_args or []), inputs)
        self._run_args: list[Any] = []
        self._run_kwargs: dict[str, Any] = {}

    def _check_callable(self, func: Any) -> None:
        if is_building_mapped() and func is None:
            return
        name = type(self).__name__
        bad = None
        if not inspect.isfunction(func):
            bad = f"needs a function defined with def as python_callable, got {func!r}"
        elif func.__name__ == "<lambda>":
            bad = "only supports functions defined with def for python_callable, not lambdas"
        elif inspect.isgeneratorfunction(func):
            bad = "does not support using 'yield' in python_callable"
        if bad:
            raise DagDefinitionError(f"{name}({self.task_id!r}) {bad}", file=self.fileloc,
                                     line=self.line)

    # -- dag.json ----------------------------------------------------------------------------
    @property
    def options(self) -> dict[str, Any]:
        """The settings written to dag.json (``virtualenv`` tells the control plane what to
        build); the TaskFlow decorator's own ``options`` assignment adds to them."""
        return {**self._extra_options, **self._venv_options,
                "serializer": self.serializer, "string_args": self.string_args,
                "skip_on_exit_code": self.skip_on_exit_code,
                "inherit_env": self.inherit_env}

    @options.setter
    def options(self, value: dict[str, Any]) -> None:
        self._extra_options = dict(value)

    # -- run time -----------------------------------------------------------------------------
    def runs_execute(self) -> bool:
        return True

    def apply_inputs(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        kwargs = dict(kwargs)
        if not isinstance(self, DecoratedOperator):  # .expand(op_args=..., op_kwargs=...)
            if "op_args" in kwargs:
                args = [*args, *(kwargs.pop("op_args") or [])]
            mapped_kwargs = dict(kwargs.pop("op_kwargs", None) or {})
            kwargs.update(mapped_kwargs)
        self._run_args = list(args)
        self._run_kwargs = kwargs

    def _interpreter(self) -> str:
        raise NotImplementedError

    def _environment(self, python: str) -> dict[str, str]:
        env = dict(os.environ) if self.inherit_env else {
            k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
        for name in (VENV_PYTHON_ENV, "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(name, None)
        # the DAG's folder is importable, as Airflow puts the bundle on PYTHONPATH; the
        # Leoflow SDK folder is not (the function runs with that environment's packages)
        env["PYTHONPATH"] = os.getcwd()
        bin_dir = str(Path(python).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", os.defpath)
        if (Path(bin_dir).parent / "pyvenv.cfg").exists():
            env["VIRTUAL_ENV"] = str(Path(bin_dir).parent)
        env.update(self.env_vars)
        return env

    def execute(self, context: dict[str, Any]) -> Any:
        python = self._interpreter()
        func = self.callable
        source = function_source(func)
        shared = {k: v for k, v in context.items() if k in SERIALIZABLE_CONTEXT_KEYS}
        given = dict(self._run_kwargs)
        if self._templates_dict_input:  # rendered like op_kwargs; given as context is
            shared["templates_dict"] = given.pop("templates_dict", None)
        kwargs = call_kwargs(func, self._run_args, given, shared)
        try:
            arguments = json.dumps({"args": self._run_args, "kwargs": kwargs})
        except (TypeError, ValueError) as exc:
            raise AirflowException(f"the arguments of {func.__name__}() cannot be passed to "
                                   f"another environment as JSON: {exc}") from None
        with tempfile.TemporaryDirectory(prefix="leoflow-venv-call-") as tmp:
            folder = Path(tmp)
            paths = {n: folder / n for n in ("script.in", "script.out", "string_args.txt",
                                              "termination.log", "script.py")}
            paths["script.in"].write_text(arguments, "utf-8")
            paths["string_args.txt"].write_text("\n".join(self.string_args), "utf-8")
            paths["script.py"].write_text(SCRIPT.format(source=source, name=func.__name__),
                                          "utf-8")
            print(f"running {func.__name__}() with {python}", flush=True)
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                process = subprocess.run(
                    [python, str(paths["script.py"]), str(paths["script.in"]),
                     str(paths["script.out"]), str(paths["string_args.txt"]),
                     str(paths["termination.log"])],
                    env=self._environment(python), stdin=subprocess.DEVNULL, check=False)
            except OSError as exc:
                raise AirflowException(f"{type(self).__name__}({self.task_id!r}): cannot run "
                                       f"the interpreter {python!r}: {exc}") from None
            code = process.returncode
            if code in self.skip_on_exit_code and code != 0:
                raise AirflowSkipException(f"Process exited with code {code}. Skipping.")
            if code != 0:
                message = f"Process returned non-zero exit status {code}."
                log = paths["termination.log"]
                if log.exists() and log.stat().st_size:
                    message += "\n" + log.read_text("utf-8", "replace")
                raise AirflowException(message)
            if 0 in self.skip_on_exit_code:
                raise AirflowSkipException("Process exited with code 0. Skipping.")
            out = paths["script.out"]
            if not out.exists() or out.stat().st_size == 0:
                return None
            return json.loads(out.read_text("utf-8"))


class PythonVirtualenvOperator(_EnvironmentCallOperator):
    """Runs ``python_callable`` in a virtual environment made from ``requirements``.

    The environment is built once by the control plane (uv) and reused by every task with
    the same Python version, requirements and install options.
    """

    def __init__(self, task_id: str, python_callable: Callable[..., Any] | None = None,
                 requirements: Collection[str] | str | None = None,
                 python_version: str | None = None, system_site_packages: bool = True,
                 pip_install_options: list[str] | None = None,
                 index_urls: Collection[str] | str | None = None, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, python_callable=python_callable, **kwargs)
        where = f"{type(self).__name__}({task_id!r})"
        if python_version is not None and not isinstance(python_version, str):
            raise DagDefinitionError(
                f"{where}: python_version must be a string such as '3.11', got "
                f"{python_version!r}", file=self.fileloc, line=self.line)
        version = python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
        if (str(version)[0] != str(sys.version_info.major)
                and (self.op_args or self.op_kwargs)):
            raise DagDefinitionError(
                f"{where}: passing op_args or op_kwargs is not supported across Python major "
                f"versions (the DAG runs {sys.version_info.major}, the environment {version}); "
                "use string_args", file=self.fileloc, line=self.line)
        reqs = read_requirements(requirements, self.fileloc, where, self.line)
        if not system_site_packages and self.serializer in ("dill", "cloudpickle") and (
                self.serializer not in reqs):
            reqs.append(self.serializer)
        urls = [index_urls] if isinstance(index_urls, str) else list(index_urls or [])
        self.requirements = sorted(reqs)
        self.python_version = version
        self.system_site_packages = bool(system_site_packages)
        self.pip_install_options = [str(o) for o in (pip_install_options or [])]
        self.index_urls = [str(u) for u in urls]
        self._venv_options = {"virtualenv": {
            "requirements": self.requirements, "python_version": self.python_version,
            "system_site_packages": self.system_site_packages,
            "pip_install_options": self.pip_install_options, "index_urls": self.index_urls}}

    def _interpreter(self) -> str:
        python = os.environ.get(VENV_PYTHON_ENV, "")
        if not python:
            raise AirflowException(
                f"{type(self).__name__}({self.task_id!r}): its virtual environment was not "
                f"prepared ({VENV_PYTHON_ENV} is not set). The control plane builds it before "
                "the try starts under the subprocess executor (leoflow lite, leoflow-server); "
                "in a DAG image, use ExternalPythonOperator with an interpreter of the image")
        if not Path(python).exists():
            raise AirflowException(f"{type(self).__name__}({self.task_id!r}): the virtual "
                                   f"environment's interpreter {python!r} does not exist")
        return python


class ExternalPythonOperator(_EnvironmentCallOperator):
    """Runs ``python_callable`` with an existing interpreter, ``python`` (a path)."""

    def __init__(self, task_id: str, python: str | os.PathLike[str] | None = None,
                 python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, python_callable=python_callable, **kwargs)
        if not python and not is_building_mapped():
            raise DagDefinitionError(
                f"{type(self).__name__}({task_id!r}) needs python=, the path of the "
                "interpreter to run the function with", file=self.fileloc, line=self.line)
        self.python = os.fspath(python) if python else ""
        self._venv_options = {"python": self.python}

    def _interpreter(self) -> str:
        path = Path(self.python)
        if not path.is_absolute():
            raise AirflowException(f"{type(self).__name__}({self.task_id!r}): python "
                                   f"{self.python!r} must be an absolute path")
        if not path.exists():
            raise AirflowException(
                f"{type(self).__name__}({self.task_id!r}): the interpreter {self.python!r} "
                "does not exist on this machine (python= names the interpreter of an existing "
                "environment, e.g. /opt/venvs/etl/bin/python)")
        if not os.access(path, os.X_OK):
            raise AirflowException(f"{type(self).__name__}({self.task_id!r}): the interpreter "
                                   f"{self.python!r} is not executable")
        return self.python


class BranchPythonVirtualenvOperator(PythonVirtualenvOperator):
    """A virtualenv function that returns the task id(s) to follow; other branches skip."""

    operator_kind = "branch"


class BranchExternalPythonOperator(ExternalPythonOperator):
    """An external-python function that returns the task id(s) to follow."""

    operator_kind = "branch"


# -- TaskFlow: @task.virtualenv, @task.external_python and their branch forms -----------------
class VirtualenvDecoratedOperator(DecoratedOperator, PythonVirtualenvOperator):
    custom_operator_name = "@task.virtualenv"
    mappable_fields: ClassVar[tuple[str, ...]] = ()


class BranchVirtualenvDecoratedOperator(DecoratedOperator, BranchPythonVirtualenvOperator):
    custom_operator_name = "@task.branch_virtualenv"
    mappable_fields: ClassVar[tuple[str, ...]] = ()


class ExternalPythonDecoratedOperator(DecoratedOperator, ExternalPythonOperator):
    custom_operator_name = "@task.external_python"
    mappable_fields: ClassVar[tuple[str, ...]] = ()


class BranchExternalPythonDecoratedOperator(DecoratedOperator, BranchExternalPythonOperator):
    custom_operator_name = "@task.branch_external_python"
    mappable_fields: ClassVar[tuple[str, ...]] = ()
