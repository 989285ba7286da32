"""Run one task with the real Airflow's task runner and say how it ended, on the channel.

The order is the one of Airflow's ``task_runner.main()``: comms, startup (parse the DAG
file, build the task instance and its context), ``run()`` (render templates, pre-execute,
execute, post-execute, push the XCom, report the terminal state through the comms), then
``finalize()`` (success/failure/retry callbacks, listeners). Only the process around it is
Leoflow's: the agent started this interpreter, streams its stdout/stderr as the try's log
and masks secrets in it, and turns the final message into the state it reports.

The final message, from the terminal report the runner sent (``comms.LeoflowComms``):

* ``SucceedTask`` -> ``result`` (the XComs were pushed already, through ``SetXCom``), with
  its ``outlet_events`` (``outlets.py``), ``follow_task_ids`` for a branch (its direct
  downstream tasks the runner did not skip) and ``short_circuit_continue`` for a short-circuit;
* ``TaskState(skipped)`` -> ``skip``; ``TaskState(failed)`` -> ``error`` with ``no_retry``
  (``AirflowFailException``, a sensor's timeout, no try left); ``RetryTask`` -> ``error``;
* ``RescheduleTask`` -> ``reschedule``;
* a ``DeferTask`` whose trigger the control plane runs (``handoff.py``: Airflow's
  DateTime/TimeDelta, File and Workflow triggers) -> ``defer``, as the shim's deferrals: the
  process ends and the try waits ``deferred``; any other trigger runs in this process and
  the task resumes here (``deferral.py``);
* ``AwaitInputTask`` (a human-in-the-loop operator, after its ``CreateHITLDetailPayload``)
  -> ``defer`` to a ``hitl`` trigger: the try waits ``awaiting_input``.

A resumed try (``next_method`` in the payload) gets its ``next_kwargs`` and the trigger's
event as Airflow's triggerer stores them (``handoff.resume``), so Airflow's own
``resume_execution`` calls ``execute_complete`` with the event (``__fail__`` after the
trigger's timeout).
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any

from leoflow.sdk.channel import OP_ERROR, OP_RESCHEDULE, OP_RESULT, OP_SKIP, Channel
from leoflow.sdk.real_airflow_runtime.comms import LeoflowComms
from leoflow.sdk.real_airflow_runtime.deferral import MAX_DEFERRALS, wait_and_resume
from leoflow.sdk.real_airflow_runtime.handoff import deferral, hitl_deferral, resume
from leoflow.sdk.real_airflow_runtime.outlets import leoflow_outlet_events
from leoflow.sdk.real_airflow_runtime.startup import (
    StartupError,
    find_templates_beside_the_source,
    load_dag,
    task_instance,
)
from leoflow.sdk.real_airflow_runtime.subprocess_comms import serving
from leoflow.sdk.real_airflow_runtime.versions import UnsupportedTaskSdk, check_supported

TRACEBACK_LINES = 60


def _error(exc: BaseException | None, message: str = "", *, no_retry: bool = False,
           type_name: str = "") -> dict[str, Any]:
    text = "".join(traceback.format_exception(exc)) if exc is not None else ""
    lines = text.rstrip("\n").splitlines()[-TRACEBACK_LINES:]
    return {"op": OP_ERROR, "type": type_name or (type(exc).__name__ if exc else "Exception"),
            "message": message or (str(exc) if exc is not None else ""),
            "traceback": "\n".join(lines), "no_retry": no_retry}


def _prepare_environment(project_dir: str) -> None:
    """What Airflow's worker has and a bare DAG environment lacks: an AIRFLOW_HOME (Airflow
    writes nothing of its own into a user's ~/airflow for a Leoflow task), the project on
    ``sys.path`` as in a bundle, and Airflow's logging to stdout, with its secrets masker,
    where the agent reads the try's log."""
    if "AIRFLOW_HOME" not in os.environ:
        home = tempfile.mkdtemp(prefix="leoflow-airflow-home-")
        atexit.register(shutil.rmtree, home, True)
        os.environ["AIRFLOW_HOME"] = home
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    if project_dir not in sys.path:
        sys.path.insert(0, project_dir)
    log = importlib.import_module("airflow.sdk.log")
    log.configure_logging(json_output=False, output=sys.stdout, colored_console_log=False)


def _is_mapped(dag: Any) -> Callable[[str], bool]:
    mapped = importlib.import_module("airflow.sdk.definitions.mappedoperator").MappedOperator

    def check(task_id: str) -> bool:
        task = dag.task_dict.get(task_id)
        return isinstance(task, mapped) or bool(
            task is not None and task.get_closest_mapped_task_group() is not None)
    return check


