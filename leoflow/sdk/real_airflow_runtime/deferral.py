"""A deferral of a task run by the real Airflow: its trigger runs here, then the task resumes.

In Airflow a deferred task's process ends; the triggerer imports the trigger class, runs it
until its first event, and the scheduler starts a new try of the task with ``next_method``
and ``next_kwargs`` (the deferral's kwargs plus ``event``: the event's payload). Leoflow's
triggers run in the control plane, which never imports user code, so a trigger class of the
DAG's environment (a provider's) cannot run there. It runs in the task's own process instead,
with the same steps: the class from ``DeferTask.classpath``, its kwargs deserialized with
Airflow's serde, the first event awaited within ``trigger_timeout``, and the task resumed
through Airflow's ``resume_execution`` (on a timeout, ``__fail__`` with Airflow's
``TRIGGER_TIMEOUT``, which raises ``TaskDeferralTimeout``). The try stays running while it
waits (heartbeats, ``execution_timeout`` and cancellation apply as to any running try): the
cost is a process per waiting task, which Airflow's triggerer avoids.
"""

from __future__ import annotations

import asyncio
import importlib
import traceback
from typing import Any

FAIL_METHOD = "__fail__"  # Airflow's TRIGGER_FAIL_REPR
MAX_DEFERRALS = 100  # a task that defers again after each resume, bounded


def _trigger(report: Any) -> Any:
    serde = importlib.import_module("airflow.sdk.serde")
    module_name, _, class_name = str(report.classpath).rpartition(".")
    trigger_class = getattr(importlib.import_module(module_name), class_name)
    kwargs = serde.deserialize(report.trigger_kwargs or {})
    return trigger_class(**kwargs)


async def _first_event(trigger: Any) -> Any:
    try:
        async for event in trigger.run():
            return event
        return None
    finally:
        cleanup = getattr(trigger, "cleanup", None)
        if cleanup is not None:
            await cleanup()


def wait_and_resume(report: Any, ti: Any) -> None:
    """Run the trigger of ``report`` (a ``DeferTask``) to its first event and set ``ti``'s
    run context so the next ``run()`` resumes the task as the scheduler would."""
    serde = importlib.import_module("airflow.sdk.serde")
    next_kwargs: dict[str, Any] = dict(serde.deserialize(report.next_kwargs or {}) or {})
    timeout = report.trigger_timeout.total_seconds() if report.trigger_timeout else None
    context = ti._ti_context_from_server
    try:
        event = asyncio.run(asyncio.wait_for(_first_event(_trigger(report)), timeout))
    except TimeoutError:
        context.next_method = FAIL_METHOD
        reason = importlib.import_module("airflow.sdk.bases.operator").TriggerFailureReason
        context.next_kwargs = {"error": reason.TRIGGER_TIMEOUT}
        return
    except Exception as exc:  # the trigger failed: Airflow resumes into __fail__ too
        context.next_method = FAIL_METHOD
        context.next_kwargs = {"error": f"Trigger failure: {exc}",
                               "traceback": traceback.format_exception(exc)}
        return
    next_kwargs["event"] = None if event is None else event.payload
    context.next_method = report.next_method
    context.next_kwargs = serde.serialize(next_kwargs)

