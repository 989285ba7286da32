"""Key material and production mode: weak JWT secrets refused, generated secrets and Fernet
keys persisted (0600) so that tokens and stored secrets survive a restart."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from leoflow.app.settings import Settings, SettingsError
from leoflow.engine.auth.config import (
    FERNET_KEY_FILE,
    JWT_SECRET_FILE,
    AuthConfig,
    check_production,
    weak_secret_reason,
)
from leoflow.engine.auth.errors import AuthConfigError
from leoflow.engine.auth.permissions import Principal
from tests.integration.api_auth.harness import FakeClock, open_auth

STRONG = "k3J9-vQ2xL7pZ0aR5tY8wE1uI4oP6sD_fG" + "hJ2lZ"


@pytest.mark.parametrize("secret", [None, "", "short", "a" * 40, "changeme" * 5,
                                    "secret-secret-secret-secret-secret!"])
def test_weak_secrets_are_named(secret: str | None) -> None:
    assert weak_secret_reason(secret) is not None


def test_a_random_secret_is_fine() -> None:
    import secrets

    for _ in range(50):
        assert weak_secret_reason(secrets.token_urlsafe(32)) is None
    assert weak_secret_reason(STRONG) is None


@pytest.mark.parametrize("secret", [None, "short", "changeme" * 5])
async def test_production_refuses_a_default_or_short_secret(store, tmp_path: Path,
                                                            secret: str | None) -> None:
    with pytest.raises(AuthConfigError, match="refusing to start in production mode") as caught:
        await open_auth(store, tmp_path, FakeClock(), production=True, jwt_secret=secret)
    assert "LEOFLOW_JWT_SECRET" in str(caught.value)
    assert not (tmp_path / JWT_SECRET_FILE).exists()


async def test_production_accepts_a_strong_secret(store, tmp_path: Path) -> None:
    auth = await open_auth(store, tmp_path, FakeClock(), production=True, jwt_secret=STRONG)
    token = await auth.issue(Principal("admin", "Admin", "default"))
    assert (await auth.principal(token)).username == "admin"
    assert not (tmp_path / JWT_SECRET_FILE).exists()


def test_settings_carry_the_auth_fields(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = Settings.load(env={
        "LEOFLOW_HOME": str(tmp_path), "LEOFLOW_PRODUCTION": "1",
        "LEOFLOW_JWT_SECRET": "short", "LEOFLOW_FERNET_KEY": key,
        "LEOFLOW_JWT_EXPIRATION": "600", "LEOFLOW_BOOTSTRAP_PASSWORD": "pw-pw-pw-pw"})
    assert settings.production is True and settings.jwt_expiration == 600
    assert "short" not in repr(settings) and key not in repr(settings)
    config = AuthConfig.from_settings(settings)
    assert (config.home, config.fernet_key, config.jwt_cli_expiration) == (
        tmp_path, key, 7 * 24 * 3600)
    with pytest.raises(AuthConfigError):
        check_production(settings)
    check_production(Settings.load(env={"LEOFLOW_HOME": str(tmp_path)}))  # not production
    with pytest.raises(SettingsError, match="not a Fernet key"):
        Settings.load(env={"LEOFLOW_HOME": str(tmp_path), "LEOFLOW_FERNET_KEY": "nope"})
    with pytest.raises(SettingsError, match="must be true or false"):
        Settings.load(env={"LEOFLOW_HOME": str(tmp_path), "LEOFLOW_PRODUCTION": "maybe"})
    with pytest.raises(SettingsError, match="jwt_algorithm"):
        Settings.load(env={"LEOFLOW_HOME": str(tmp_path), "LEOFLOW_JWT_ALGORITHM": "none"})


async def test_generated_keys_persist_with_mode_0600(store, tmp_path: Path) -> None:
    clock = FakeClock()
    first = await open_auth(store, tmp_path, clock)
    for name in (JWT_SECRET_FILE, FERNET_KEY_FILE):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600
    token = await first.issue(Principal("admin", "Admin", "default"))
    ciphertext = first.cipher.encrypt("kept")
    # A restart reads the same keys: tokens and stored secrets stay valid.
    second = await open_auth(store, tmp_path, clock)
    assert (await second.principal(token)).username == "admin"
    assert second.cipher.decrypt(ciphertext) == "kept"


async def test_configured_fernet_keys_rotate(store, tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = await open_auth(store, tmp_path, FakeClock(), fernet_key=old)
    stored = before.cipher.encrypt("value")
    after = await open_auth(store, tmp_path, FakeClock(), fernet_key=f"{new},{old}")
    assert after.cipher.decrypt(stored) == "value"
    rotated = after.cipher.rotate(stored)
    only_new = await open_auth(store, tmp_path, FakeClock(), fernet_key=new)
    assert only_new.cipher.decrypt(rotated) == "value"
    assert not (tmp_path / FERNET_KEY_FILE).exists()


async def test_hs512_is_configurable(store, tmp_path: Path) -> None:
    import jwt

    auth = await open_auth(store, tmp_path, FakeClock(), jwt_algorithm="HS512")
    token = await auth.issue(Principal("admin", "Admin", "default"))
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    assert (await auth.principal(token)).role == "Admin"


@pytest.mark.slow
def test_leoflow_server_refuses_to_start_in_production_with_a_weak_secret(
        tmp_path: Path) -> None:
    env = {**os.environ, "LEOFLOW_HOME": str(tmp_path), "LEOFLOW_PRODUCTION": "1",
           "LEOFLOW_JWT_SECRET": "too-short"}
    env.pop("LEOFLOW_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "leoflow.app.server", "--port", "0"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "refusing to start in production mode" in done.stderr
    assert "at least 32" in done.stderr
