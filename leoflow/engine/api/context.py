"""What the routes need, passed in explicitly by the composition root (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from leoflow.engine.auth.permissions import Principal
from leoflow.engine.services import Operations
from leoflow.engine.store import Store


class Authenticator(Protocol):
    """Turns credentials into tokens and tokens into principals (engine/auth implements it).

    ``login`` raises ``InvalidCredentials`` or ``RateLimited``; ``principal`` raises
    ``NotAuthenticated``, ``InvalidToken`` or ``TokenExpired`` (``auth/errors.py``; their
    statuses are ``api/errors.py``'s ``caller_status``).
    """

    async def login(self, username: str, password: str, *, client: str,
                    long_lived: bool = False) -> str: ...

    async def principal(self, token: str) -> Principal: ...


@dataclass
class ApiContext:
    store: Store
    operations: Operations
    auth: Authenticator
    xcom: Any
    logs: Any
    version: str
    started_at: datetime
    scheduler_heartbeat: Any = None  # callable returning the last scheduler activity time
    extras: dict[str, Any] = field(default_factory=dict)
