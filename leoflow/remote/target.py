"""Where the server is and who we are.

Where the server and token come from, highest first:

1. ``--server`` / ``--token``;
2. the profile named by ``--profile``;
3. ``LEOFLOW_SERVER`` / ``LEOFLOW_TOKEN``;
4. the profile named by ``LEOFLOW_PROFILE``, else a profile called ``default`` if there is one;
5. ``http://127.0.0.1:8080`` (``leoflow-server``'s default), no token.

Profiles live in ``$LEOFLOW_HOME/config.toml`` (``~/.leoflow/config.toml``)::

    [profiles.prod]
    server = "https://leoflow.example.com"
    token = "eyJ..."
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from leoflow.remote.client import RemoteError

DEFAULT_SERVER = "http://127.0.0.1:8080"
PROFILE_KEYS = ("server", "token")


@dataclass(frozen=True)
class Target:
    """The server to call and the token to present (``None``: none)."""

    server: str
    token: str | None
    profile: str | None = None


def config_path(env: Mapping[str, str]) -> Path:
    home = env.get("LEOFLOW_HOME") or "~/.leoflow"
    return Path(home).expanduser() / "config.toml"


def read_profiles(path: Path) -> dict[str, dict[str, str]]:
    """The ``[profiles.*]`` tables of the settings file (none if there is no file)."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise RemoteError(f"{path}: cannot read settings: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RemoteError(f"{path}: not valid TOML: {exc}") from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise RemoteError(f"{path}: profiles must be tables, e.g. [profiles.prod]")
    out: dict[str, dict[str, str]] = {}
    for name, table in profiles.items():
        if not isinstance(table, dict):
            raise RemoteError(f"{path}: profiles.{name} must be a table")
        unknown = sorted(set(table) - set(PROFILE_KEYS))
        if unknown:
            raise RemoteError(f"{path}: profiles.{name}: unknown key(s) {', '.join(unknown)}; "
                              f"known keys: {', '.join(PROFILE_KEYS)}")
        for key, value in table.items():
            if not isinstance(value, str) or not value.strip():
                raise RemoteError(f"{path}: profiles.{name}.{key} must be a non-empty string")
        out[name] = {k: v.strip() for k, v in table.items()}
    return out


def resolve_target(server: str | None = None, token: str | None = None,
                   profile: str | None = None, env: Mapping[str, str] | None = None) -> Target:
    """Where to send requests, from flags, environment and profiles (see the module doc)."""
    env = os.environ if env is None else env
    path = config_path(env)
    chosen = profile or env.get("LEOFLOW_PROFILE") or None
    profiles = read_profiles(path) if (chosen or path.exists()) else {}
    if chosen and chosen not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise RemoteError(f"no profile {chosen!r} in {path} (profiles there: {known}); add "
                          f"[profiles.{chosen}] with server = \"...\" and token = \"...\"")
    picked = profiles.get(chosen) if chosen else profiles.get("default")
    picked = picked or {}
    layers: list[Mapping[str, str | None]] = [{"server": server, "token": token}]
    if profile:
        layers.append(picked)
    layers.append({"server": env.get("LEOFLOW_SERVER"), "token": env.get("LEOFLOW_TOKEN")})
    if not profile:
        layers.append(picked)

    def first(key: str) -> str | None:
        return next((layer[key] for layer in layers if layer.get(key)), None)

    url = first("server") or DEFAULT_SERVER
    if "://" not in url:
        url = f"http://{url}"
    return Target(server=url.rstrip("/"), token=first("token"),
                  profile=chosen if picked else None)
