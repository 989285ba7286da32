"""Leoflow's settings: flags win over ``LEOFLOW_*`` environment variables, which win over
the settings file ``$LEOFLOW_HOME/config.toml`` (``~/.leoflow/config.toml``), which wins
over the defaults.

Only the standard library is imported here (``tomllib``), so the CLI can load settings
without slowing down ``leoflow --help``. Adding a setting means adding a field to
``Settings`` and a line to ``_SETTINGS``; loading, precedence and error messages follow.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from leoflow.errors import LocatedError

CONFIG_FILE_NAME = "config.toml"
DEFAULT_HOME = Path("~/.leoflow")
LITE_DATABASE_NAME = "leoflow.db"


class SettingsError(LocatedError):
    """A settings file or value Leoflow cannot use (points at the file and key)."""


def _string(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{key} must be a non-empty string, got {value!r}", file=source)
    return value.strip()


@dataclass(frozen=True)
class _Setting:
    """How one field is read: its environment variable and how to parse a raw value."""

    env: str
    parse: Callable[[Any, str, str], Any]


# Field name (also the key in config.toml and in ``overrides``) → how to read it.
_SETTINGS: dict[str, _Setting] = {
    "database_url": _Setting(env="LEOFLOW_DATABASE_URL", parse=_string),
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
    """

    home: Path
    database_url: str

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
    unknown = sorted(set(data) - set(_SETTINGS))
    if unknown:
        raise SettingsError(
            f"unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(_SETTINGS))}",
            file=str(path),
        )
    return data
