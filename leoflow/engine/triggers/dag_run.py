"""The ``dag_run`` trigger kind: a ``TriggerDagRunOperator``'s request, then its wait.

The first poll asks the ``DagRunStarter`` (the control plane's cross-DAG service,
``leoflow.engine.services.cross_dag``) to create the run; the starter records what it did in
the trigger row, so polls after a restart get the same answer and never create a second
run. Without ``wait_for_completion`` the trigger fires at once; with it, it polls the run's
state (and at once whenever the scheduler reports that DAG changed, like ``external_task``)
until the state is in ``allowed_states`` or ``failed_states``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from leoflow.engine.triggers.base import PollResult, TriggerError

RUN_STATES = ("queued", "running", "success", "failed")


class DagRunStarter(Protocol):
    """What the runner needs from the control plane's cross-DAG service."""

    async def start(self, trigger_id: int, source_dag_id: str,
                    kwargs: Mapping[str, Any]) -> dict[str, Any]: ...

    async def run_state(self, dag_id: str, run_id: str) -> str | None: ...


def validate(kwargs: Mapping[str, Any]) -> None:
    for name in ("trigger_dag_id", "run_id"):
        if not isinstance(kwargs.get(name), str) or not kwargs[name]:
            raise TriggerError(f"a dag_run trigger needs {name}", field=f"trigger.kwargs.{name}")
    if not isinstance(kwargs.get("conf", {}), Mapping):
        raise TriggerError("conf must be a JSON object", field="trigger.kwargs.conf")
    for name in ("allowed_states", "failed_states"):
        states = kwargs.get(name) or []
        if not isinstance(states, list) or any(s not in RUN_STATES for s in states):
            raise TriggerError(f"{name} must list DAG run states ({', '.join(RUN_STATES)}), "
                               f"got {states!r}", field=f"trigger.kwargs.{name}")


def describe(kwargs: Mapping[str, Any]) -> str:
    what = f"run {kwargs.get('run_id')} of DAG {kwargs.get('trigger_dag_id')}"
    if not kwargs.get("wait_for_completion"):
        return f"{what} to be created"
    return f"{what} to be {'/'.join(kwargs.get('allowed_states') or ['success'])}"


async def poll(kwargs: dict[str, Any], trigger_id: int, source_dag_id: str,
               starter: DagRunStarter | None) -> PollResult | None:
    """One poll; updates ``kwargs["started"]`` (the runner's copy) once the run exists.

    ``None`` means the trigger is gone (its task instance was cleared meanwhile)."""
    if starter is None:
        return PollResult({"status": "failed", "reason": "this control plane cannot trigger "
                           "DAG runs (no cross-DAG service is wired in)"}, "")
    started = kwargs.get("started")
    if not isinstance(started, Mapping):
        started = await starter.start(trigger_id, source_dag_id, kwargs)
        status = started.get("status")
        if status == "gone":
            return None
        if status in ("failed", "skipped"):
            return PollResult(dict(started), str(started.get("reason") or status))
        kwargs["started"] = started
    dag_id, run_id = str(kwargs["trigger_dag_id"]), str(started.get("run_id"))
    done = {"status": "triggered", "run_id": run_id,
            "logical_date": started.get("logical_date")}
    verb = "reset" if started.get("reset") else "created"
    if not kwargs.get("wait_for_completion"):
        return PollResult({**done, "state": await starter.run_state(dag_id, run_id)},
                          f"run {run_id} of DAG {dag_id} {verb}")
    state = await starter.run_state(dag_id, run_id)
    if state is None:
        return PollResult({"status": "failed",
                           "reason": f"run {run_id} of DAG {dag_id} was deleted"}, "")
    allowed = list(kwargs.get("allowed_states") or ["success"])
    failed = list(kwargs.get("failed_states") or [])
    if state in allowed or state in failed:
        return PollResult({**done, "state": state},
                          f"run {run_id} of DAG {dag_id} ended {state}")
    return PollResult(None, f"run {run_id} of DAG {dag_id} ({verb}) to be "
                            f"{'/'.join(allowed)} (now: {state})")
