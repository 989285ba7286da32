"""The human-in-the-loop requests of the real task runner (Airflow 3.3's HITL operators).

``HITLOperator.execute`` sends ``CreateHITLDetailPayload`` (the request: subject, body,
options, defaults, multiple, params, assigned users), then parks the task with
``AwaitInputTask``. Airflow's supervisor stores the request through the API server; here it
is kept on the comms (``hitl_request``), and the runner hands it to the control plane with
the ``AwaitInputTask`` as a ``hitl`` deferral (``handoff.hitl_deferral``), the same request
``leoflow.sdk.hitl`` sends: the control plane stores it, shows ``awaiting_input``, and
resumes the try with the answer (API ``PATCH .../hitlDetails``, the IDE's form) or, at the
response timeout, with the defaults.

``GetHITLDetailResponse`` and ``UpdateHITLDetail`` are the requests of Airflow's
``HITLTrigger``, which runs in Airflow's triggerer, never in a task: they stay unserved
(``UnsupportedRequest`` names them).
"""

from __future__ import annotations

from typing import Any


class HitlRequests:
    """Mixin of ``LeoflowComms``: records the task's human-in-the-loop request."""

    _comms: Any
    hitl_request: dict[str, Any] | None = None

    def _on_CreateHITLDetailPayload(self, msg: Any) -> Any:
        users = [user if isinstance(user, dict) else user.model_dump(mode="json")
                 for user in (msg.assigned_users or [])]
        self.hitl_request = {
            "subject": str(msg.subject), "body": msg.body, "options": list(msg.options),
            "defaults": None if msg.defaults is None else list(msg.defaults),
            "multiple": bool(msg.multiple), "params": dict(msg.params or {}),
            "assigned_users": [{"id": str(u.get("id")), "name": str(u.get("name"))}
                               for u in users]}
        fields = msg.model_dump(exclude={"type"})
        return self._comms.HITLDetailRequestResult(**fields)
