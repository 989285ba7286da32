"""Run a task's Python callable in the DAG's interpreter, through the task runner.

The agent starts ``<python> -m leoflow.sdk.task_runner`` in the project directory with a
clean environment and two extra pipes (the channel), sends the task payload, serves the
runner's XCom requests, and turns its final message into an ``Outcome`` (for python, branch
and short_circuit tasks) or a command (for ``@task.bash``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from leoflow.agent import zygote_client
from leoflow.agent.assets import ASSET_OPS, outlet_events_of, serve_asset_request
from leoflow.agent.channel import AgentChannel
from leoflow.agent.outcome import SKIPPED, SUCCESS, Outcome
from leoflow.agent.process import (
    AGENT_PID_ENV,
    UserProcess,
    airflow_context_env,
    base_environment,
    exit_code_of,
    sdk_pythonpath,
)
from leoflow.agent.task_state import serve_task_state, with_retry_decision
from leoflow.agent.taskrun import Supervised, TaskRun, killed_outcome_fields, supervise
from leoflow.agent.template_files import render_inputs, serve_render, templates_dict_payload
from leoflow.agent.templating import (
    TemplateRenderError,
    has_template,
    make_environment,
    render_literal_inputs,
)
from leoflow.errors import InvariantError
from leoflow.sdk.channel import (
    ENV_IN,
    ENV_OUT,
    OP_DEFER,
    OP_ERROR,
    OP_RESCHEDULE,
    OP_RESULT,
    OP_SKIP,
    OP_TASK,
    OP_XCOM_PULL,
    OP_XCOM_PUSH,
)
from leoflow.sdk.context_objects import XCOM_RETURN_KEY, branch_targets
from leoflow.sdk.real_airflow_runtime import AIRFLOW_RUNTIME, RUNTIME_FIELD
from leoflow.sdk.real_airflow_runtime.comms_cross_dag import OP_DAG_RUNS
from leoflow.sdk.secrets_masker import OP_MASK_SECRET
from leoflow.sdk.task_state import OP_TASK_STATE
from leoflow.sdk.templating import OP_RENDER

RUNNER_MODULE = "leoflow.sdk.task_runner"


def runner_environment(run: TaskRun, python: str) -> dict[str, str]:
    """The user process's whole environment (nothing of the agent's own beyond the basics)."""
    task = run.task
    env = base_environment(dict(task.env), python=python)
    env.update(airflow_context_env(
        dag_id=task.dag_id, task_id=task.task_id, run_id=task.run_id,
        try_number=task.try_number, logical_date=run.context.get("logical_date"),
        owner=str(run.spec.get("owner", "airflow"))))
    env["PYTHONPATH"] = sdk_pythonpath()
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def payload(run: TaskRun, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    task = run.task
    return {"op": OP_TASK, "project_dir": task.project_dir, "dag_file": task.dag_file,
            "dag_folder": task.dag_folder,  # the DAG file's folder in its project
            "dag_id": task.dag_id, "task_id": task.task_id, "run_id": task.run_id,
            "map_index": task.map_index, "try_number": task.try_number,
            "max_tries": task.max_tries, "operator": task.operator,
            "multiple_outputs": bool(run.spec.get("multiple_outputs")), "args": args,
            "kwargs": kwargs, "context": run.context,
            # a resumed try: the method to call with the trigger's event, and for reschedule
            # sensors when this try's first poke was (0: this is it)
            "next_method": task.next_method,
            "next_kwargs": json.loads(task.next_kwargs_json) if task.next_kwargs_json else {},
            "first_poke_at": task.first_poke_at,
            # "airflow": the real Airflow's task runner executes it (sdk/real_airflow_runtime)
            RUNTIME_FIELD: run.spec.get(RUNTIME_FIELD) or "leoflow"}


async def _render_inputs(run: TaskRun) -> tuple[list[Any], dict[str, Any]]:
    """Airflow renders the literal strings of ``op_args``/``op_kwargs`` (and @task args)."""
    if run.options.get("template_ext"):  # some strings are template files
        return await render_inputs(run)
    if not has_template(run.args) and not has_template(run.kwargs):
        return run.args, run.kwargs
    inputs = run.spec.get("inputs") or {}
    encoded_args = list(inputs.get("args") or [])
    encoded_kwargs = dict(inputs.get("kwargs") or {})
    context = run.template_context()
    env = make_environment(run.task.project_dir or None)

    def render_all() -> tuple[list[Any], dict[str, Any]]:
        args = [render_literal_inputs(v, encoded_args[i] if i < len(encoded_args) else None,
                                      context, env, f"args[{i}]")
                for i, v in enumerate(run.args)]
        kwargs = {k: render_literal_inputs(v, encoded_kwargs.get(k), context, env, k)
                  for k, v in run.kwargs.items()}
        return args, kwargs

    return await asyncio.to_thread(render_all)


async def _serve_request(run: TaskRun, message: dict[str, Any]) -> Any:
    op = message.get("op")
    if op == OP_XCOM_PULL:
        map_indexes = message.get("map_indexes")
        return await run.client.pull_xcom([str(t) for t in message.get("task_ids") or []],
                                          str(message.get("key") or XCOM_RETURN_KEY),
                                          None if map_indexes is None else
                                          [int(i) for i in map_indexes])
    if op == OP_RENDER:
        return await serve_render(run, message)
    if op == OP_XCOM_PUSH:
        await run.client.push_xcom(str(message["key"]), message.get("value"))
        return None
    if op == OP_TASK_STATE:
        return await serve_task_state(run.client, message)
    if op in ASSET_OPS:
        return await serve_asset_request(run.client, message)
    if op == OP_DAG_RUNS:  # the real Airflow's TriggerDagRun, GetTICount... (other DAGs)
        return await run.client.dag_runs(str(message.get("action") or ""),
                                         dict(message.get("args") or {}))
    if op == OP_MASK_SECRET:  # mask_secret() in user code: masked from the next line on
        run.shipper.masker.add_strings(str(v) for v in message.get("values") or [])
        return None
    raise ValueError(f"unknown request {op!r}")


async def run_callable(run: TaskRun, *, extra: dict[str, Any] | None = None,
                       ) -> tuple[dict[str, Any] | None, Outcome | None]:
    """Run the task's code; returns the runner's ``result`` message, or an Outcome when it
    did not produce one (failed, skipped, rescheduled, deferred).

    Exactly one of the two is set. ``extra`` goes into the payload for a run that is not
    the task's callable (a bash task's ``output_processor``): the inputs are not sent then.
    """
    # the real Airflow renders its own templates and resolves its own XCom arguments
    as_given = bool(extra) or run.spec.get(RUNTIME_FIELD) == AIRFLOW_RUNTIME
    try:
        args, kwargs = ([], {}) if as_given else await _render_inputs(run)
        templated = {} if as_given else await templates_dict_payload(run)
    except TemplateRenderError as exc:
        return None, Outcome.failed(exc.type_name, str(exc))
    python = run.task.python or sys.executable
    project_dir = run.task.project_dir or os.getcwd()
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    env = runner_environment(run, python)
    env[ENV_IN], env[ENV_OUT] = str(in_r), str(out_w)
    env[AGENT_PID_ENV] = str(os.getpid())
    process, how = await _from_zygote(run, python, project_dir, env, (in_r, out_w))
    await run.shipper.agent_line(
        f"running {run.task.dag_id}.{run.task.task_id} (try {run.task.try_number}) with "
        f"{python} in {project_dir}{how}")
    if process is None:
        try:
            process = await asyncio.create_subprocess_exec(
                python, "-m", RUNNER_MODULE, cwd=project_dir, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, pass_fds=(in_r, out_w),
                start_new_session=True)
        except OSError as exc:
            for fd in (in_r, in_w, out_r, out_w):
                os.close(fd)
            return None, Outcome.failed("EnvironmentError",
                                        f"cannot start the DAG's interpreter {python}: {exc}")
    os.close(in_r)
    os.close(out_w)
    channel = await AgentChannel.open(out_r, in_w)
    await channel.send({**payload(run, args, kwargs), **templated, **(extra or {})})
    server = asyncio.create_task(channel.serve(lambda m: _serve_request(run, m)))
    try:
        supervised = await supervise(process, run, companions=(server,))
    finally:
        channel.close()
    return _interpret(run, channel, supervised)


async def _from_zygote(run: TaskRun, python: str, project_dir: str, env: dict[str, str],
                       channel_fds: tuple[int, int]) -> tuple[UserProcess | None, str]:
    """The user process forked by the DAG version's zygote, or None to start it the normal
    way; and what the try's "running" line says about it (why a zygote was not used)."""
    if not zygote_client.enabled():
        return None, ""
    # runtime "airflow": the zygote has imported Airflow's runner and parsed this DAG
    airflow_dag_id = run.task.dag_id if run.spec.get(RUNTIME_FIELD) == AIRFLOW_RUNTIME else ""
    child_env = {k: v for k, v in env.items() if k != AGENT_PID_ENV}
    try:
        child = await zygote_client.spawn(python, project_dir, run.task.dag_file, child_env,
                                          channel_fds, airflow_dag_id=airflow_dag_id)
    except (zygote_client.ZygoteUnavailable, OSError) as exc:
        return None, f" (zygote not used: {exc}; normal start)"
    return child, f", forked from the DAG version's zygote (pid {child.pid})"


