"""Answers shaped for the client's version where Airflow's own versions disagree.

The official ``apache-airflow-client`` validates enums strictly, and its versions know
different values: client 3.3 (and Airflow 3.3's UI) know the task instance state
``awaiting_input``, clients up to 3.2 refuse it. Each request's User-Agent
(``OpenAPI-Generator/<version>/python`` for the official client) says which it is; the
answer then uses the values that client knows. Anything else (a browser, curl, httpx) gets
Airflow 3.3's values.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any

# Whether the client of the current request knows the ``awaiting_input`` state: set per
# request by ``ClientSkewMiddleware`` from its User-Agent, read by the response models
# (``models/convert.py``). Kept here so that the app's assembly imports no model.
KNOWS_AWAITING_INPUT: ContextVar[bool] = ContextVar("knows_awaiting_input", default=True)

_CLIENT = re.compile(rb"OpenAPI-Generator/(\d+)\.(\d+)")


def knows_awaiting_input(user_agent: bytes) -> bool:
    """False only for the official client before 3.3."""
    found = _CLIENT.search(user_agent)
    return found is None or (int(found.group(1)), int(found.group(2))) >= (3, 3)


class ClientSkewMiddleware:
    """Pure ASGI middleware (no per-request task of its own): sets the context variables
    that the response models read."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        agent = next((v for k, v in scope.get("headers") or () if k == b"user-agent"), b"")
        token = KNOWS_AWAITING_INPUT.set(knows_awaiting_input(agent))
        try:
            await self.app(scope, receive, send)
        finally:
            KNOWS_AWAITING_INPUT.reset(token)
