"""Attacks on the web face, performed through the real API and ``AuthService``
(docs/security.md, "Web and auth"): forged cookie writes, open redirects after login,
locking someone else out, oversized bodies and fields, another tenant starving the pools,
and tokens that outlive their user or password.

The browser-level versions (a page of another origin in Chromium, a 100 MB push to a real
server) are in tests/e2e/browser/test_web_attacks.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import jwt
import pytest

from leoflow.engine.api import create_api
from leoflow.engine.auth.permissions import Principal
from leoflow.engine.auth.ratelimit import LoginRateLimiter
from leoflow.engine.auth.redirects import safe_next
from leoflow.ide.session import safe_next as ide_safe_next
from tests.integration.api_auth.harness import (
    ADMIN_PASSWORD,
    BASE_URL,
    OPERATOR,
    USER_PASSWORD,
    ApiHarness,
)

ME = "/api/v2/variables"
SAME_ORIGIN = BASE_URL  # the harness's Host is "testserver"
OTHER_PORT = "http://testserver:9999"


async def login(api: ApiHarness, username: str = "admin", password: str = ADMIN_PASSWORD,
                address: str = "127.0.0.1", **headers: str) -> httpx.Response:
    client = api.client(client_address=(address, 40000))
    return await client.post("/auth/token", json={"username": username, "password": password},
                             headers=headers)


async def cookie_client(api: ApiHarness) -> httpx.AsyncClient:
    """A client holding the admin's ``_token`` cookie and no Authorization header, as a
    logged-in browser."""
    token = (await login(api)).json()["access_token"]
    client = api.client()
    client.cookies.set("_token", token)
    return client


# -- 8. cross-site request forgery ------------------------------------------------------------

async def test_a_cookie_write_from_another_origin_is_refused(api: ApiHarness) -> None:
    client = await cookie_client(api)
    body = {"key": "planted", "value": "x"}
    for headers in ({"Origin": OTHER_PORT}, {"Origin": "null"},
                    {"Referer": OTHER_PORT + "/attack.html"}, {}):
        answer = await client.post(ME, json=body, headers=headers)
        assert answer.status_code == 403, (headers, answer.text)
        assert "Origin" in answer.json()["detail"] or "Referer" in answer.json()["detail"]
    # a form or no-cors fetch posts text/plain: refused even from the right origin
    forged = await client.post(ME, content=b'{"key": "planted", "value": "x"}',
                               headers={"Origin": SAME_ORIGIN, "Content-Type": "text/plain"})
    assert forged.status_code == 415, forged.text
    assert (await client.get(f"{ME}/planted")).status_code == 404  # nothing was written
    # deletes and pushes are writes too
    pushed = await client.post("/api/leoflow/dags", content=b"{}",
                               headers={"Origin": OTHER_PORT, "Content-Type": "text/plain"})
    assert pushed.status_code == 403


async def test_a_cookie_write_from_this_server_and_header_clients_still_work(
        api: ApiHarness) -> None:
    client = await cookie_client(api)
    made = await client.post(ME, json={"key": "a", "value": "1"},
                             headers={"Origin": SAME_ORIGIN})
    assert made.status_code == 201, made.text
    by_referer = await client.post(ME, json={"key": "b", "value": "1"},
                                   headers={"Referer": SAME_ORIGIN + "/variables"})
    assert by_referer.status_code == 201, by_referer.text
    assert (await client.get(f"{ME}/a")).status_code == 200  # reads need no Origin
    # An API client with a bearer header is not a browser: no Origin needed, any Origin ok.
    bearer = await api.client_for("Admin")
    assert (await bearer.post(ME, json={"key": "c", "value": "1"})).status_code == 201
    assert (await bearer.delete(f"{ME}/c", headers={"Origin": OTHER_PORT})).status_code == 204


async def test_login_sets_an_httponly_strict_cookie_only_for_this_servers_page(
        api: ApiHarness) -> None:
    answer = await login(api, Origin=SAME_ORIGIN)
    assert answer.status_code == 201
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith("_token=") and "httponly" in cookie
    assert "samesite=strict" in cookie and "path=/" in cookie
    foreign = await login(api, Origin=OTHER_PORT)
    assert foreign.status_code == 201 and "set-cookie" not in foreign.headers
    assert "set-cookie" not in (await login(api)).headers  # API clients: body only


# -- 12a. open redirect after login -----------------------------------------------------------

EVIL_NEXT = ["/\\evil.example", "//evil.example", "/\\\\evil.example", "\\\\evil.example",
             "https://evil.example/", "http:evil.example", "javascript:alert(1)",
             "/\t/evil.example", "/\n/evil.example", " //evil.example", "///evil.example",
             "/\\/evil.example", "evil.example", "//evil.example@x", "/" + "a" * 3000]


@pytest.mark.parametrize("target", EVIL_NEXT)
async def test_next_never_leaves_the_server(api: ApiHarness, target: str) -> None:
    assert safe_next(target) == "/"
    assert ide_safe_next(target) == "/"
    redirect = await api.client().get("/api/v2/auth/login", params={"next": target},
                                      follow_redirects=False)
    assert redirect.headers["location"] == "/auth/login?next=%2F"
    page = await api.client().get("/auth/login", params={"next": target})
    assert 'new URL("/", location.origin)' in page.text
    assert "evil" not in page.text


@pytest.mark.parametrize("target", ["/dags", "/dags/x?run_id=a%2Fb&tab=logs", "/a/b#c",
                                    "/%2F/evil.example"])
async def test_next_keeps_a_path_on_this_server(api: ApiHarness, target: str) -> None:
    assert safe_next(target) == ide_safe_next(target) == target


# -- 12b. lock-out ----------------------------------------------------------------------------

async def test_an_attacker_cannot_lock_the_admin_out_from_elsewhere(api: ApiHarness) -> None:
    for _ in range(5):
        assert (await login(api, password="guess", address="203.0.113.66")).status_code == 401
    locked = await login(api, address="203.0.113.66")
    assert locked.status_code == 429
    assert 290 <= int(locked.headers["Retry-After"]) <= 300
    # the admin, from their own address, logs in at once
    assert (await login(api, address="198.51.100.10")).status_code == 201
    # and the attacker's lock is not lifted by that
    assert (await login(api, address="203.0.113.66")).status_code == 429


async def test_each_new_lock_lasts_twice_as_long(api: ApiHarness) -> None:
    waits = []
    for _ in range(3):
        for _ in range(5):
            assert (await login(api, password="guess", address="203.0.113.7")).status_code \
                == 401
        locked = await login(api, address="203.0.113.7")
        assert locked.status_code == 429
        waits.append(int(locked.headers["Retry-After"]))
        api.clock.advance(waits[-1])
    assert waits == [300, 600, 1200]
    # quiet for a whole window after the lock: forgotten
    api.clock.advance(301)
    assert (await login(api, address="203.0.113.7")).status_code == 201


async def test_one_address_trying_many_accounts_is_locked(api: ApiHarness) -> None:
    await api.user("erin", "Viewer")
    for number in range(20):
        answer = await login(api, f"guess{number}", "wrong", address="192.0.2.9")
        assert answer.status_code == 401, number
    assert (await login(api, "erin", USER_PASSWORD, address="192.0.2.9")).status_code == 429
    assert (await login(api, "erin", USER_PASSWORD, address="192.0.2.10")).status_code == 201


def test_a_correct_fifth_attempt_does_not_lock() -> None:
    now = [10.0]
    limiter = LoginRateLimiter(max_failures=5, monotonic=lambda: now[0])
    for _ in range(4):
        limiter.attempt("admin", "a")
    fifth = limiter.attempt("admin", "a")  # counted as failed while it runs...
    assert limiter.retry_after("admin", "a") is not None
    limiter.succeeded("admin", "a", fifth)  # ...and forgiven when it succeeds
    assert limiter.retry_after("admin", "a") is None


# -- 12c. sizes -------------------------------------------------------------------------------

@pytest.fixture
async def small_api(api: ApiHarness) -> AsyncIterator[httpx.AsyncClient]:
    app = create_api(api.app.state.context, max_request_bytes=4096)
    token = await api.token_for("Op")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


async def test_a_body_over_the_limit_is_413_declared_or_streamed(
        small_api: httpx.AsyncClient) -> None:
    big = b'{"key": "k", "value": "' + b"x" * 10_000 + b'"}'
    declared = await small_api.post(ME, content=big,
                                    headers={"Content-Type": "application/json"})
    assert declared.status_code == 413
    assert "LEOFLOW_MAX_REQUEST_BYTES" in declared.json()["detail"]

    chunks_sent = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        for start in range(0, len(big), 1000):
            chunks_sent += 1
            yield big[start:start + 1000]

    streamed = await small_api.post("/api/leoflow/dags", content=stream(),
                                    headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert "4096 bytes" in streamed.json()["detail"]
    small = await small_api.post(ME, json={"key": "k", "value": "v"})
    assert small.status_code == 201


async def test_field_limits(api: ApiHarness) -> None:
    client = await api.client_for("Op")
    huge = await client.post(ME, json={"key": "big", "value": "x" * (1024 * 1024 + 1)})
    assert huge.status_code == 422 and "value" in huge.json()["detail"]
    assert (await client.post(ME, json={"key": "ok", "value": "x" * 1000})).status_code == 201
    patched = await client.patch(f"{ME}/ok", json={"key": "ok", "value": "y" * (2 << 20)})
    assert patched.status_code == 422
    described = await client.post(ME, json={"key": "d", "value": "v",
                                            "description": "d" * 5001})
    assert described.status_code == 400 and "description" in described.text
    connection = await client.post("/api/v2/connections", json={
        "connection_id": "c", "conn_type": "http", "password": "p" * (64 * 1024 + 1)})
    assert connection.status_code == 400 and "password" in connection.text
    admin = await api.client_for("Admin")
    pool = await admin.post("/api/v2/pools", json={"name": "p", "slots": 1,
                                                   "description": "d" * 5001})
    assert pool.status_code == 422


# -- 12d. pools across tenants ----------------------------------------------------------------

async def test_another_tenants_op_cannot_starve_the_shared_pools(api: ApiHarness) -> None:
    before = (await (await api.client_for("Viewer")).get("/api/v2/pools/default_pool")).json()
    for role in ("Op", "Admin"):
        intruder = await api.client_for(role, "tenant-b")
        starved = await intruder.patch("/api/v2/pools/default_pool", json={"slots": 0})
        assert starved.status_code == 403, (role, starved.text)
        assert "operator" in starved.json()["detail"]
        assert (await intruder.post("/api/v2/pools",
                                    json={"name": f"b-{role}", "slots": 0})).status_code == 403
        assert (await intruder.get("/api/v2/pools/default_pool")).status_code == 200
    after = (await (await api.client_for("Viewer")).get("/api/v2/pools/default_pool")).json()
    assert after["slots"] == before["slots"] == 128
    operator = await api.client_for("Op")  # an Op of the operator's tenant still may
    changed = await operator.patch("/api/v2/pools/default_pool", json={"slots": 64})
    assert changed.status_code == 200 and changed.json()["slots"] == 64


# -- 12e. tokens bound to the user's credentials ----------------------------------------------

async def test_a_token_of_a_deleted_user_does_not_come_back_with_the_name(
        api: ApiHarness) -> None:
    await api.user("carol", "Op")
    old = (await login(api, "carol", USER_PASSWORD)).json()["access_token"]
    assert (await api.client(old).get(ME)).status_code == 200
    await api.auth.users.delete_user(OPERATOR, "carol")
    assert (await api.client(old).get(ME)).status_code == 403
    # the name is given to someone else (same password even): the old token stays dead
    await api.auth.users.create_user(OPERATOR, "carol", USER_PASSWORD, "Admin")
    reused = await api.client(old).get(ME)
    assert reused.status_code == 403 and reused.json() == {"detail": "Invalid JWT token"}
    fresh = (await login(api, "carol", USER_PASSWORD)).json()["access_token"]
    assert (await api.client(fresh).get(ME)).status_code == 200


async def test_a_password_change_ends_the_tokens_issued_before(api: ApiHarness) -> None:
    await api.user("dan", "Viewer")
    before = (await login(api, "dan", USER_PASSWORD)).json()["access_token"]
    cli = (await api.client(client_address=("127.0.0.1", 1)).post(
        "/auth/token/cli", json={"username": "dan", "password": USER_PASSWORD})
           ).json()["access_token"]
    await api.auth.users.update_user(OPERATOR, "dan", role="User")  # not the password
    assert (await api.client(before).get(ME)).status_code == 200
    admin = await api.client_for("Admin")
    changed = await admin.patch("/api/leoflow/users/dan", json={"password": "a-new-password"})
    assert changed.status_code == 200, changed.text
    for token in (before, cli):
        assert (await api.client(token).get(ME)).status_code == 403
    assert (await login(api, "dan", USER_PASSWORD)).status_code == 401
    after = (await login(api, "dan", "a-new-password")).json()["access_token"]
    assert (await api.client(after).get(ME)).status_code == 200


async def test_the_generation_claim_is_required_and_signed(api: ApiHarness) -> None:
    token = (await login(api)).json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["gen"] and "argon2" not in claims["gen"]
    secret = api.auth.tokens._secret
    without = jwt.encode({k: v for k, v in claims.items() if k != "gen"}, secret)
    wrong = jwt.encode({**claims, "gen": "x"}, secret)
    for forged in (without, wrong):
        assert (await api.client(forged).get(ME)).status_code == 403
    with pytest.raises(Exception, match="Invalid credentials"):
        await api.auth.issue(Principal("nobody", "Admin", "default"))
