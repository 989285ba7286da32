"""Run one task's callable in the DAG's own interpreter: ``python -m leoflow.sdk.task_runner``.

Started by ``leoflow-agent`` with the DAG's Python, in the project directory. It reads the
task payload from the channel (``leoflow.sdk.channel``), imports the DAG file the same way
the compiler did, finds the task, builds Airflow's context, calls the callable and sends
back one final message: the JSON result, a skip, or an error with the user's traceback.
The user's prints go to stdout/stderr, which the agent streams as the task's log.

What runs: a resumed try (``next_method`` in the payload) calls that method of the operator
with the trigger's event; a sensor or a user operator runs its ``execute(context)``; any
other task calls its callable. A deferral (``self.defer`` / ``defer()``) ends the process
with a ``defer`` message, a reschedule-mode sensor that is not done with ``reschedule``.

Exit status: 0 when the final message was sent (whatever the outcome, except an error: 1),
2 when the channel itself is unusable.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import traceback
from datetime import datetime, timedelta, timezone
from typing import Any

from leoflow.sdk import registry
from leoflow.sdk.asset_outlet_events import outlet_events_message, run_callable
from leoflow.sdk.asset_runtime import add_task_asset_context, asset_function_kwargs
from leoflow.sdk.bash_output import BASH_ENV_INPUT, is_bash_output, process_bash_output
from leoflow.sdk.channel import (
    OP_DEFER,
    OP_ERROR,
    OP_RESCHEDULE,
    OP_RESULT,
    OP_SKIP,
    OP_TASK,
    Channel,
    ChannelError,
    ChannelTransport,
)
from leoflow.sdk.compile_child import load_dag_file
from leoflow.sdk.context_objects import TaskInstance, branch_targets, build_context, call_kwargs
from leoflow.sdk.errors import (
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from leoflow.sdk.execute_hooks import call_post_execute, call_pre_execute
from leoflow.sdk.mapped_operators import prepare_task
from leoflow.sdk.real_airflow_runtime import AIRFLOW_RUNTIME, RUNTIME_FIELD
from leoflow.sdk.retry_policy import decide
from leoflow.sdk.runtime import set_current_context
from leoflow.sdk.secrets_masker import OP_MASK_SECRET
from leoflow.sdk.secrets_masker import use_reporter as use_mask_reporter
from leoflow.sdk.sensors import BaseSensorOperator
from leoflow.sdk.task_state import TaskStateStore
from leoflow.sdk.templating import set_renderer, use_agent_templating
from leoflow.sdk.triggers import REPLAY_METHOD, start_replay, stop_replay, trigger_spec_of

_SDK_DIR = os.path.dirname(os.path.abspath(__file__))
TRACEBACK_LINES = 60
AGENT_PID_ENV = "LEOFLOW_AGENT_PID"  # set by the agent (leoflow/agent/process.py)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# DAG files this process imported before the try (leoflow.sdk.zygote, before it forks)
PRELOADED: set[str] = set()


class TaskLookupError(LookupError):
    """The payload names a DAG or task the DAG file does not define (any more)."""


def _user_traceback(exc: BaseException) -> str:
    """The traceback without the runner's own frames: what the user needs to see."""
    te = traceback.TracebackException.from_exception(exc)
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if not os.path.abspath(f.filename).startswith(_SDK_DIR + os.sep)])
    return "".join(te.format())