def _interpret(run: TaskRun, channel: AgentChannel,
               supervised: Supervised) -> tuple[dict[str, Any] | None, Outcome | None]:
    exit_code = exit_code_of(supervised.returncode)
    if supervised.killed_for:
        error_type, message = killed_outcome_fields(run, supervised,
                                                    run.task.execution_timeout)
        return None, Outcome.failed(error_type, message, exit_code=exit_code,
                                    traceback="\n".join(supervised.stderr_tail))
    if channel.protocol_error:
        return None, Outcome.failed("AirflowException", channel.protocol_error,
                                    exit_code=exit_code)
    final = channel.final
    if final is None:
        return None, Outcome.failed(
            "TaskProcessExited",
            f"the task's process exited with code {exit_code} before reporting a result "
            "(killed, out of memory, os._exit, or a crash in native code?)",
            exit_code=exit_code, traceback="\n".join(supervised.stderr_tail))
    if final["op"] == OP_ERROR:
        failed = Outcome.failed(str(final.get("type") or "Exception"),
                                str(final.get("message") or ""), exit_code=exit_code or 1,
                                traceback=str(final.get("traceback") or ""),
                                no_retry=bool(final.get("no_retry")))
        return None, with_retry_decision(failed, final)
    if final["op"] == OP_SKIP:
        return None, Outcome(SKIPPED, error_message=str(final.get("message") or ""))
    if final["op"] == OP_RESCHEDULE:
        return None, Outcome.rescheduled(float(final.get("reschedule_date") or 0.0))
    if final["op"] == OP_DEFER:
        timeout = final.get("timeout")
        return None, Outcome.deferred(dict(final.get("trigger") or {}),
                                      str(final.get("next_method") or ""),
                                      dict(final.get("next_kwargs") or {}),
                                      None if timeout is None else float(timeout))
    return final, None


