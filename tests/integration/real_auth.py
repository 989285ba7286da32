"""The real ``AuthService`` for API suites whose tests name their callers by handles
(``"op-token"``, ``"viewer-token"``...): each handle is a real user in the store with a real
API token (``lfat_<handle>``), checked on every request by the service as a CI token is: the
user's current role and tenant are read from the store, an unknown token is 403.

No test double stands in for the authenticator: ``bearer("op-token")`` sends the API token,
any other string (``"forged"``) is sent as it is and refused by the real service. The
fuzzers go further (JWTs from ``POST /auth/token``): tests/integration/fuzz_harness.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from argon2 import PasswordHasher

from leoflow.engine.auth.api_tokens import API_TOKEN_PREFIX, digest
from leoflow.engine.auth.cipher import SecretCipher
from leoflow.engine.auth.config import AuthConfig
from leoflow.engine.auth.passwords import Passwords
from leoflow.engine.auth.permissions import Principal
from leoflow.engine.auth.service import AuthService
from leoflow.engine.store import Store, users

BOOTSTRAP_PASSWORD = "bootstrap-password-1"
USER_PASSWORD = "a-user-password-1"
JWT_SECRET = "api-suites-" + "jwt-secret-" * 4
FERNET_KEY = "x7mrd0wM7gBSJ0bc3O2cL8QmSC62FpFZpf0hVFuwh2M="


def api_token(handle: str) -> str:
    """The real API token behind a test's handle."""
    return API_TOKEN_PREFIX + handle


def authorization(token: str, handles: Mapping[str, Principal]) -> dict[str, str]:
    """``Authorization`` for a handle (its API token) or for any other string, unchanged."""
    return {"Authorization": f"Bearer {api_token(token) if token in handles else token}"}


def cheap_passwords() -> Passwords:
    """Real argon2id at a test-sized cost (about a millisecond a hash)."""
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def auth_service(store: Store, home: Path) -> AuthService:
    """The real service on ``store`` (what ``AuthService.open`` builds, without the
    bootstrap, which ``enroll`` does): usable from synchronous app factories."""
    config = AuthConfig(home=home, jwt_secret=JWT_SECRET, fernet_key=FERNET_KEY,
                        bootstrap_password=BOOTSTRAP_PASSWORD)
    return AuthService(store, config, secret=JWT_SECRET, cipher=SecretCipher([FERNET_KEY]),
                       passwords=cheap_passwords())


async def enroll(service: AuthService, handles: Mapping[str, Principal]) -> None:
    """The bootstrap admin, then each handle's user and its API token, stored as the
    bootstrap stores its admin (no audit events: the suites count those)."""
    await service.bootstrap_admin(BOOTSTRAP_PASSWORD)
    password_hash = await service.passwords.hash_async(USER_PASSWORD)
    for handle, who in handles.items():
        async with service.store.begin() as conn:
            if await users.get_user(conn, who.username) is None:
                await users.create_user(conn, who.username, password_hash=password_hash,
                                        role=who.role, tenant=who.tenant)
            await users.add_api_token(conn, who.username, digest(api_token(handle)),
                                      description=f"test handle {handle}")
