"""What the auth layer needs from the settings, and the keys it signs and encrypts with.

The engine does not import ``leoflow.app``; ``AuthConfig.from_settings`` reads the fields of
any settings object (``leoflow.app.settings.Settings``), with the documented defaults.

Key material:

* The JWT signing secret comes from ``jwt_secret`` (``LEOFLOW_JWT_SECRET``). In production
  (``LEOFLOW_PRODUCTION=1``) it is required, must be at least 32 characters and must not be a
  well-known placeholder, else ``AuthConfigError``. Outside production an unset secret is
  generated once into ``$LEOFLOW_HOME/jwt_secret`` (mode 0600), so tokens survive restarts.
* The Fernet key(s) come from ``fernet_key`` (``LEOFLOW_FERNET_KEY``; comma-separated keys
  rotate: the first encrypts, all decrypt), else one is generated once into
  ``$LEOFLOW_HOME/fernet.key`` (mode 0600). Losing that file makes stored connection
  passwords unreadable: production deployments should set the key explicitly.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from leoflow.engine.auth.errors import AuthConfigError

log = logging.getLogger("leoflow.auth")

MIN_SECRET_LENGTH = 32
JWT_SECRET_FILE = "jwt_secret"
FERNET_KEY_FILE = "fernet.key"
# Values found in tutorials and sample configs: a token signed with one of these can be
# forged by anyone, whatever its length.
_PLACEHOLDERS = ("changeme", "change-me", "change_me", "changethis", "secret", "password",
                 "leoflow", "airflow", "default", "example", "jwt_secret", "jwtsecret",
                 "your-secret", "your_secret", "yoursecret", "replace-me", "replaceme", "xxx")


@dataclass(frozen=True)
class AuthConfig:
    """The auth settings, resolved (see ``leoflow.app.settings.Settings`` for each)."""

    home: Path
    production: bool = False
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_algorithm: str = "HS256"
    jwt_expiration: int = 24 * 3600
    jwt_cli_expiration: int = 7 * 24 * 3600
    jwt_audience: str = "leoflow"
    fernet_key: str | None = field(default=None, repr=False)
    bootstrap_password: str | None = field(default=None, repr=False)
    login_max_failures: int = 5
    login_failure_window: int = 300
    login_address_max_failures: int = 20
    trusted_origins: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> AuthConfig:
        defaults = cls(home=Path(settings.home))
        values = {name: getattr(settings, name, getattr(defaults, name))
                  for name in cls.__dataclass_fields__ if name != "home"}
        return cls(home=Path(settings.home), **values)


def weak_secret_reason(secret: str | None) -> str | None:
    """Why ``secret`` must not sign tokens in production, or ``None`` when it may."""
    if not secret:
        return "it is not set"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"it has {len(secret)} characters; at least {MIN_SECRET_LENGTH} are required"
    lowered = secret.lower()
    if any(word in lowered for word in _PLACEHOLDERS) and len(set(lowered)) < 20:
        return "it is a well-known placeholder"
    if len(set(secret)) < 8:
        return "it repeats too few distinct characters"
    return None


def check_production(settings: Any) -> None:
    """Raise ``AuthConfigError`` when the settings are in production mode with an unusable
    JWT secret; no side effect, so a server can call it before starting anything."""
    config = settings if isinstance(settings, AuthConfig) else AuthConfig.from_settings(
        settings)
    if config.production:
        jwt_secret(config)


def jwt_secret(config: AuthConfig) -> str:
    """The secret that signs access tokens (see the module docstring)."""
    if config.production:
        secret = config.jwt_secret
        reason = weak_secret_reason(secret)
        if reason or secret is None:  # weak_secret_reason names None "not set"
            raise AuthConfigError(
                f"refusing to start in production mode: LEOFLOW_JWT_SECRET (setting "
                f"jwt_secret) is unusable: {reason}. Set it to a random string of at least "
                f"{MIN_SECRET_LENGTH} characters, e.g. the output of `python -c \"import "
                "secrets; print(secrets.token_urlsafe(48))\"`, the same on every replica")
        return secret
    if config.jwt_secret:
        if weak_secret_reason(config.jwt_secret):
            log.warning("LEOFLOW_JWT_SECRET is weak (%s); a production server would refuse it",
                        weak_secret_reason(config.jwt_secret))
        return config.jwt_secret
    return _persisted(config.home / JWT_SECRET_FILE, lambda: secrets.token_urlsafe(48),
                      "JWT signing secret")


def fernet_keys(config: AuthConfig) -> list[str]:
    """The Fernet keys, newest (encrypting) first (see the module docstring)."""
    if config.fernet_key:
        return [k.strip() for k in config.fernet_key.split(",") if k.strip()]
    if config.production:
        log.warning("LEOFLOW_FERNET_KEY is not set: connection secrets are encrypted with a "
                    "key generated into %s; if that file is lost, or differs between "
                    "replicas, they cannot be decrypted", config.home / FERNET_KEY_FILE)
    key = _persisted(config.home / FERNET_KEY_FILE, lambda: Fernet.generate_key().decode(),
                     "Fernet key")
    try:
        Fernet(key.encode())
    except ValueError as exc:
        raise AuthConfigError(f"{config.home / FERNET_KEY_FILE} does not hold a Fernet key; "
                              "restore it from a backup or set LEOFLOW_FERNET_KEY") from exc
    return [key]


def _persisted(path: Path, make: Any, what: str) -> str:
    """Read a generated secret from ``path``, or create it there (0600) exactly once, also
    when several processes start at the same time (``O_EXCL``: the first one wins)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path, what)
    value = make()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(value + "\n")
    log.info("generated a new %s in %s", what, path)
    return value


def _read_secret(path: Path, what: str) -> str:
    for _ in range(50):  # another process may be writing it right now
        try:
            value = path.read_text(encoding="ascii").strip()
        except OSError as exc:
            raise AuthConfigError(f"cannot read the {what} in {path}: {exc.strerror}") from exc
        if value:
            break
        time.sleep(0.01)
    else:
        raise AuthConfigError(f"{path} is empty; delete it to generate a new {what}")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s (%s) is readable by other users (mode %o); run chmod 600 on it",
                    path, what, mode)
    return value
