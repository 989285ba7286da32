"""One request to a Leoflow server, and errors a person can act on.

Every failure becomes a ``RemoteError`` whose message says what to do: an unreachable
server is named, 401/403 say how to get a token, 404 names the DAG or run, 422 prints the
field path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from leoflow.errors import LeoflowError

if TYPE_CHECKING:
    from leoflow.remote.target import Target

TOKEN_HINT = ("get a token with `leoflow auth create-token --username USER` (or POST "
              "/auth/token with your username and password), then pass --token or set "
              "LEOFLOW_TOKEN")


class RemoteError(LeoflowError):
    """A remote call that failed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, *, status: int = 0, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


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
