"""The agent's part in the task state store and retry policies.

The user process asks for its task state over the channel (``task_state`` requests, see
``leoflow.sdk.task_state``); the agent turns each into a ``TaskState`` call with the try's
own credentials, so the control plane scopes it to this task instance. A retry policy's
decision arrives in the runner's ``error`` message and goes on in ``ReportState``.
"""

from __future__ import annotations

from typing import Any

from leoflow.agent.client import ControlPlaneClient
from leoflow.agent.outcome import Outcome

ACTIONS = ("get", "set", "delete", "clear")


async def serve_task_state(client: ControlPlaneClient, message: dict[str, Any]) -> Any:
    """Answer one ``task_state`` request: ``{"found", "value"}`` for a get, else None."""
    action = str(message.get("action") or "")
    if action not in ACTIONS:
        raise ValueError(f"task_state action must be one of {', '.join(ACTIONS)}, "
                         f"not {action!r}")
    retention = message.get("retention_seconds")
    found, value = await client.task_state(
        action, str(message.get("key") or ""), message.get("value"),
        retention_seconds=None if retention is None else float(retention),
        never_expire=bool(message.get("never_expire")))
    return {"found": found, "value": value} if action == "get" else None


def with_retry_decision(outcome: Outcome, final: dict[str, Any]) -> Outcome:
    """Carry the retry policy's delay and reason from the runner's error to the report."""
    delay = final.get("retry_delay")
    if isinstance(delay, (int, float)) and not isinstance(delay, bool) and delay >= 0:
        outcome.retry_delay = float(delay)
    outcome.retry_reason = str(final.get("retry_reason") or "")
    return outcome
