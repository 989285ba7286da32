"""The child side of ``leoflow compile``: run one DAG file and describe what it built.

Started by the compiler as ``python -m leoflow.sdk.compile_child DAG_FILE PROJECT_DIR OUT``
with the DAG's own interpreter. User code runs here, never in the control plane. The result
(or the error, with file and line) is written as JSON to OUT, not to stdout, which belongs
to the user's code.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
import types
from typing import Any

from leoflow.sdk import airflow_shim, registry
from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.serialize import SerializationError, serialize_dag


def load_dag_file(dag_file: str, project_dir: str) -> types.ModuleType:
    """Execute ``dag_file`` as the module named after it, with the project on ``sys.path``.

    Shared with the task runner, so a DAG file is imported the same way when it is compiled
    and when one of its tasks runs.
    """
    airflow_shim.install()
    if project_dir not in sys.path:
        sys.path.insert(0, project_dir)
    with open(dag_file, encoding="utf-8") as handle:
        source = handle.read()
    code = compile(source, dag_file, "exec")
    name = os.path.splitext(os.path.basename(dag_file))[0]
    module = types.ModuleType(name)
    module.__file__ = dag_file
    sys.modules[name] = module
    exec(code, module.__dict__)
    return module


def describe_failure(exc: BaseException, dag_file: str, project_dir: str) -> dict[str, Any]:
    """An error record: kind, one-line message, file, line and the traceback text."""
    if isinstance(exc, SyntaxError):
        return {"kind": "syntax", "message": f"SyntaxError: {exc.msg}",
                "file": exc.filename or dag_file, "line": exc.lineno,
                "traceback": "".join(traceback.format_exception_only(type(exc), exc))}
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, SerializationError):
        return {"kind": "serialization", "message": exc.message, "file": exc.file,
                "line": exc.line, "traceback": text}
    if isinstance(exc, DagDefinitionError):
        kind = "duplicate_task_id" if type(exc).__name__ == "DuplicateTaskIdFound" else (
            "definition")
        return {"kind": kind, "message": exc.message, "file": exc.file, "line": exc.line,
                "traceback": text}
    frame = user_frame(traceback.extract_tb(exc.__traceback__), dag_file, project_dir)
    if type(exc).__name__ == "DuplicateTaskIdFound":  # the real Airflow's, not the SDK's
        return {"kind": "duplicate_task_id", "message": str(exc),
                "file": frame.filename if frame else dag_file,
                "line": frame.lineno if frame else None, "traceback": text}
    unavailable = _unavailable_airflow_name(exc)
    if unavailable is not None:
        return {"kind": "airflow_internal" if unavailable.internal else "airflow_unsupported",
                "message": str(unavailable), "file": frame.filename if frame else dag_file,
                "line": frame.lineno if frame else None, "traceback": text}
    message = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        message += (f" (add the package that provides {exc.name.split('.')[0]!r} to "
                    "'dependencies' in leoflow.yaml)")
    return {"kind": "import", "message": message,
            "file": frame.filename if frame else dag_file,
            "line": frame.lineno if frame else None, "traceback": text}


def user_frame(frames: list[traceback.FrameSummary], dag_file: str, project_dir: str
               ) -> traceback.FrameSummary | None:
    """The innermost frame of the user's own code: a real file of the project, not a
    library's. ``<frozen os>`` is no file (relative to the project folder it would look like
    one), and a virtual environment kept in the project is libraries, not the user's code;
    with no such frame, the DAG file's own innermost frame, then the innermost of all."""
    root = os.path.abspath(project_dir) + os.sep

    def users(frame: traceback.FrameSummary) -> bool:
        name = frame.filename
        if not name or name.startswith("<") or not os.path.isabs(name):
            return False
        path = os.path.abspath(name)
        return path.startswith(root) and "site-packages" not in path.split(os.sep)

    own = [f for f in frames if users(f)]
    if own:
        return own[-1]
    target = os.path.abspath(dag_file)
    in_dag_file = [f for f in frames if os.path.abspath(f.filename) == target]
    return in_dag_file[-1] if in_dag_file else (frames[-1] if frames else None)


def _unavailable_airflow_name(exc: BaseException
                              ) -> airflow_shim.AirflowModuleUnavailable | None:
    """The one-line error for an Airflow module, or a name of one, that Leoflow does not
    provide: ``import airflow.configuration`` raises it already; ``from airflow.models import
    TaskInstance`` raises Python's "cannot import name", turned here into the same line for
    ``airflow.models.TaskInstance``."""
    if isinstance(exc, airflow_shim.AirflowModuleUnavailable):
        return exc
    if type(exc) is not ImportError or not (exc.name or "").startswith("airflow"):
        return None
    if exc.name not in airflow_shim.MODULES:
        return None
    found = re.match(r"cannot import name '([^']+)'", str(exc))
    return airflow_shim.AirflowModuleUnavailable(f"{exc.name}.{found.group(1)}") if found \
        else None


def local_modules(dag_file: str, project_dir: str) -> list[str]:
    """The project's own files the DAG file imported (helper modules), relative and sorted.

    The compiler hashes them with the DAG file, so that a change to a helper makes a new
    version of the DAGs that import it (their code at run time is the helper's new code).
    """
    root = os.path.abspath(project_dir) + os.sep
    found = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path:
            continue
        path = os.path.abspath(path)
        if path.startswith(root) and path != os.path.abspath(dag_file) and path.endswith(".py"):
            found.add(os.path.relpath(path, project_dir))
    return sorted(found)


def own_dags(dags: list[Any], dag_file: str) -> list[Any]:
    """The DAGs that belong to ``dag_file``: the ones its module-level code made (itself or
    through a helper's factory function), not the ones another DAG file made while the file
    imported it (``from other_dag_file import X``), which are that file's, as in Airflow's
    DagBag."""
    target = os.path.abspath(dag_file)
    return [d for d in dags if getattr(d, "module_file", None) is None
            or os.path.abspath(d.module_file) == target]


def compile_file(dag_file: str, project_dir: str) -> dict[str, Any]:
    """Run the DAG file and return ``{"ok": True, "dags": [...]}`` or ``{"ok": False, ...}``."""
    registry.clear()
    try:
        real: list[dict[str, Any]] = []
        if airflow_shim.real_airflow_available():  # the shim steps aside: read Airflow's DAGs
            from leoflow.sdk.real_airflow.compiling import describe_real

            real = describe_real(dag_file, project_dir, load_dag_file)
        else:
            load_dag_file(dag_file, project_dir)
        dags = own_dags(registry.collected(), dag_file)
        if not dags and not real:
            return {"ok": False, "error": {
                "kind": "no_dag", "file": dag_file, "line": None, "traceback": "",
                "message": "defines no DAG: create one with 'with DAG(...)' or call your "
                           "@dag function at module level"}}
        return {"ok": True,
                "dags": [*real, *(serialize_dag(d, project_dir=project_dir) for d in dags)],
                "local_modules": local_modules(dag_file, project_dir)}
    except BaseException as exc:
        return {"ok": False, "error": describe_failure(exc, dag_file, project_dir)}


def main(argv: list[str]) -> int:
    dag_file, project_dir, out_path = argv
    result = compile_file(os.path.abspath(dag_file), os.path.abspath(project_dir))
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
