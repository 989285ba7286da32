"""The API fuzzers' harness: the production app (``leoflow.app.server.build_app``, its real
``AuthService`` and bootstrap admin) over real HTTP, and a Schemathesis loop that calls every
operation as an admin, a Viewer, nobody, a forged or expired token and a cookie without
``Origin``, and checks what any server must hold whatever the input:

* no answer is a 5xx;
* the admin's token, obtained through ``POST /auth/token``, stays valid all along (so the
  admin's examples really reach the handlers: not a wall of 401/403);
* an operation that needs a principal never answers 2xx to no token or a bad one, and
  never takes a write authenticated by the ``_token`` cookie without this server's Origin.

There is no test double here: ``serve`` refuses to yield unless the app's authenticator is
the real ``AuthService`` and the test doubles' fixed tokens are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import string
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from leoflow.app.server import build_app
from leoflow.app.settings import Settings
from leoflow.engine.api.security import TOKEN_COOKIE, current_principal
from leoflow.engine.auth.access_tokens import AccessTokens
from leoflow.engine.auth.permissions import Principal
from leoflow.engine.auth.service import AuthService

ADMIN_PASSWORD = "fuzz-bootstrap-password-1"
VIEWER = "fuzz-viewer"
VIEWER_PASSWORD = "fuzz-viewer-password-1"
JWT_SECRET = "fuzz-" + "s3cr3t-" * 8
# Fixed bearer tokens of the API suites' former test doubles: the real service refuses them.
FAKE_TOKENS = ("admin-token", "viewer-token", "op-token")
# Whose credentials a fuzzed request carries, besides the admin's (see ``headers_for``).
OTHER_KINDS = ("viewer", "none", "garbage", "cookie")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
LOGOUT = "/api/v2/auth/logout"
REFUSALS = {"Not authenticated", "Invalid JWT token", "Token Expired"}

Seed = Callable[[Any], Awaitable[None]]


@dataclass
class LiveApi:
    """A started server: its URL, real tokens and the event loop its control plane runs on."""

    url: str
    app: Any
    loop: asyncio.AbstractEventLoop
    admin: str
    viewer: str
    spare_admin: list[str] = field(default_factory=list)  # for the logout route, one each

    def run(self, coro: Awaitable[Any], timeout: float = 120) -> Any:
        """Run ``coro`` on the server's loop (where its store and plane live)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]


