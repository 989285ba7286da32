"""A bash task's ``output_processor``, run in the DAG's interpreter.

Bash itself runs under the agent (it renders the command with Jinja and supervises bash);
``output_processor`` is the user's Python, so once bash has ended with success the agent
starts the task runner a second time with the last line of stdout under ``BASH_OUTPUT_KEY``
in the payload. The runner imports the DAG file, finds the task and returns
``task.output_processor(line)``; that value is what the try pushes (each key too with
``multiple_outputs``), as Airflow's ``BashOperator.execute`` returns
``self.output_processor(result.output)``.
"""

from __future__ import annotations

from typing import Any

BASH_OUTPUT_KEY = "bash_output"
# ``@task.bash(env={...})`` holding upstream results: the env travels as this input (resolved
# by the control plane like any argument), is never passed to the function, and becomes the
# bash command's environment.
BASH_ENV_INPUT = "__leoflow_bash_env__"


def is_bash_output(payload: dict[str, Any]) -> bool:
    """Whether this run of the task runner processes a bash task's output."""
    return BASH_OUTPUT_KEY in payload


def process_bash_output(task: Any, payload: dict[str, Any]) -> Any:
    """``task.output_processor(last stdout line)``."""
    processor = getattr(task, "output_processor", None)
    if processor is None and getattr(task, "_post_execute_hook", None) is not None:
        return str(payload[BASH_OUTPUT_KEY])  # run for post_execute: Airflow's identity
    if not callable(processor):
        raise LookupError(
            f"task {task.task_id!r} ({type(task).__name__}) has no output_processor any more; "
            "was the DAG file changed since it was compiled?")
    return processor(str(payload[BASH_OUTPUT_KEY]))
