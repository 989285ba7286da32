"""The ``http`` trigger kind: fires on a 2xx answer (Airflow's HttpSensor without a
response_check). 404, other statuses and connection errors keep it waiting, the last one
shown as what it waits for.

``http_conn_id`` is resolved from the DAG tenant's stored connections (or the control
plane's ``AIRFLOW_CONN_*``) through the runner's ``connection_lookup``; the URL is built as
Airflow's HttpHook does (a host without a scheme gets ``schema`` or http).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from leoflow.engine.triggers.base import PollResult, TriggerError, connection_extra

if TYPE_CHECKING:  # imported by the first poll: a start does not need httpx
    import httpx

BODY_LIMIT = 4096
DEFAULT_TIMEOUT = 30.0

ConnectionLookup = Callable[[str], Awaitable[Mapping[str, Any] | None]]
"""``conn_id`` → the connection as Airflow's JSON form (host, schema, port, login, ...)."""


def validate(kwargs: Mapping[str, Any]) -> None:
    if not kwargs.get("url") and not kwargs.get("http_conn_id"):
        raise TriggerError("an http trigger needs url, or http_conn_id and endpoint",
                           field="trigger.kwargs.url")


async def _base(conn_id: str, lookup: ConnectionLookup | None
                ) -> tuple[str, dict[str, str], httpx.BasicAuth | None]:
    found = await lookup(conn_id) if lookup is not None else None
    if not found:
        raise TriggerError(f"connection {conn_id!r} is not defined (add it as a Leoflow "
                           f"connection or set AIRFLOW_CONN_{conn_id.upper()})",
                           field="trigger.kwargs.http_conn_id")
    host = str(found.get("host") or "")
    base = host if "://" in host else f"{found.get('schema') or 'http'}://{host}"
    if found.get("port"):
        base = f"{base.rstrip('/')}:{found['port']}"
    headers = {str(k): str(v) for k, v in connection_extra(found).items()
               if isinstance(v, str | int | float)}
    login = found.get("login")
    import httpx

    auth = httpx.BasicAuth(str(login), str(found.get("password") or "")) if login else None
    return base, headers, auth


def _join(base: str, endpoint: Any) -> str:
    endpoint = "" if endpoint is None else str(endpoint)
    if base and not base.endswith("/") and endpoint and not endpoint.startswith("/"):
        return f"{base}/{endpoint}"
    return base + endpoint


async def poll(kwargs: Mapping[str, Any], client: httpx.AsyncClient,
               lookup: ConnectionLookup | None) -> PollResult:
    headers: dict[str, str] = {}
    auth = None
    if kwargs.get("url"):
        url = str(kwargs["url"])
    else:
        base, headers, auth = await _base(str(kwargs["http_conn_id"]), lookup)
        url = _join(base, kwargs.get("endpoint"))
    headers.update({str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()})
    method = str(kwargs.get("method") or "GET").upper()
    params = dict(kwargs.get("request_params") or {})
    data = kwargs.get("data")
    body: dict[str, Any] = {}
    if isinstance(data, dict) and method in ("GET", "HEAD"):
        params.update(data)  # Airflow's HttpHook sends a GET's data as the query string
    elif isinstance(data, str | bytes):
        body["content"] = data
    elif data is not None:
        body["json"] = data
    extra = kwargs.get("extra_options") or {}
    timeout = float(extra.get("timeout", DEFAULT_TIMEOUT))
    import httpx

    try:
        response = await client.request(method, url, headers=headers, params=params,
                                        auth=auth, timeout=timeout,
                                        follow_redirects=bool(extra.get("allow_redirects",
                                                                        True)), **body)
    except httpx.HTTPError as exc:
        return PollResult(None, f"HTTP {method} {url} to answer 2xx (last: "
                                f"{type(exc).__name__}: {exc or 'no answer'})")
    if 200 <= response.status_code < 300:
        return PollResult({"status": response.status_code,
                           "body": response.text[:BODY_LIMIT]},
                          f"HTTP {method} {url} answered {response.status_code}")
    return PollResult(None, f"HTTP {method} {url} to answer 2xx (last: "
                            f"{response.status_code})")