def login(url: str, username: str, password: str, *, cli: bool = False) -> str:
    """A JWT from the real login route, as Airflow's clients get one."""
    answer = httpx.post(f"{url}/auth/token{'/cli' if cli else ''}",
                        json={"username": username, "password": password}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["access_token"]


@contextlib.contextmanager
def serve(home: Path, database_url: str, *, seed: Seed | None = None,
          spare_tokens: int = 0) -> Iterator[LiveApi]:
    """``leoflow-server``'s app on ``database_url`` in a uvicorn thread, its bootstrap admin
    created from ``bootstrap_password``; a Viewer made through ``POST /api/leoflow/users``;
    ``seed(plane)`` run on the server's loop before the tokens are handed out."""
    import uvicorn

    home.mkdir(parents=True, exist_ok=True)
    app = build_app(Settings(home=home, database_url=database_url, jwt_secret=JWT_SECRET,
                             bootstrap_password=ADMIN_PASSWORD), parallelism=4)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve(sockets=[sock])

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        assert type(app.state.context.auth) is AuthService, "the fuzzers need the real auth"
        for fake in FAKE_TOKENS:
            refused = httpx.get(f"{url}/api/v2/dags", timeout=30,
                                headers={"Authorization": f"Bearer {fake}"})
            assert refused.status_code == 403, f"a test double's token worked: {refused.text}"
        admin = login(url, "admin", ADMIN_PASSWORD)
        made = httpx.post(f"{url}/api/leoflow/users", timeout=30,
                          headers={"Authorization": f"Bearer {admin}"},
                          json={"username": VIEWER, "password": VIEWER_PASSWORD,
                                "role": "Viewer"})
        assert made.status_code == 201, made.text
        live = LiveApi(url=url, app=app, loop=loops[0], admin=admin,
                       viewer=login(url, VIEWER, VIEWER_PASSWORD),
                       spare_admin=[])
        auth = app.state.context.auth
        live.spare_admin = [live.run(auth.issue(Principal("admin", "Admin")))
                            for _ in range(spare_tokens)]
        if seed is not None:
            live.run(seed(app.state.plane))
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


def garbage_tokens() -> st.SearchStrategy[str]:
    """Tokens the real service must refuse (403, or 401 when expired), never 5xx: random
    text, an API-token look-alike (looked up in the store), JWTs signed with another key or
    with none, an expired one and one of a user that does not exist (both properly signed)."""
    signer = AccessTokens(JWT_SECRET)
    now = datetime.now(UTC)
    expired, _ = signer.issue(Principal("admin", "Admin"), now=now - timedelta(days=2),
                              lifetime=timedelta(hours=1))
    ghost, _ = signer.issue(Principal("nobody-here", "Admin"), now=now,
                            lifetime=timedelta(hours=1))
    forged, _ = AccessTokens("another-key-" * 4).issue(
        Principal("admin", "Admin"), now=now, lifetime=timedelta(hours=1))
    unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJBZG1pbiJ9."
    alphabet = string.ascii_letters + string.digits + "-_.~+/=%"
    return st.one_of(st.sampled_from([expired, ghost, forged, unsigned]),
                     st.text(alphabet, min_size=1, max_size=200),
                     st.text(alphabet, max_size=60).map(lambda s: "lfat_" + s))


def headers_for(live: LiveApi, kind: str, junk: str, path: str) -> dict[str, str]:
    """The credentials of one request. The logout route revokes the token it is given:
    there each request spends a token of its own (minted by the real service)."""
    if kind in ("none", "garbage"):
        return {"Authorization": f"Bearer {junk}"} if kind == "garbage" else {}
    if path == LOGOUT:
        assert live.spare_admin, "more logout examples than spare tokens"
        token = live.spare_admin.pop()
    else:
        token = live.viewer if kind == "viewer" else live.admin
    if kind == "cookie":  # the admin's session cookie, sent without this server's Origin
        return {"Cookie": f"{TOKEN_COOKIE}={token}"}
    return {"Authorization": f"Bearer {token}"}


def _depends_on(dependant: Any, target: Callable[..., Any]) -> bool:
    return any(d.call is target or _depends_on(d, target) for d in dependant.dependencies)


def _routes(routes: Sequence[Any]) -> Iterator[Any]:
    """The API routes of an app, also inside the included routers that FastAPI >= 0.165
    keeps as such (``_IncludedRouter.original_router``; none is included with a prefix)."""
    for route in routes:
        if getattr(route, "dependant", None) is not None:
            yield route
        elif getattr(route, "original_router", None) is not None:
            yield from _routes(route.original_router.routes)


def protected(app: Any) -> dict[tuple[str, str], bool]:
    """Whether each (METHOD, path) asks for a principal (depends on ``current_principal``)."""
    return {(method, route.path_format): _depends_on(route.dependant, current_principal)
            for route in _routes(app.routes) for method in route.methods}


@dataclass
class FuzzReport:
    operations: int = 0
    requests: int = 0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        by_kind: dict[str, Counter[int]] = {}
        for (kind, status), count in sorted(self.statuses.items()):
            by_kind.setdefault(kind, Counter())[status] += count
        kinds = "; ".join(f"{kind}: " + ", ".join(f"{s}x{n}" for s, n in sorted(c.items()))
                          for kind, c in by_kind.items())
        return (f"{self.operations} operations, {self.requests} requests in "
                f"{self.seconds:.1f} s, {len(self.failures)} violations ({kinds})")


def fuzz(live: LiveApi, operations: Sequence[Any], *, examples: int,
         other_examples: int) -> FuzzReport:
    """Each operation as the admin with valid and with invalid data (``examples`` each),
    then with valid data under the other credentials (``other_examples``); bounded and
    derandomized Hypothesis runs (the pytest plugin's lazy fixtures do not run here)."""
    report = FuzzReport(operations=len(operations))
    guarded = protected(live.app)
    unknown = {(op.method.upper(), op.path) for op in operations} - set(guarded)
    assert not unknown, f"routes not found in the app (cannot tell who may call): {unknown}"
    junk = garbage_tokens()
    started = time.monotonic()

    def check(case: Any, kind: str, response: Any) -> None:
        report.requests += 1
        status = response.status_code
        report.statuses[(kind, status)] += 1
        where = (f"[{kind}] {case.method} {case.formatted_path} {case.query} "
                 f"{str(case.body)[:200]} -> {status}: {response.text[:200]}")
        if status >= 500:
            report.failures.append(where)
        elif kind == "admin" and status in (401, 403) and _detail(response) in REFUSALS:
            report.failures.append("the admin's token stopped working: " + where)
        elif guarded[(case.method.upper(), case.operation.path)] and status < 400 and (
                kind in ("none", "garbage") or (kind == "cookie" and case.method.upper()
                                                 in UNSAFE)):
            report.failures.append("answered without valid credentials: " + where)

    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE,
                     schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(mode))
            @settings(max_examples=examples, derandomize=True, deadline=None,
                      database=None, suppress_health_check=list(HealthCheck))
            def as_admin(case: Any) -> None:
                headers = headers_for(live, "admin", "", case.operation.path)
                check(case, "admin", case.call(base_url=live.url, timeout=30,
                                               headers=headers))

            with contextlib.suppress(Unsatisfiable):  # no invalid input exists
                as_admin()

        @given(case=operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
               kind=st.sampled_from(OTHER_KINDS), token=junk)
        @settings(max_examples=other_examples, derandomize=True, deadline=None,
                  database=None, suppress_health_check=list(HealthCheck))
        def as_others(case: Any, kind: str, token: str) -> None:
            headers = headers_for(live, kind, token, case.operation.path)
            check(case, kind, case.call(base_url=live.url, timeout=30, headers=headers))

        with contextlib.suppress(Unsatisfiable):
            as_others()
    report.seconds = time.monotonic() - started
    return report


def _detail(response: Any) -> Any:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) else None