def result_outcome(run: TaskRun, value: Any) -> Outcome:
    """A python, branch or short_circuit task's success, with the XComs to push.

    As in Airflow 3, ``None`` is not pushed; with ``multiple_outputs`` each key is pushed
    before ``return_value``.
    """
    outcome = Outcome(SUCCESS)
    if run.task.operator == "branch":
        try:
            outcome.follow_task_ids = branch_targets(value)
        except TypeError as exc:
            return Outcome.failed("TypeError", str(exc))
    elif run.task.operator == "short_circuit":
        outcome.short_circuit_continue = bool(value)
    if value is None:
        return outcome
    if run.spec.get("multiple_outputs"):
        if not isinstance(value, dict):
            return Outcome.failed("TypeError", f"Returned output was type "
                                  f"{type(value).__name__}, expected a dict for multiple_outputs")
        outcome.xcoms.extend(value.items())
    outcome.xcoms.append((XCOM_RETURN_KEY, value))
    return outcome


async def run_python(run: TaskRun) -> Outcome:
    final, failure = await run_callable(run)
    if failure is not None:
        return failure
    if final is None or final["op"] != OP_RESULT:  # run_callable's other outcomes fail
        raise InvariantError("run_callable returned no failure and no result message (op "
                             f"{None if final is None else final['op']!r})")
    outcome = result_outcome(run, final.get("value"))
    if "short_circuit_continue" in final and outcome.state == SUCCESS:
        outcome.short_circuit_continue = bool(final["short_circuit_continue"])
    outcome.outlet_events = outlet_events_of(final)
    return outcome
