"""What the routes need, passed in explicitly by the composition root (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from leoflow.engine.auth.permissions import Principal
from leoflow.engine.logs import LogStore
from leoflow.engine.services import Operations
from leoflow.engine.services.container import Services
from leoflow.engine.services.rows import Store
from leoflow.engine.xcom import XComBackend

# ``extras`` key of an optional hook that makes a pushed DAG runnable on this server (builds
# its per-DAG environment) before it is registered; ``leoflow-server`` sets it.
PREPARE_ENVIRONMENT = "prepare_environment"


class Authenticator(Protocol):
    """Turns credentials into tokens and tokens into principals (engine/auth implements it).

    ``login`` raises ``InvalidCredentials`` or ``RateLimited``; ``principal`` raises
    ``NotAuthenticated``, ``InvalidToken`` or ``TokenExpired`` (see ``api/errors.py``).
    """

    async def login(self, username: str, password: str, *, client: str,
                    long_lived: bool = False) -> str: ...

    async def principal(self, token: str) -> Principal: ...


@dataclass
class ApiContext:
    """The API's dependencies. A server builds it with ``ApiContext.of(services, ...)``;
    tests of a single route may give the parts alone. ``services`` (the control plane's)
    is what the health and HA routes read the scheduler's trigger runner and the leadership
    from; ``scheduler_heartbeat`` says when the leading scheduler was last seen (None: it
    runs in this process)."""

    store: Store
    operations: Operations
    auth: Authenticator
    xcom: XComBackend
    logs: LogStore
    version: str
    started_at: datetime
    scheduler_heartbeat: Callable[[], datetime | None] | None = None
    services: Services | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, services: Services, *, auth: Authenticator, version: str,
           started_at: datetime, extras: dict[str, Any] | None = None) -> ApiContext:
        """The context of a running control plane's API."""
        leadership = services.leadership
        return cls(store=services.store, operations=services.operations, auth=auth,
                   xcom=services.xcom, logs=services.logs, version=version,
                   started_at=started_at, services=services, extras=dict(extras or {}),
                   scheduler_heartbeat=leadership.heartbeat if leadership.election else None)
