"""A task the real Airflow runs: the agent starts the runner and reports what it said.

A task marked ``"runtime": "airflow"`` in dag.json (its DAG's environment holds the real
Airflow) runs whatever its operator kind through the same task-runner process as a Python
task; inside it, ``leoflow.sdk.real_airflow_runtime`` hands the task to Airflow's own task
runner and answers its supervisor requests over the channel. The agent renders nothing and
pushes nothing itself: Airflow renders the templates, and its XComs reached the control plane
through the channel (``xcom_push``) before the runner's final message. What is left here is
turning that message into the outcome to report (leoflow/sdk/real_airflow_runtime/runner.py
says which message means what).
"""

from __future__ import annotations

from typing import Any

from leoflow.agent.assets import outlet_events_of
from leoflow.agent.outcome import SUCCESS, Outcome
from leoflow.agent.python_task import run_callable
from leoflow.agent.taskrun import TaskRun
from leoflow.errors import InvariantError
from leoflow.sdk.channel import OP_RESULT
from leoflow.sdk.real_airflow_runtime import AIRFLOW_RUNTIME, RUNTIME_FIELD


def runs_with_airflow(spec: dict[str, Any]) -> bool:
    """True for a task the real Airflow's task runner executes (dag.json ``runtime``)."""
    return spec.get(RUNTIME_FIELD) == AIRFLOW_RUNTIME


async def run_airflow(run: TaskRun) -> Outcome:
    final, failure = await run_callable(run)
    if failure is not None:
        return failure
    if final is None or final["op"] != OP_RESULT:  # run_callable's other outcomes fail
        raise InvariantError("run_callable returned no failure and no result message (op "
                             f"{None if final is None else final['op']!r})")
    outcome = Outcome(SUCCESS)
    follow = final.get("follow_task_ids")
    if isinstance(follow, list):
        outcome.follow_task_ids = [str(t) for t in follow]
    if "short_circuit_continue" in final:
        outcome.short_circuit_continue = bool(final["short_circuit_continue"])
    outcome.outlet_events = outlet_events_of(final)
    return outcome