def _error(exc: BaseException, *, no_retry: bool = False,
           policy_of: tuple[Any, Any, Any] | None = None) -> dict[str, Any]:
    """The ``error`` message; ``policy_of`` (task, ti, context) lets the task's retry policy
    add its decision (``no_retry``, ``retry_delay``, ``retry_reason``)."""
    text = _user_traceback(exc)
    sys.stderr.write(text)
    sys.stderr.flush()
    lines = text.rstrip("\n").splitlines()[-TRACEBACK_LINES:]
    message = {"op": OP_ERROR, "type": type(exc).__name__, "message": str(exc),
               "traceback": "\n".join(lines), "no_retry": no_retry}
    if policy_of is not None and policy_of[1] is not None:
        task, ti, context = policy_of
        message.update(decide(getattr(task, "retry_policy", None), exc,
                              try_number=ti.try_number, max_tries=ti.max_tries,
                              context=context))
    return message


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
    processed = is_bash_output(payload)  # a bash task's output_processor's value
    if operator == "bash" and not processed and not (isinstance(value, str) and value.strip()):
        raise TypeError("a @task.bash function must return the command to run as a non-empty "
                        f"string, got {value!r}")
    if operator == "branch":
        branch_targets(value)
    if payload.get("multiple_outputs") and value is not None and (operator != "bash"
                                                                  or processed):
        if not isinstance(value, dict):
            raise TypeError(f"Returned output was type {type(value).__name__}, expected a dict "
                            "for multiple_outputs")
        for key in value:
            if not isinstance(key, str):
                raise TypeError("Returned dictionary keys must be strings when using "
                                f"multiple_outputs, found {key!r} ({type(key).__name__})")


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    return float(value)


