"""Logging in, tokens and their expiry, revocation, and login rate limiting: Airflow 3's
simple-auth answers (AIRFLOW-COMPAT.md §1.1)."""

from __future__ import annotations

import jwt
import pytest

from leoflow.engine.auth.permissions import Principal
from tests.integration.api_auth.harness import ADMIN_PASSWORD, USER_PASSWORD, ApiHarness

ME = "/api/v2/variables"  # any route that needs READ


async def login(api: ApiHarness, username: str = "admin", password: str = ADMIN_PASSWORD,
                path: str = "/auth/token", **kwargs):
    return await api.client(**kwargs).post(path, json={"username": username,
                                                       "password": password})


async def test_login_answers_201_with_a_working_token(api: ApiHarness) -> None:
    answer = await login(api)
    assert answer.status_code == 201
    token = answer.json()["access_token"]
    assert (await api.client(token).get(ME)).status_code == 200


async def test_login_accepts_a_form_body(api: ApiHarness) -> None:
    answer = await api.client().post("/auth/token",
                                     data={"username": "admin", "password": ADMIN_PASSWORD})
    assert answer.status_code == 201 and answer.json()["access_token"]


async def test_wrong_password_and_unknown_user_are_401_invalid_credentials(
        api: ApiHarness) -> None:
    for username, password in (("admin", "wrong-password"), ("nobody", ADMIN_PASSWORD),
                               ("", ""), ("a\x00b", "x")):
        answer = await login(api, username, password)
        assert answer.status_code == 401, (username, answer.text)
        assert answer.json() == {"detail": "Invalid credentials"}


@pytest.mark.parametrize("body", [{"username": "admin"}, {"password": "x"}, {}, [], "text",
                                  {"username": 1, "password": "x"}])
async def test_missing_or_malformed_fields_are_422(api: ApiHarness, body: object) -> None:
    answer = await api.client().post("/auth/token", json=body)
    assert answer.status_code == 422
    assert isinstance(answer.json()["detail"], list)


async def test_invalid_json_is_422(api: ApiHarness) -> None:
    answer = await api.client().post("/auth/token", content=b"{not json",
                                     headers={"Content-Type": "application/json"})
    assert answer.status_code == 422


async def test_claims_and_expiry(api: ApiHarness) -> None:
    token = (await login(api)).json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == {"sub", "role", "tenant", "jti", "gen", "iat", "nbf", "exp", "aud"}
    assert (claims["sub"], claims["role"], claims["tenant"]) == ("admin", "Admin", "default")
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert jwt.get_unverified_header(token)["alg"] == "HS256"

    cli = (await login(api, path="/auth/token/cli")).json()["access_token"]
    cli_claims = jwt.decode(cli, options={"verify_signature": False})
    assert cli_claims["exp"] - cli_claims["iat"] > claims["exp"] - claims["iat"]

    api.clock.advance(24 * 3600 - 60)
    assert (await api.client(token).get(ME)).status_code == 200
    api.clock.advance(3600)
    expired = await api.client(token).get(ME)
    assert expired.status_code == 401
    assert expired.json() == {"detail": "Token Expired"}
    assert (await api.client(cli).get(ME)).status_code == 200


async def test_missing_token_is_401_and_bad_token_is_403(api: ApiHarness) -> None:
    missing = await api.client().get(ME)
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Not authenticated"}

    good = (await login(api)).json()["access_token"]
    forged = jwt.encode({**jwt.decode(good, options={"verify_signature": False})},
                        "another-secret-another-secret-12", algorithm="HS256")
    unsigned = jwt.encode(jwt.decode(good, options={"verify_signature": False}), None,
                          algorithm="none")
    head, payload, signature = good.split(".")
    tampered = ".".join((head, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"),
                         signature))
    for token in ("garbage", forged, unsigned, tampered, "lfat_unknown-api-token"):
        answer = await api.client(token).get(ME)
        assert answer.status_code == 403, token
        assert answer.json() == {"detail": "Invalid JWT token"}


async def test_token_of_another_audience_is_refused(api: ApiHarness) -> None:
    other = api.auth.tokens.__class__(api.auth.tokens._secret, audience="apache-airflow")
    token, _ = other.issue(Principal("admin", "Admin", "default"), now=api.clock.now(),
                           lifetime=__import__("datetime").timedelta(hours=1))
    assert (await api.client(token).get(ME)).status_code == 403


async def test_cookie_is_accepted_and_the_header_wins(api: ApiHarness) -> None:
    token = (await login(api)).json()["access_token"]
    client = api.client()
    client.cookies.set("_token", token)
    assert (await client.get(ME)).status_code == 200
    header_wins = await client.get(ME, headers={"Authorization": "Bearer garbage"})
    assert header_wins.status_code == 403


