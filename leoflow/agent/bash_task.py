"""Bash tasks: ``BashOperator`` and the command returned by a ``@task.bash`` function.

The agent renders ``bash_command`` and ``env`` with Jinja (Airflow's context, including
``ti.xcom_pull``), then runs ``bash -c <command>`` in its own process group. As in Airflow:
a non-zero exit fails the task, an exit code listed in ``skip_on_exit_code`` (99 by default)
skips it, and the last line of stdout is pushed as the XCom ``return_value``.

Environment (Airflow's rules): without ``env`` the command sees the task's environment; with
``env`` it sees exactly ``env`` (plus ``AIRFLOW_CTX_*``), unless ``append_env=True`` merges
the two. The working directory is ``cwd`` (relative to the project) or the project directory
(Airflow uses a temporary directory; a Leoflow project is self-contained, so its own folder
is the useful default).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from leoflow.agent.bash_result import bash_outcome
from leoflow.agent.outcome import SKIPPED, Outcome
from leoflow.agent.process import (
    airflow_context_env,
    base_environment,
    die_with_agent_prefix,
    exit_code_of,
)
from leoflow.agent.taskrun import TaskRun, killed_outcome_fields, supervise
from leoflow.agent.templating import TemplateRenderError, make_environment, render, render_command
from leoflow.sdk.bash_output import BASH_ENV_INPUT


def _skip_codes(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


def bash_settings(run: TaskRun, command: str | None = None) -> dict[str, Any]:
    """The command and its settings, from the classic operator's inputs or @task.bash options."""
    options = run.options
    settings = {
        "bash_command": command if command is not None else run.kwargs.get("bash_command"),
        "env": run.kwargs.get(BASH_ENV_INPUT, run.kwargs.get("env", options.get("env"))),
        "cwd": run.kwargs.get("cwd", options.get("cwd")),
        "append_env": bool(options.get("append_env", False)),
        "output_encoding": str(options.get("output_encoding") or "utf-8"),
        "skip_on_exit_code": _skip_codes(options.get("skip_on_exit_code", 99)),
    }
    return settings


async def _render(run: TaskRun, settings: dict[str, Any]) -> tuple[str, dict[str, str] | None]:
    context = run.template_context()
    env = make_environment(run.task.project_dir or None)
    project_dir = run.task.project_dir or os.getcwd()

    def render_all() -> tuple[str, dict[str, str] | None]:
        command = render_command(str(settings["bash_command"]), context, env, project_dir)
        task_env = settings["env"]
        if task_env is not None:
            task_env = {str(k): str(v) for k, v in render(dict(task_env), context, env,
                                                           "env").items()}
        return command, task_env

    return await asyncio.to_thread(render_all)


def _environment(run: TaskRun, task_env: dict[str, str] | None,
                 append_env: bool) -> dict[str, str]:
    task = run.task
    context_env = airflow_context_env(
        dag_id=task.dag_id, task_id=task.task_id, run_id=task.run_id,
        try_number=task.try_number, logical_date=run.context.get("logical_date"),
        owner=str(run.spec.get("owner", "airflow")))
    base = base_environment(dict(task.env), python=task.python or None)
    if task_env is None:
        return {**base, **context_env}
    if append_env:
        return {**base, **task_env, **context_env}
    return {**task_env, **context_env}


async def run_bash(run: TaskRun, command: str | None = None) -> Outcome:
    settings = bash_settings(run, command)
    if not settings["bash_command"] or not str(settings["bash_command"]).strip():
        return Outcome.failed("AirflowException", "bash_command is empty")
    try:
        rendered, task_env = await _render(run, settings)
    except TemplateRenderError as exc:
        return Outcome.failed(exc.type_name, str(exc))
    project_dir = Path(run.task.project_dir or os.getcwd())
    cwd = project_dir / str(settings["cwd"]) if settings["cwd"] else project_dir
    if not cwd.is_dir():
        return Outcome.failed("AirflowException", f"Can not find the cwd: {cwd}")
    await run.shipper.agent_line(f"Running command: ['bash', '-c', {rendered!r}]")
    try:
        process = await asyncio.create_subprocess_exec(
            *die_with_agent_prefix(), "bash", "-c", rendered, cwd=str(cwd),
            env=_environment(run, task_env, settings["append_env"]),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        return Outcome.failed("AirflowException", f"cannot start bash: {exc}")
    supervised = await supervise(process, run, encoding=settings["output_encoding"])
    exit_code = exit_code_of(supervised.returncode)
    await run.shipper.agent_line(f"Command exited with return code {exit_code}")
    if supervised.killed_for:
        error_type, message = killed_outcome_fields(run, supervised, run.task.execution_timeout)
        return Outcome.failed(error_type, message, exit_code=exit_code,
                              traceback="\n".join(supervised.stderr_tail))
    if exit_code in settings["skip_on_exit_code"]:
        return Outcome(SKIPPED, exit_code=exit_code,
                       error_message=f"Bash command returned exit code {exit_code}. Skipping.")
    if exit_code != 0:
        return Outcome.failed(
            "AirflowException",
            f"Bash command failed. The command returned a non-zero exit code {exit_code}.",
            exit_code=exit_code, traceback="\n".join(supervised.stderr_tail))
    return await bash_outcome(run, supervised.stdout_last)
