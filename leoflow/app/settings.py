"""Leoflow's settings: flags win over ``LEOFLOW_*`` environment variables, which win over
the settings file ``$LEOFLOW_HOME/config.toml`` (``~/.leoflow/config.toml``), which wins
over the defaults.

Only the standard library is imported here (``tomllib``), so the CLI can load settings
without slowing down ``leoflow --help``. Adding a setting means adding a field to
``Settings`` and a line to ``_SETTINGS``; loading, precedence and error messages follow.
"""

from __future__ import annotations

import base64
import binascii
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from leoflow.errors import LocatedError

CONFIG_FILE_NAME = "config.toml"
DEFAULT_HOME = Path("~/.leoflow")
LITE_DATABASE_NAME = "leoflow.db"
JWT_ALGORITHMS = ("HS256", "HS384", "HS512")
EXECUTORS = ("subprocess", "kubernetes")


class SettingsError(LocatedError):
    """A settings file or value Leoflow cannot use (points at the file and key)."""


def _string(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{key} must be a non-empty string, got {value!r}", file=source)
    return value.strip()


def _secret(value: Any, source: str, key: str) -> str:
    # Never echo the value: it is a secret.
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{key} must be a non-empty string", file=source)
    return value.strip()


def _bool(value: Any, source: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{key} must be true or false (1/0, yes/no), got {value!r}",
                        file=source)


def _positive_int(value: Any, source: str, key: str) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or number <= 0:
        raise SettingsError(f"{key} must be a positive whole number, got {value!r}",
                            file=source)
    return number


def _origins(value: Any, source: str, key: str) -> tuple[str, ...]:
    """Origins such as ``https://leoflow.example.com`` (a list, or separated by commas)."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    origins = tuple(str(item).strip().rstrip("/") for item in items if str(item).strip())
    for origin in origins:
        scheme, _, rest = origin.partition("://")
        if scheme not in ("http", "https") or not rest or "/" in rest:
            raise SettingsError(f"{key} must list origins such as https://leoflow.example.com "
                                f"(scheme, host and port only), got {origin!r}", file=source)
    return origins


def _jwt_algorithm(value: Any, source: str, key: str) -> str:
    text = _string(value, source, key).upper()
    if text not in JWT_ALGORITHMS:
        raise SettingsError(f"{key} must be one of {', '.join(JWT_ALGORITHMS)}, got {value!r}",
                            file=source)
    return text


def _fernet_keys(value: Any, source: str, key: str) -> str:
    """One Fernet key, or several separated by commas (the first encrypts, all decrypt:
    how keys are rotated, as in Airflow)."""
    text = _secret(value, source, key)
    for number, part in enumerate(text.split(","), start=1):
        try:
            raw = base64.urlsafe_b64decode(part.strip().encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32:
            raise SettingsError(
                f"{key}: key {number} is not a Fernet key (32 url-safe base64-encoded bytes; "
                "make one with `python -c \"from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())\"`)", file=source)
    return text


def _executor(value: Any, source: str, key: str) -> str:
    text = _string(value, source, key).lower()
    text = {"k8s": "kubernetes"}.get(text, text)
    if text not in EXECUTORS:
        raise SettingsError(f"{key} must be one of {', '.join(EXECUTORS)} (or k8s), got "
                            f"{value!r}", file=source)
    return text


@dataclass(frozen=True)
class _Setting:
    """How one field is read: its environment variable and how to parse a raw value."""

    env: str
    parse: Callable[[Any, str, str], Any]


# Field name (also the key in config.toml and in ``overrides``) → how to read it.
_SETTINGS: dict[str, _Setting] = {
    "database_url": _Setting(env="LEOFLOW_DATABASE_URL", parse=_string),
    # Authentication and secrets (docs/auth.md).
    "production": _Setting(env="LEOFLOW_PRODUCTION", parse=_bool),
    "jwt_secret": _Setting(env="LEOFLOW_JWT_SECRET", parse=_secret),
    "jwt_algorithm": _Setting(env="LEOFLOW_JWT_ALGORITHM", parse=_jwt_algorithm),
    "jwt_expiration": _Setting(env="LEOFLOW_JWT_EXPIRATION", parse=_positive_int),
    "jwt_cli_expiration": _Setting(env="LEOFLOW_JWT_CLI_EXPIRATION", parse=_positive_int),
    "fernet_key": _Setting(env="LEOFLOW_FERNET_KEY", parse=_fernet_keys),
    "bootstrap_password": _Setting(env="LEOFLOW_BOOTSTRAP_PASSWORD", parse=_secret),
    "login_max_failures": _Setting(env="LEOFLOW_LOGIN_MAX_FAILURES", parse=_positive_int),
    "login_failure_window": _Setting(env="LEOFLOW_LOGIN_FAILURE_WINDOW", parse=_positive_int),
    "login_address_max_failures": _Setting(env="LEOFLOW_LOGIN_ADDRESS_MAX_FAILURES",
                                           parse=_positive_int),
    "max_request_bytes": _Setting(env="LEOFLOW_MAX_REQUEST_BYTES", parse=_positive_int),
    "trusted_origins": _Setting(env="LEOFLOW_TRUSTED_ORIGINS", parse=_origins),
    # Pro (docs/deploy.md): Redis for XCom and live logs, the executor, Kubernetes, HA.
    "redis_url": _Setting(env="LEOFLOW_REDIS_URL", parse=_secret),
    "executor": _Setting(env="LEOFLOW_EXECUTOR", parse=_executor),
    "grpc_advertise_address": _Setting(env="LEOFLOW_GRPC_ADVERTISE_ADDRESS", parse=_string),
    "k8s_namespace": _Setting(env="LEOFLOW_K8S_NAMESPACE", parse=_string),
    "k8s_context": _Setting(env="LEOFLOW_K8S_CONTEXT", parse=_string),
    "k8s_pod_gc_delay": _Setting(env="LEOFLOW_K8S_POD_GC_DELAY", parse=_positive_int),
    "replica_id": _Setting(env="LEOFLOW_REPLICA_ID", parse=_string),
}


def lite_database_url(home: Path) -> str:
    """The default metadata database: the Lite SQLite file in the Leoflow home."""
    return f"sqlite+aiosqlite:///{(home / LITE_DATABASE_NAME).as_posix()}"


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build them with ``Settings.load()``.

    ``home`` is the Leoflow home (settings file, Lite database, per-DAG venvs, logs).
    ``database_url`` is an SQLAlchemy URL (``sqlite+aiosqlite:///...`` or
    ``postgresql+asyncpg://...``).

    Authentication (docs/auth.md): ``production`` makes the server refuse a missing, default
    or short ``jwt_secret``; without it, an unset secret is generated once into the home.
    ``jwt_expiration`` / ``jwt_cli_expiration`` are access-token lifetimes in seconds (from
    ``POST /auth/token`` and ``POST /auth/token/cli``). ``fernet_key`` encrypts connection
    passwords and extras and variable values at rest (generated into the home when unset).
    ``bootstrap_password`` creates the first admin, ``admin``, when there is none. A username
    is refused from one client address for a while after ``login_max_failures`` failed
    logins from there within ``login_failure_window`` seconds, an address after
    ``login_address_max_failures`` (any usernames); each new lock lasts twice as long.
    ``max_request_bytes`` bounds a request body (413 beyond it). ``trusted_origins`` are
    the browser origins, besides the request's own ``Host``, whose pages may write with the
    ``_token`` cookie (behind a proxy that rewrites ``Host``). Secrets are kept out of
    ``repr``.

    Pro (docs/deploy.md): ``redis_url`` moves XCom and live-log fan-out to Redis.
    ``executor`` is ``subprocess`` (one agent process per try) or ``kubernetes`` (one pod per
    try, in ``k8s_namespace`` — default: the server's own namespace in a cluster, else
    ``default`` — through the kubeconfig context ``k8s_context`` or the in-cluster account);
    finished pods are deleted ``k8s_pod_gc_delay`` seconds after they end.
    ``grpc_advertise_address`` is the ``host:port`` agents dial to reach the agent service
    (a Service name in a cluster; default: where it listens). ``replica_id`` names this server
    replica in leader election (default: host name and process id).
    """

    home: Path
    database_url: str
    production: bool = False
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_algorithm: str = "HS256"
    jwt_expiration: int = 24 * 3600
    jwt_cli_expiration: int = 7 * 24 * 3600
    fernet_key: str | None = field(default=None, repr=False)
    bootstrap_password: str | None = field(default=None, repr=False)
    login_max_failures: int = 5
    login_failure_window: int = 300
    login_address_max_failures: int = 20
    max_request_bytes: int = 32 * 1024 * 1024
    trusted_origins: tuple[str, ...] = ()
    redis_url: str | None = field(default=None, repr=False)
    executor: str = "subprocess"
    grpc_advertise_address: str | None = None
    k8s_namespace: str | None = None
    k8s_context: str | None = None
    k8s_pod_gc_delay: int = 300
    replica_id: str | None = None

    @property
    def config_file(self) -> Path:
        return self.home / CONFIG_FILE_NAME

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Resolve every setting from (highest first) ``overrides`` (command-line flags;
        ``None`` values are ignored, so unset flags can be passed as they are), ``env``
        (default ``os.environ``), the settings file, the defaults.

        ``LEOFLOW_HOME`` (or ``overrides["home"]``) moves the home, and with it the settings
        file and the default database. Raises ``SettingsError`` for an unreadable settings
        file, an unknown key in it, or a bad value.
        """
        env = os.environ if env is None else env
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        unknown = sorted(set(given) - {f.name for f in fields(cls)})
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(unknown)}")

        home_raw = given.get("home") or env.get("LEOFLOW_HOME") or str(DEFAULT_HOME)
        home = Path(home_raw).expanduser()
        config_path = home / CONFIG_FILE_NAME
        from_file = _read_file(config_path)

        values: dict[str, Any] = {"home": home}
        for name, setting in _SETTINGS.items():
            if name in given:
                values[name] = setting.parse(given[name], "command line", name)
            elif env.get(setting.env):
                values[name] = setting.parse(env[setting.env], setting.env, name)
            elif name in from_file:
                values[name] = setting.parse(from_file[name], str(config_path), name)
        values.setdefault("database_url", lite_database_url(home))
        return cls(**values)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"cannot read settings: {exc.strerror}", file=str(path)) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"not valid TOML: {exc}", file=str(path)) from exc
    # ``[profiles.NAME]`` tables belong to the remote commands (leoflow/remote/target.py).
    unknown = sorted(set(data) - set(_SETTINGS) - {"profiles"})
    if unknown:
        raise SettingsError(
            f"unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(_SETTINGS))}",
            file=str(path),
        )
    return data