def _seconds_or_none(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def deferral_message(exc: TaskDeferred) -> dict[str, Any]:
    """The ``defer`` message; a deferral that cannot be described is the user's error."""
    kwargs = dict(exc.kwargs or {})
    try:
        json.dumps(kwargs)
    except (TypeError, ValueError):
        raise TypeError(f"defer(kwargs=...) must be JSON data (they are stored while the task "
                        f"waits); got {kwargs!r}") from None
    if not isinstance(exc.method_name, str) or not exc.method_name:
        raise TypeError(f"defer(method_name=...) must name a method, got {exc.method_name!r}")
    return {"op": OP_DEFER, "trigger": trigger_spec_of(exc.trigger),
            "next_method": exc.method_name, "next_kwargs": kwargs,
            "timeout": _seconds_or_none(exc.timeout)}


def execute_task(task: Any, payload: dict[str, Any], args: list[Any],
                 kwargs: dict[str, Any], context: dict[str, Any]) -> Any:
    """Run the task's code for this payload and return its value (the XCom)."""
    if is_bash_output(payload):
        return process_bash_output(task, payload)
    next_method = str(payload.get("next_method") or "")
    next_kwargs = dict(payload.get("next_kwargs") or {})
    runs_execute = isinstance(task, BaseSensorOperator) or task.runs_execute()
    if runs_execute:
        task.apply_inputs(args, kwargs)
    if next_method and next_method != REPLAY_METHOD:  # resume: Airflow's execute_complete
        method = getattr(task, next_method, None)
        if not callable(method):
            raise TaskLookupError(f"task {task.task_id!r} ({type(task).__name__}) has no "
                                  f"method {next_method!r} to resume with")
        return method(context=context, **next_kwargs)
    events: list[Any] = []
    if next_method == REPLAY_METHOD:  # the simple form: run again, earlier defers return
        events = list(next_kwargs.get("events") or [])
        if "event" in next_kwargs:
            events.append(next_kwargs["event"])
    start_replay(events)
    if isinstance(task, BaseSensorOperator):
        task.first_poke_at = float(payload.get("first_poke_at") or 0.0)
    if runs_execute:
        return task.execute(context)
    if not callable(task.callable):
        raise TaskLookupError(f"task {task.task_id!r} ({type(task).__name__}) has no Python "
                              "callable to run")
    kwargs = {k: v for k, v in kwargs.items() if k != BASH_ENV_INPUT}  # the command's env
    arguments = (asset_function_kwargs(task, context, payload.get("context") or {})
                 if hasattr(task, "asset_call_kwargs")  # an @asset function
                 else call_kwargs(task.callable, args, kwargs, context))
    value = run_callable(task.callable, args, arguments, context.get("outlet_events"))
    if inspect.iscoroutine(value):  # an async @task (Airflow 3.2+): run it to its end
        import asyncio

        value = asyncio.run(value)
    return value


def run(payload: dict[str, Any], channel: Channel) -> dict[str, Any]:
    """Execute the task described by ``payload``; return the final message to send."""
    if payload.get(RUNTIME_FIELD) == AIRFLOW_RUNTIME:  # Airflow's own task runner runs it
        from leoflow.sdk.real_airflow_runtime.runner import run as run_with_airflow

        return run_with_airflow(payload, channel)
    project_dir = os.path.abspath(payload.get("project_dir") or os.getcwd())
    dag_file = os.path.join(project_dir, payload["dag_file"])
    task: Any = None
    ti: TaskInstance | None = None
    context: dict[str, Any] | None = None
    # mask_secret() tells the agent, which masks this try's log lines (secrets_masker)
    use_mask_reporter(lambda values: channel.request(OP_MASK_SECRET, values=values))
    try:
        if dag_file not in PRELOADED:  # a zygote's child has it imported already
            load_dag_file(dag_file, project_dir)
        dag, task = find_task(payload["dag_id"], payload["task_id"], payload["dag_file"])
        # .map() functions run here, in the user's process; a mapped user operator is
        # built with this instance's values (Airflow's unmapping)
        task, args, kwargs = prepare_task(dag, task, list(payload.get("args") or []),
                                          dict(payload.get("kwargs") or {}))
        ti = TaskInstance(dag_id=payload["dag_id"], task_id=payload["task_id"],
                          run_id=str(payload.get("run_id", "")),
                          map_index=int(payload.get("map_index", -1)),
                          try_number=int(payload.get("try_number", 1)),
                          max_tries=int(payload.get("max_tries", 0)), task=task,
                          transport=ChannelTransport(channel))
        context = build_context(payload.get("context") or {}, dag=dag, task=task, ti=ti)
        context["task_state_store"] = TaskStateStore(channel)
        add_task_asset_context(context, payload.get("context") or {}, task, channel)
        set_current_context(context)
        use_agent_templating(payload, context, channel)
        try:
            # a bash task's hooks: pre before its command, post after bash (the second run)
            command_only = payload.get("operator") == "bash" and not is_bash_output(payload)
            if not is_bash_output(payload):
                call_pre_execute(task, context)
            value = execute_task(task, payload, args, kwargs, context)
            if not command_only:
                call_post_execute(task, context, value)
        finally:
            set_current_context(None)
            set_renderer(None)
            stop_replay()
            sys.stdout.flush()
        _check_result(payload, value)
        outlet_events = outlet_events_message(context.get("outlet_events"))
    except TaskDeferred as exc:
        try:
            return deferral_message(exc)
        except TypeError as bad:
            return _error(bad)
    except AirflowRescheduleException as exc:
        return {"op": OP_RESCHEDULE, "reschedule_date": _epoch(exc.reschedule_date)}
    except AirflowSkipException as exc:
        return {"op": OP_SKIP, "message": str(exc)}
    except (AirflowFailException, AirflowSensorTimeout) as exc:
        return _error(exc, no_retry=True)
    except BaseException as exc:  # the user's code may raise anything, SystemExit included
        return _error(exc, policy_of=(task, ti, context))
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return {"op": OP_ERROR, "type": "TypeError", "no_retry": False, "traceback": "",
                "message": f"task returned a value of type {type(value).__name__}, which is not "
                           "JSON-serializable; return JSON data (dict, list, str, number, bool, "
                           "None) so it can be stored as XCom"}
    message = {"op": OP_RESULT, "value": value}
    if outlet_events:  # what the task recorded for its outlets (leoflow.sdk.asset_outlet_events)
        message["outlet_events"] = outlet_events
    decision = getattr(task, "short_circuit_decision", None)
    if decision is not None:  # a short-circuit whose XCom is not its decision (ApprovalOperator)
        message["short_circuit_continue"] = bool(decision)
    return message


def _die_with_agent() -> None:
    """Get SIGKILL when the agent dies (Linux's PR_SET_PDEATHSIG), so a user process never
    outlives an agent killed with SIGKILL (it runs in its own session, which nothing else
    would stop). Armed here, in a fresh single-threaded process, rather than between fork
    and exec in the agent. If the agent is already gone, stop at once."""
    agent = os.environ.pop(AGENT_PID_ENV, "")
    if not agent.isdigit() or not sys.platform.startswith("linux"):
        return
    import ctypes  # only here: a few milliseconds, and Linux only

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # 9: SIGKILL
    except (OSError, AttributeError):
        return
    if os.getppid() != int(agent):
        os._exit(137)


def main() -> int:
    _die_with_agent()
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
