"""The ``hitl`` trigger kind: a human-in-the-loop task waits for a person's answer.

The request lives in ``hitl_detail`` (written by the scheduler when the try parks in
``awaiting_input``); the answer is written there by ``leoflow.engine.services.hitl``, which
then asks the runner to poll at once (``TriggerRunner.poll_now``), so an answer usually
resumes the task within a moment. The poll also runs every ``poke_interval`` (5 s), which
covers an answer given on another replica.

At the timeout (the trigger row's ``timeout_at``, from ``response_timeout``) the runner polls
instead of failing the try: with ``defaults`` they become the answer (responded by nobody,
``timedout``), without them the event is Airflow's ``{"error_type": "timeout"}`` and the
resumed task raises ``HITLTimeoutError``. An answer that arrived first always wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leoflow.engine.store import Store
from leoflow.engine.store import hitl as hitl_rows
from leoflow.engine.store.hitl import HitlRow
from leoflow.engine.triggers.base import PollResult, TriggerError

TIMEOUT_ERROR = "The timeout has passed, and the response has not yet been received."


def validate(kwargs: Mapping[str, Any]) -> None:
    options = kwargs.get("options")
    if not isinstance(options, list) or not options or not all(
            isinstance(o, str) for o in options):
        raise TriggerError("a hitl trigger needs options (a non-empty list of strings)",
                           field="trigger.kwargs.options")
    defaults = kwargs.get("defaults")
    if defaults is not None and (not isinstance(defaults, list)
                                 or not set(defaults) <= set(options)):
        raise TriggerError("a hitl trigger's defaults must be a list of its options",
                           field="trigger.kwargs.defaults")
    if not isinstance(kwargs.get("params") or {}, Mapping):
        raise TriggerError("a hitl trigger's params must be an object",
                           field="trigger.kwargs.params")


def answer_event(row: HitlRow) -> dict[str, Any]:
    """The event the task resumes with (Airflow's ``HITLTriggerEventSuccessPayload``)."""
    user = (None if row.responded_by_user_id is None
            else {"id": row.responded_by_user_id, "name": row.responded_by_user_name or ""})
    return {"chosen_options": list(row.chosen_options or []),
            "params_input": dict(row.params_input or {}),
            "responded_at": row.responded_at.isoformat() if row.responded_at else None,
            "responded_by_user": user, "timedout": user is None}


def default_params(row: HitlRow) -> dict[str, Any]:
    """The form's values when nobody filled it: each param's default."""
    return {name: (spec.get("value") if isinstance(spec, Mapping) else spec)
            for name, spec in row.params.items()}


async def poll(store: Store, ti_id: str, try_number: int, now: datetime) -> PollResult:
    async with store.connect() as conn:
        row = await hitl_rows.get_request(conn, ti_id)
    if row is None or row.try_number != try_number:
        return PollResult(None, "an answer (the request is not stored yet)")
    if row.response_received:
        who = row.responded_by_user_name or "the timeout's defaults"
        return PollResult(answer_event(row), f"answered by {who}: {row.chosen_options}")
    if row.timeout_at is not None and now >= row.timeout_at:
        if row.defaults is None:
            return PollResult({"error": TIMEOUT_ERROR, "error_type": "timeout"},
                              "timed out without an answer and without defaults")
        async with store.begin() as conn:
            await hitl_rows.record_answer(conn, ti_id, try_number=try_number,
                                          chosen_options=list(row.defaults),
                                          params_input=default_params(row), now=now,
                                          user_id=None, user_name=None)
            answered = await hitl_rows.get_request(conn, ti_id)
        if answered is None:  # removed (the task cleared) while its defaults were recorded
            raise TriggerError(f"the Human-in-the-loop request of {ti_id} was removed while "
                               "its timeout's defaults were being recorded")
        return PollResult(answer_event(answered),
                          f"timed out: answered with {answered.chosen_options}")
    until = f" (defaults apply at {row.timeout_at.isoformat()})" if row.timeout_at else ""
    return PollResult(None, f"a person to answer {row.subject!r}{until}")