def _final(comms: LeoflowComms, payload: dict[str, Any], task: Any, state: Any,
           error: BaseException | None, handed: dict[str, Any] | None) -> dict[str, Any]:
    if handed is not None:  # the control plane waits for the trigger (handoff.py)
        return handed
    report = comms.terminal
    kind = getattr(report, "type", None)
    if kind == "SucceedTask":
        message: dict[str, Any] = {"op": OP_RESULT, "value": None, "xcom_pushed": True}
        outlet_events = leoflow_outlet_events(getattr(report, "outlet_events", None))
        if outlet_events:
            message["outlet_events"] = outlet_events
        downstream = sorted(getattr(task, "downstream_task_ids", ()) or ())
        if payload.get("operator") == "branch":
            message["follow_task_ids"] = [t for t in downstream if t not in comms.skipped]
        elif payload.get("operator") == "short_circuit":
            message["short_circuit_continue"] = not any(t in comms.skipped for t in downstream)
        return message
    if kind == "TaskState" and str(getattr(report.state, "value", report.state)) == "skipped":
        return {"op": OP_SKIP, "message": str(error or "")}
    if kind == "RescheduleTask":
        moment: datetime = report.reschedule_date
        return {"op": OP_RESCHEDULE, "reschedule_date": moment.timestamp()}
    if kind == "DeferTask":
        return _error(None, f"{type(task).__name__} deferred more than {MAX_DEFERRALS} "
                      "times in one try", type_name="AirflowException")
    if kind == "AwaitInputTask":
        return _error(None, f"{type(task).__name__} waits for human input without having "
                      "sent its request (CreateHITLDetailPayload) first",
                      type_name="AirflowException", no_retry=True)
    if kind in ("TaskState", "RetryTask"):
        return _error(error, no_retry=kind == "TaskState")
    return _error(error, f"Airflow's task runner ended in state {state} without reporting it",
                  type_name="AirflowException")


def run(payload: dict[str, Any], channel: Channel) -> dict[str, Any]:
    """Execute the task the way Airflow 3's worker does; return the final message."""
    project_dir = os.path.abspath(payload.get("project_dir") or os.getcwd())
    try:
        check_supported()
    except UnsupportedTaskSdk as exc:
        sys.stderr.write(f"{exc}\n")
        return _error(exc, no_retry=True)
    try:
        _prepare_environment(project_dir)
        task_runner: Any = importlib.import_module("airflow.sdk.execution_time.task_runner")
        dag = load_dag(project_dir, payload["dag_file"], payload["dag_id"])
        find_templates_beside_the_source(dag, payload.get("dag_folder"), project_dir)
        task = dag.task_dict.get(payload["task_id"])
        if task is None:
            raise StartupError(
                f"DAG {payload['dag_id']!r} in {payload['dag_file']} has no task "
                f"{payload['task_id']!r} (it has: {', '.join(dag.task_dict)}); was the file "
                "changed since it was compiled?")
        comms = LeoflowComms(channel, dag_id=payload["dag_id"],
                             run_id=str(payload.get("run_id") or ""), is_mapped=_is_mapped(dag),
                             first_poke_at=float(payload.get("first_poke_at") or 0.0),
                             task_assets=(payload.get("context") or {}).get("task_assets")
                             or (),
                             prev_success=(payload.get("context") or {}).get("prev_success"))
        task_runner.SUPERVISOR_COMMS = comms
        ti = task_instance(payload, task)
        server = ti._ti_context_from_server
        if server.next_method:  # resumed: the trigger's event (or timeout), as Airflow's
            server.next_method, server.next_kwargs = resume(server.next_method,
                                                            payload.get("next_kwargs") or {})
        context = ti.get_template_context()
    except StartupError as exc:
        sys.stderr.write(f"{exc}\n")
        return _error(exc, type_name="TaskLookupError")
    except BaseException as exc:  # the DAG file's own import failed, or Airflow's startup
        traceback.print_exc()
        return _error(exc)
    log = importlib.import_module("structlog").get_logger(logger_name="task")
    where = {"cwd": os.getcwd(), "logical_date": (payload.get("context") or {}).get(
        "logical_date")}
    handed: dict[str, Any] | None = None
    with serving(comms):  # the socket a virtualenv operator's interpreter talks to
        state, _, error = task_runner.run(ti, context, log)
        for _ in range(MAX_DEFERRALS):
            report = comms.terminal
            kind = getattr(report, "type", None)
            if kind == "AwaitInputTask":
                handed = hitl_deferral(report, comms.hitl_request)
            if kind != "DeferTask":
                break
            handed = deferral(report, where)
            if handed is not None:  # the control plane waits; this process ends
                break
            log.warning("Trigger class %s is not one Leoflow's control plane runs: it runs "
                        "in this task's process, which stays running until the event",
                        report.classpath)
            wait_and_resume(report, ti)  # its trigger runs here, then it resumes
            comms.terminal = None
            state, _, error = task_runner.run(ti, context, log)
        context["exception"] = error
        task_runner.finalize(ti, state, context, log, error)
    sys.stdout.flush()
    return _final(comms, payload, ti.task, state, error, handed)
