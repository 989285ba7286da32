"""Run one task's callable in the DAG's own interpreter: ``python -m leoflow.sdk.task_runner``.

Started by ``leoflow-agent`` with the DAG's Python, in the project directory. It reads the
task payload from the channel (``leoflow.sdk.channel``), imports the DAG file the same way
the compiler did, finds the task, builds Airflow's context, calls the callable and sends
back one final message: the JSON result, a skip, or an error with the user's traceback.
The user's prints go to stdout/stderr, which the agent streams as the task's log.

Exit status: 0 when the final message was sent (whatever the outcome, except an error: 1),
2 when the channel itself is unusable.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

from leoflow.sdk import registry
from leoflow.sdk.channel import (
    OP_ERROR,
    OP_RESULT,
    OP_SKIP,
    OP_TASK,
    Channel,
    ChannelError,
    ChannelTransport,
)
from leoflow.sdk.compile_child import load_dag_file
from leoflow.sdk.context_objects import TaskInstance, branch_targets, build_context, call_kwargs
from leoflow.sdk.errors import AirflowFailException, AirflowSkipException
from leoflow.sdk.runtime import set_current_context

_SDK_DIR = os.path.dirname(os.path.abspath(__file__))
TRACEBACK_LINES = 60


class TaskLookupError(LookupError):
    """The payload names a DAG or task the DAG file does not define (any more)."""


def _user_traceback(exc: BaseException) -> str:
    """The traceback without the runner's own frames: what the user needs to see."""
    te = traceback.TracebackException.from_exception(exc)
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if not os.path.abspath(f.filename).startswith(_SDK_DIR + os.sep)])
    return "".join(te.format())


def _error(exc: BaseException, *, no_retry: bool = False) -> dict[str, Any]:
    text = _user_traceback(exc)
    sys.stderr.write(text)
    sys.stderr.flush()
    lines = text.rstrip("\n").splitlines()[-TRACEBACK_LINES:]
    return {"op": OP_ERROR, "type": type(exc).__name__, "message": str(exc),
            "traceback": "\n".join(lines), "no_retry": no_retry}


def find_task(dag_id: str, task_id: str, dag_file: str) -> tuple[Any, Any]:
    """The DAG and operator objects the DAG file built for these ids."""
    dags = registry.collected()
    by_id = {d.dag_id: d for d in dags}
    if dag_id not in by_id:
        raise TaskLookupError(
            f"{dag_file} defines no DAG {dag_id!r} (it defines: "
            f"{', '.join(sorted(by_id)) or 'none'}); was the file changed since it was compiled?")
    dag = by_id[dag_id]
    if not dag.has_task(task_id):
        raise TaskLookupError(
            f"DAG {dag_id!r} in {dag_file} has no task {task_id!r} (it has: "
            f"{', '.join(dag.task_ids)}); was the file changed since it was compiled?")
    return dag, dag.get_task(task_id)


def _check_result(payload: dict[str, Any], value: Any) -> None:
    operator = payload.get("operator", "python")
    if operator == "bash" and not (isinstance(value, str) and value.strip()):
        raise TypeError("a @task.bash function must return the command to run as a non-empty "
                        f"string, got {value!r}")
    if operator == "branch":
        branch_targets(value)
    if payload.get("multiple_outputs") and value is not None:
        if not isinstance(value, dict):
            raise TypeError(f"Returned output was type {type(value).__name__}, expected a dict "
                            "for multiple_outputs")
        for key in value:
            if not isinstance(key, str):
                raise TypeError("Returned dictionary keys must be strings when using "
                                f"multiple_outputs, found {key!r} ({type(key).__name__})")


def run(payload: dict[str, Any], channel: Channel) -> dict[str, Any]:
    """Execute the task described by ``payload``; return the final message to send."""
    project_dir = os.path.abspath(payload.get("project_dir") or os.getcwd())
    dag_file = os.path.join(project_dir, payload["dag_file"])
    try:
        load_dag_file(dag_file, project_dir)
        dag, task = find_task(payload["dag_id"], payload["task_id"], payload["dag_file"])
        if not callable(task.callable):
            raise TaskLookupError(f"task {task.task_id!r} ({type(task).__name__}) has no Python "
                                  "callable to run")
        ti = TaskInstance(dag_id=payload["dag_id"], task_id=payload["task_id"],
                          run_id=str(payload.get("run_id", "")),
                          map_index=int(payload.get("map_index", -1)),
                          try_number=int(payload.get("try_number", 1)),
                          max_tries=int(payload.get("max_tries", 0)), task=task,
                          transport=ChannelTransport(channel))
        context = build_context(payload.get("context") or {}, dag=dag, task=task, ti=ti)
        args = list(payload.get("args") or [])
        kwargs = call_kwargs(task.callable, args, payload.get("kwargs") or {}, context)
        set_current_context(context)
        try:
            value = task.callable(*args, **kwargs)
        finally:
            set_current_context(None)
            sys.stdout.flush()
        _check_result(payload, value)
    except AirflowSkipException as exc:
        return {"op": OP_SKIP, "message": str(exc)}
    except AirflowFailException as exc:
        return _error(exc, no_retry=True)
    except BaseException as exc:  # the user's code may raise anything, SystemExit included
        return _error(exc)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return {"op": OP_ERROR, "type": "TypeError", "no_retry": False, "traceback": "",
                "message": f"task returned a value of type {type(value).__name__}, which is not "
                           "JSON-serializable; return JSON data (dict, list, str, number, bool, "
                           "None) so it can be stored as XCom"}
    return {"op": OP_RESULT, "value": value}


def main() -> int:
    # the user's prints reach the log as they happen, not when a buffer fills
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    try:
        channel = Channel.from_environ()
        payload = channel.receive()
    except (ChannelError, OSError, ValueError) as exc:
        sys.stderr.write(f"leoflow task runner: {exc}\n")
        return 2
    if payload.get("op") != OP_TASK:
        sys.stderr.write(f"leoflow task runner: expected a task, got {payload.get('op')!r}\n")
        return 2
    message = run(payload, channel)
    try:
        channel.send(message)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"leoflow task runner: could not report the result: {exc}\n")
        return 2
    channel.close()
    return 1 if message["op"] == OP_ERROR else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # skip interpreter teardown surprises (atexit handlers of user libraries still run)
    sys.exit(code)
