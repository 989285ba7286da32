"""The HTTP client of the remote commands: where the server is, who we are, and errors a
person can act on.

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

Every failure becomes a ``RemoteError`` whose message says what to do: an unreachable
server is named, 401/403 say how to get a token, 404 names the DAG or run, 422 prints the
field path.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from leoflow.errors import LeoflowError

DEFAULT_SERVER = "http://127.0.0.1:8080"
PROFILE_KEYS = ("server", "token")
TOKEN_HINT = ("get a token with `leoflow auth create-token --username USER` (or POST "
              "/auth/token with your username and password), then pass --token or set "
              "LEOFLOW_TOKEN")


class RemoteError(LeoflowError):
    """A remote call that failed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, *, status: int = 0, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


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


def q(value: str) -> str:
    """A path segment, percent-encoded (run ids hold ``:`` and ``+``)."""
    return quote(value, safe="")


class RemoteClient:
    """Synchronous calls to one server (the CLI does one thing at a time)."""

    def __init__(self, target: Target, *, timeout: float = 30.0, transport: Any = None) -> None:
        import httpx

        self.target = target
        headers = {"Accept": "application/json", "User-Agent": "leoflow-cli"}
        if target.token:
            headers["Authorization"] = f"Bearer {target.token}"
        self._http = httpx.Client(base_url=target.server, headers=headers, timeout=timeout,
                                  transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def call(self, method: str, path: str, *, what: str, json: Any = None,
             params: Mapping[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Send one request; the decoded JSON answer, or ``RemoteError``.

        ``what`` names the object for messages ("DAG 'etl'", "run 'x' of DAG 'etl'").
        """
        import httpx

        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            response = self._http.request(method, path, json=json, params=params, **extra)
        except httpx.TimeoutException:
            raise RemoteError(f"the Leoflow server at {self.target.server} did not answer "
                              f"{method} {path} in time") from None
        except httpx.TransportError as exc:
            raise RemoteError(
                f"cannot reach the Leoflow server at {self.target.server} ({exc}); is it "
                "running? Choose another with --server, LEOFLOW_SERVER or a profile") from None
        if response.status_code >= 400:
            raise self._error(response, what)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise RemoteError(f"{self.target.server} answered {method} {path} with something "
                              "that is not JSON; is it a Leoflow server?",
                              status=response.status_code) from None

    def _error(self, response: Any, what: str) -> RemoteError:
        status = response.status_code
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            detail = response.text.strip()[:300] or None
        server = self.target.server
        if status == 401:
            told = f" ({detail})" if detail else ""
            return RemoteError(f"not authenticated at {server}{told}; {TOKEN_HINT}",
                               status=status, detail=detail)
        if status == 403:
            if isinstance(detail, str) and "token" in detail.lower():
                return RemoteError(f"the server at {server} refused the token ({detail}); "
                                   f"{TOKEN_HINT}", status=status, detail=detail)
            return RemoteError(f"forbidden: {detail or 'your role may not do this'} (ask an "
                               "admin for a role that may)", status=status, detail=detail)
        if status == 404:
            told = f" ({detail})" if detail else ""
            return RemoteError(f"{what} was not found at {server}{told}", status=status,
                               detail=detail)
        if status == 422:
            return RemoteError(f"{what}: {format_validation(detail)}", status=status,
                               detail=detail)
        if status == 429:
            wait = response.headers.get("retry-after")
            return RemoteError(f"too many requests ({detail}); retry"
                               + (f" in {wait} s" if wait else " later"), status=status,
                               detail=detail)
        if status >= 500:
            return RemoteError(f"the server at {server} failed ({status}: {detail}); its log "
                               "has the details", status=status, detail=detail)
        return RemoteError(f"{what}: {detail or f'HTTP {status}'}", status=status,
                           detail=detail)


def field_path(loc: Any) -> str:
    """``tasks[0].upstream`` from ``["body", "tasks", 0, "upstream"]``."""
    parts = list(loc or [])
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_validation(detail: Any) -> str:
    """One line per invalid field: ``field.path: message``."""
    if isinstance(detail, list):
        lines = []
        for item in detail:
            if isinstance(item, dict):
                lines.append(f"{field_path(item.get('loc'))}: {item.get('msg', item)}")
            else:
                lines.append(str(item))
        return "; ".join(lines) or "invalid request"
    return str(detail or "invalid request")
