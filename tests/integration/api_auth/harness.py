"""A real API over a real SQLite store and a real ``AuthService``, for route tests.

Reusable by the tests of other route modules::

    from tests.integration.api_auth.harness import assert_role_matrix

    async def test_trigger_roles(api):                     # the ``api`` fixture (conftest)
        await assert_role_matrix(api.client_for, "POST", "/api/v2/dags/d/dagRuns",
                                 {"Admin", "Op", "User"}, body={"logical_date": None})

Time is a ``FakeClock`` (tokens expire and login bans lift when a test moves it); passwords
are hashed with real argon2 at a low cost so that creating users stays fast.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher

from leoflow.engine.api import ApiContext, create_api
from leoflow.engine.auth.config import AuthConfig
from leoflow.engine.auth.passwords import Passwords
from leoflow.engine.auth.permissions import ROLES, Principal
from leoflow.engine.auth.service import AuthService
from leoflow.engine.store import Store

BASE_URL = "http://testserver"
ADMIN_PASSWORD = "bootstrap-password-1"
USER_PASSWORD = "a-user-password"
OPERATOR = Principal("admin", "Admin", "default")


def cheap_passwords() -> Passwords:
    """Real argon2id with a test-sized cost (about a millisecond a hash)."""
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


class FakeClock:
    """Wall time and monotonic time that move only when a test says so."""

    def __init__(self, start: datetime = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) -> None:
        self.current = start
        self.mono = 1_000.0

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        self.mono += seconds


async def open_auth(store: Store, home: Path, clock: FakeClock, **config: Any) -> AuthService:
    settings = AuthConfig(home=home, **{"bootstrap_password": ADMIN_PASSWORD, **config})
    return await AuthService.open(store, settings, passwords=cheap_passwords(),
                                  clock=clock.now, monotonic=clock.monotonic)


@dataclass
class ApiHarness:
    store: Store
    auth: AuthService
    clock: FakeClock
    app: Any = None
    _clients: list[httpx.AsyncClient] = field(default_factory=list)
    _users: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.app is None:
            self.app = create_api(ApiContext(
                store=self.store, operations=None, auth=self.auth,  # type: ignore[arg-type]
                xcom=None, logs=None, version="test", started_at=self.clock.now()))

    def client(self, token: str | None = None, *,
               client_address: tuple[str, int] = ("127.0.0.1", 50000)) -> httpx.AsyncClient:
        """An HTTP client of the app, with ``Authorization: Bearer token`` when given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=client_address),
            base_url=BASE_URL, headers=headers)
        self._clients.append(client)
        return client

    async def user(self, username: str, role: str, tenant: str = "default",
                   password: str = USER_PASSWORD) -> str:
        """Create a user (once) through the service, as the bootstrap operator would."""
        if username not in self._users:
            await self.auth.users.create_user(OPERATOR, username, password, role,
                                              tenant=tenant)
            self._users.add(username)
        return username

    async def token_for(self, role: str, tenant: str = "default") -> str:
        """An access token of a user with ``role`` in ``tenant`` (created on first use)."""
        username = await self.user(f"{role.lower()}.{tenant}", role, tenant)
        return await self.auth.issue(Principal(username, role, tenant))

    async def client_for(self, role: str, tenant: str = "default") -> httpx.AsyncClient:
        return self.client(await self.token_for(role, tenant))

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


async def assert_role_matrix(
    client_factory: Callable[[str], Awaitable[httpx.AsyncClient]],
    method: str,
    path: str | Callable[[str], str],
    allowed_roles: Collection[str],
    *,
    body: Any = None,
    roles: Iterable[str] = tuple(ROLES),
    setup: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, httpx.Response]:
    """Call ``method path`` as every role: the allowed ones must get past authorization
    (no 401/403, and no 5xx), the others must get 403. ``path`` and ``body`` may be
    callables of the role (to use a fresh name per role); ``setup`` runs before each call
    (to recreate what an allowed call deleted). Returns each role's response."""
    answers: dict[str, httpx.Response] = {}
    for role in roles:
        if setup is not None:
            await setup()
        client = await client_factory(role)
        url = path(role) if callable(path) else path
        payload = body(role) if callable(body) else body
        response = await client.request(method, url, json=payload)
        answers[role] = response
        where = f"{role}: {method} {url} -> {response.status_code} {response.text[:300]}"
        if role in allowed_roles:
            assert response.status_code not in (401, 403), where
            assert response.status_code < 500, where
        else:
            assert response.status_code == 403, where
    return answers