async def test_logout_revokes_the_token_and_clears_the_cookie(api: ApiHarness) -> None:
    token = (await login(api)).json()["access_token"]
    other = (await login(api)).json()["access_token"]
    client = api.client(token)
    answer = await client.get("/api/v2/auth/logout", follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"] == "/auth/login"
    assert '_token=""' in answer.headers["set-cookie"]
    revoked = await api.client(token).get(ME)
    assert revoked.status_code == 403
    assert revoked.json() == {"detail": "Invalid JWT token"}
    assert (await api.client(other).get(ME)).status_code == 200  # only the presented one
    # The revocation is in the store: a second service on the same store refuses it too.
    from tests.integration.api_auth.harness import cheap_passwords

    twin = api.auth.__class__(api.store, api.auth.config, secret=api.auth.tokens._secret,
                              cipher=api.auth.cipher, passwords=cheap_passwords(),
                              clock=api.clock.now)
    with pytest.raises(Exception, match="Invalid JWT token"):
        await twin.principal(token)


async def test_login_page_and_redirects(api: ApiHarness) -> None:
    page = await api.client().get("/auth/login")
    assert page.status_code == 200 and "/auth/token" in page.text
    redirect = await api.client().get("/api/v2/auth/login", params={"next": "/dags"},
                                      follow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "/auth/login?next=%2Fdags"
    offsite = await api.client().get("/api/v2/auth/login",
                                     params={"next": "https://evil.example/"},
                                     follow_redirects=False)
    assert offsite.headers["location"] == "/auth/login?next=%2F"


async def test_role_and_tenant_come_from_the_store_not_the_token(api: ApiHarness) -> None:
    await api.user("carol", "Op")
    token = (await login(api, "carol", USER_PASSWORD)).json()["access_token"]
    body = {"key": "k", "value": "v"}
    assert (await api.client(token).post(ME, json=body)).status_code == 201
    await api.auth.users.update_user(Principal("admin", "Admin", "default"), "carol",
                                     role="Viewer")
    assert (await api.client(token).post(ME, json={**body, "key": "k2"})).status_code == 403
    await api.auth.users.delete_user(Principal("admin", "Admin", "default"), "carol")
    assert (await api.client(token).get(ME)).status_code == 403


# -- rate limiting -------------------------------------------------------------------------

async def test_repeated_failures_of_a_username_from_an_address_are_429_then_recover(
        api: ApiHarness) -> None:
    address = ("10.0.0.1", 4000)
    for _attempt in range(5):
        answer = await login(api, "admin", "wrong", client_address=address)
        assert answer.status_code == 401
    limited = await login(api, "admin", ADMIN_PASSWORD, client_address=address)
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])
    assert 0 < retry_after <= 300
    # Another username from the same address is not affected, nor admin from elsewhere
    # (tests/integration/api_auth/test_web_hardening.py: nobody can lock admin out).
    await api.user("dave", "Viewer")
    assert (await login(api, "dave", USER_PASSWORD, client_address=address)).status_code == 201
    assert (await login(api, "admin", ADMIN_PASSWORD,
                        client_address=("10.0.1.1", 1))).status_code == 201

    api.clock.advance(retry_after)
    assert (await login(api, "admin", ADMIN_PASSWORD, client_address=address)).status_code \
        == 201


async def test_repeated_failures_from_an_address_are_429(api: ApiHarness) -> None:
    address = ("192.0.2.7", 1234)
    for number in range(20):
        answer = await login(api, f"guess{number}", "wrong", client_address=address)
        assert answer.status_code == 401
    assert (await login(api, "admin", ADMIN_PASSWORD,
                        client_address=address)).status_code == 429
    assert (await login(api, "admin", ADMIN_PASSWORD,
                        client_address=("192.0.2.8", 1))).status_code == 201
    api.clock.advance(301)
    assert (await login(api, "admin", ADMIN_PASSWORD,
                        client_address=address)).status_code == 201


async def test_successful_logins_do_not_count_and_clear_the_username(
        api: ApiHarness) -> None:
    for _ in range(4):
        assert (await login(api, "admin", "wrong")).status_code == 401
    assert (await login(api)).status_code == 201
    for _ in range(10):  # many good logins from one address (CI) are fine
        assert (await login(api)).status_code == 201
    for _ in range(4):
        assert (await login(api, "admin", "wrong",
                            client_address=("198.51.100.1", 1))).status_code == 401
    assert (await login(api, client_address=("198.51.100.2", 1))).status_code == 201


def test_the_limiter_memory_is_bounded() -> None:
    from leoflow.engine.auth.ratelimit import LoginRateLimiter

    limiter = LoginRateLimiter(max_keys=100, monotonic=lambda: 5.0)
    for number in range(1000):
        limiter.attempt(f"user{number}", f"addr{number}")
    assert len(limiter) == 100
