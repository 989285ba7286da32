"""The inline HTTP executor: ``http`` tasks run as asyncio tasks inside the control plane.

An HTTP call needs no user code and no environment, so starting a process (let alone a pod)
for it would cost far more than the call. Here it is one ``httpx`` request: a semaphore caps
how many run at once (``max_concurrency``), ``options.timeout`` bounds each one, and the
response body becomes the task's ``return_value`` XCom.

The request follows Airflow's ``HttpOperator``: ``url``, or ``http_conn_id`` + ``endpoint``
joined as Airflow's ``HttpHook`` does (the connection gives scheme, host, port, basic auth
and extra headers); ``headers``; ``data`` (a dict is sent as JSON, or as the query string of
a GET/HEAD as in Airflow; a string as the raw body). A status outside
``options.expected_status`` fails the try with the status and the start of the body. A JSON
response is pushed decoded, anything else as text, and a body above the XCom cap (256 KB)
fails the try instead of being cut.

Everything outside the request is injected: ``resolve(launch, task)`` gives the task's
inputs (they may reference upstream results), ``push_xcom(launch, value)`` stores the
result, ``connection_lookup(conn_id)`` finds a connection (sync or async), and an optional
``LogStore`` receives what the user should see in the try's log.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leoflow.engine.executors.base import EventCallback, EventState, ExecutorEvent, TaskLaunch
from leoflow.engine.logs import LogKey, LogStore
from leoflow.engine.masking.values import ValueMasker, connection_secrets
from leoflow.engine.spec.model import TaskSpec

if TYPE_CHECKING:  # httpx is imported at the first request (a start does not need it)
    import httpx
from leoflow.engine.xcom import MAX_VALUE_BYTES
from leoflow.errors import LeoflowError

log = logging.getLogger(__name__)

PushXCom = Callable[[TaskLaunch, Any], Awaitable[Any]]
ResolveInputs = Callable[[TaskLaunch, TaskSpec], Awaitable[tuple[list[Any], dict[str, Any]]]]
ConnectionLookup = Callable[[str], "Mapping[str, Any] | Awaitable[Mapping[str, Any] | None] | None"]
"""Finds a connection by id (Airflow's fields: conn_type, host, schema, login, password,
port, extra); sync or async; None when there is no such connection."""

DEFAULT_MAX_CONCURRENCY = 32
DEFAULT_TIMEOUT = 30.0
ERROR_BODY_CHARS = 500
# Keys of a connection's ``extra`` that configure the client in Airflow's HttpHook; every
# other key is sent as a header.
_CLIENT_EXTRAS = frozenset({"timeout", "verify", "proxies", "proxy", "stream", "cert",
                            "max_redirects", "allow_redirects", "trust_env", "check_response",
                            "auth_kwargs", "auth_type"})


class HttpTaskError(LeoflowError):
    """Why an HTTP try failed, in words for the task's owner."""


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    auth: httpx.BasicAuth | None
    params: Any = None
    json_body: Any = None
    content: bytes | None = None
    follow_redirects: bool = True


class HttpExecutor:
    """Runs ``operator == "http"`` tries in this process, at most ``max_concurrency`` at once."""

    name = "http"

    def __init__(self, *, push_xcom: PushXCom, resolve: ResolveInputs,
                 connection_lookup: ConnectionLookup | None = None,
                 max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
                 default_timeout: float = DEFAULT_TIMEOUT,
                 max_body_bytes: int = MAX_VALUE_BYTES,
                 logs: LogStore | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self._push_xcom = push_xcom
        self._resolve = resolve
        self._lookup = connection_lookup
        self.max_concurrency = max_concurrency
        self.default_timeout = default_timeout
        self.max_body_bytes = max_body_bytes
        self._logs = logs
        self._client = client  # made at the first request when None (see _http)
        self._owns_client = client is None
        self._slots = asyncio.Semaphore(max_concurrency)
        self._callback: EventCallback | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel_reasons: dict[str, str] = {}
        self.active = 0  # requests holding a slot now
        self.peak_active = 0
        self._hostname = socket.gethostname()
        # the passwords and sensitive extras of the connections requests used: masked in
        # the lines written to the try's log (docs/security.md, "Secrets in logs")
        self._masker = ValueMasker()

    # -- the Executor protocol -------------------------------------------------------------
    def set_callback(self, callback: EventCallback) -> None:
        self._callback = callback

    async def start(self, launch: TaskLaunch, task: TaskSpec) -> None:
        if launch.ti_id in self._tasks:
            log.warning("HTTP task %s is already running; ignoring a second start",
                        launch.ti_id)
            return
        runner = asyncio.create_task(self._run(launch, task), name=f"http {launch.ti_id}")
        self._tasks[launch.ti_id] = runner
        runner.add_done_callback(functools.partial(self._done, launch.ti_id))

    async def cancel(self, ti_id: str, reason: str) -> None:
        runner = self._tasks.get(ti_id)
        if runner is not None and not runner.done():
            self._cancel_reasons[ti_id] = reason
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    async def reconcile(self, known: Sequence[TaskLaunch]) -> None:
        """An inline request cannot outlive the process that made it: a try the scheduler
        thought in flight but that is not running here ended with the old process."""
        for launch in known:
            if launch.ti_id not in self._tasks:
                await self._report(launch, "failed", error=(
                    "the control plane stopped while this HTTP request was in flight; "
                    "its outcome is unknown"))

    async def close(self) -> None:
        runners = list(self._tasks.values())
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)
        if self._owns_client and self._client is not None:
            await self._client.aclose()

    def _http(self) -> httpx.AsyncClient:
        """The client, made at the first request: httpx's import and its TLS context cost
        about 0.1 s that the control plane's start does not need."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient()
        return self._client

    # -- one try ----------------------------------------------------------------------------
    def _done(self, ti_id: str, runner: asyncio.Task[None]) -> None:
        if self._tasks.get(ti_id) is runner:
            del self._tasks[ti_id]
        self._cancel_reasons.pop(ti_id, None)
        if not runner.cancelled() and runner.exception() is not None:
            log.error("HTTP task %s crashed", ti_id, exc_info=runner.exception())

    async def _report(self, launch: TaskLaunch, state: EventState, error: str | None = None,
                      **info: Any) -> None:
        if self._callback is None:
            raise RuntimeError("HttpExecutor.set_callback() was not called")
        await self._callback(ExecutorEvent(launch.ti_id, launch.try_number, state,
                                           error=self._masker.redact(error) if error else error,
                                           info=info))

    async def _log(self, launch: TaskLaunch, *lines: str, stream: str = "agent") -> None:
        if self._logs is None:
            return
        try:
            await self._logs.append_lines(_log_key(launch), stream,
                                          [self._masker.redact(line) for line in lines])
        except Exception:  # a log that cannot be written must not fail the request
            log.warning("cannot write the log of %s", launch.ti_id, exc_info=True)

    async def _run(self, launch: TaskLaunch, task: TaskSpec) -> None:
        try:
            if launch.operator != "http" or task.operator != "http":
                raise HttpTaskError(f"the HTTP executor runs http tasks only, not "
                                    f"{task.operator!r} (task {task.task_id!r})")
            async with self._slots:
                self.active += 1
                self.peak_active = max(self.peak_active, self.active)
                try:
                    await self._report(launch, "running", hostname=self._hostname,
                                       external_executor_id=f"http:{launch.ti_id}")
                    value = await self._call(launch, task)
                finally:
                    self.active -= 1
            await self._push_xcom(launch, value)
        except asyncio.CancelledError:
            reason = self._cancel_reasons.get(launch.ti_id, "the executor closed")
            await asyncio.shield(self._log(launch, f"cancelled: {reason}"))
            await asyncio.shield(self._finish_log(launch))
            raise
        except LeoflowError as exc:  # ours: XComTooLarge, InputResolutionError, HttpTaskError
            await self._fail(launch, str(exc))
        except Exception as exc:
            log.exception("HTTP task %s failed unexpectedly", launch.ti_id)
            await self._fail(launch, f"{type(exc).__name__}: {exc}")
        else:
            await self._finish_log(launch)
            await self._report(launch, "success")

    async def _fail(self, launch: TaskLaunch, error: str) -> None:
        await self._log(launch, f"failed: {error}")
        await self._finish_log(launch)
        await self._report(launch, "failed", error=error)

    async def _finish_log(self, launch: TaskLaunch) -> None:
        if self._logs is not None:
            try:
                await self._logs.finish(_log_key(launch))
            except Exception:
                log.warning("cannot finish the log of %s", launch.ti_id, exc_info=True)

    async def _call(self, launch: TaskLaunch, task: TaskSpec) -> Any:
        _, kwargs = await self._resolve(launch, task)
        request = await self._build(task, kwargs)
        timeout = float(task.options.get("timeout") or self.default_timeout)
        expected = _expected_statuses(task.options.get("expected_status"))
        await self._log(launch, f"{request.method} {request.url}")
        started = time.monotonic()
        import httpx

        try:
            async with asyncio.timeout(timeout):
                status, reason, content_type, encoding, body, complete = await self._send(
                    request, timeout)
        except TimeoutError:
            raise HttpTaskError(f"{request.method} {request.url}: no complete response "
                                f"within the timeout of {timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise HttpTaskError(f"{request.method} {request.url}: {type(exc).__name__}: "
                                f"{exc}") from exc
        elapsed = time.monotonic() - started
        size = f"{len(body)}{'+' if not complete else ''} bytes"
        await self._log(launch, f"HTTP {status} {reason} ({size} in {elapsed:.3f} s)")
        text = body.decode(encoding, "replace")
        if status not in expected:
            raise HttpTaskError(
                f"{request.method} {request.url} answered HTTP {status} {reason} (expected "
                f"{', '.join(map(str, expected))}): {text[:ERROR_BODY_CHARS]}")
        if not complete:
            raise HttpTaskError(
                f"{request.method} {request.url}: the response body is larger than "
                f"{self.max_body_bytes // 1024} KB, the XCom limit; fetch large data in a "
                "task that stores it elsewhere and returns its location")
        if task.options.get("log_response"):
            await self._log(launch, *text.splitlines(), stream="stdout")
        if _is_json(content_type):
            try:
                return json.loads(text)
            except ValueError:
                await self._log(launch, "the response says JSON but is not; kept as text")
        return text

    async def _send(self, request: _Request, timeout: float
                    ) -> tuple[int, str, str, str, bytes, bool]:
        """Status, reason, content type, encoding, body and whether the body is whole;
        stops reading a large body as soon as it passes the cap."""
        async with self._http().stream(
                request.method, request.url, headers=request.headers, auth=request.auth,
                params=request.params, json=request.json_body, content=request.content,
                timeout=timeout, follow_redirects=request.follow_redirects) as response:
            body = bytearray()
            complete = True
            async for piece in response.aiter_bytes():
                body += piece
                if len(body) > self.max_body_bytes:
                    complete = False
                    break
            return (response.status_code, response.reason_phrase,
                    response.headers.get("content-type", ""),
                    response.charset_encoding or "utf-8", bytes(body), complete)

    async def _build(self, task: TaskSpec, kwargs: Mapping[str, Any]) -> _Request:
        options = task.options
        method = str(options.get("method") or "GET").upper()
        conn_id = options.get("http_conn_id")
        base: str = ""
        headers: dict[str, str] = {}
        auth: httpx.BasicAuth | None = None
        if conn_id:
            base, headers, auth = await self._connection(str(conn_id), task)
        url = kwargs.get("url")
        if url is None:
            url = _join(base, kwargs.get("endpoint"))
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise HttpTaskError(f"task {task.task_id!r} needs an absolute http(s) URL (a url, "
                                f"or http_conn_id with a host and an endpoint); got {url!r}")
        for name, value in dict(kwargs.get("headers") or {}).items():
            headers[str(name)] = str(value)
        data = kwargs.get("data")
        params = json_body = content = None
        if isinstance(data, str):
            content = data.encode("utf-8")
        elif isinstance(data, (bytes, bytearray)):
            content = bytes(data)
        elif isinstance(data, dict) and method in ("GET", "HEAD"):
            params = data  # Airflow's HttpHook sends a GET's data as the query string
        elif data is not None:
            json_body = data
        extra = options.get("extra_options") or {}
        follow = bool(extra.get("allow_redirects", extra.get("follow_redirects", True)))
        return _Request(method, url, headers, auth, params, json_body, content, follow)

    async def _connection(self, conn_id: str, task: TaskSpec
                          ) -> tuple[str, dict[str, str], httpx.BasicAuth | None]:
        found = self._lookup(conn_id) if self._lookup is not None else None
        if inspect.isawaitable(found):
            found = await found
        if not found:
            raise HttpTaskError(
                f"task {task.task_id!r}: connection {conn_id!r} is not defined (add it as a "
                f"Leoflow connection or set AIRFLOW_CONN_{conn_id.upper()})")
        conn: Mapping[str, Any] = found
        self._masker.add(connection_secrets(conn))
        host = str(conn.get("host") or "")
        base = host  # a host with a scheme is a base URL, as in Airflow's HttpHook
        if host and "://" not in host:
            base = f"{conn.get('schema') or 'http'}://{host}"
        if conn.get("port") and base:
            base = f"{base.rstrip('/')}:{conn['port']}"
        extra = conn.get("extra") or {}
        if isinstance(extra, str):
            try:
                extra = json.loads(extra) if extra.strip() else {}
            except ValueError:
                raise HttpTaskError(f"connection {conn_id!r}: extra is not JSON") from None
        headers = {str(k): str(v) for k, v in dict(extra).items() if k not in _CLIENT_EXTRAS}
        login = conn.get("login")
        import httpx

        auth = httpx.BasicAuth(str(login), str(conn.get("password") or "")) if login else None
        return base, headers, auth


def _log_key(launch: TaskLaunch) -> LogKey:
    return LogKey(launch.dag_id, launch.run_id, launch.task_id, launch.try_number,
                  launch.map_index)


def _join(base: str, endpoint: Any) -> str:
    """Airflow's ``HttpHook.url_from_endpoint``: one slash between base and endpoint."""
    endpoint = "" if endpoint is None else str(endpoint)
    if base and not base.endswith("/") and endpoint and not endpoint.startswith("/"):
        return f"{base}/{endpoint}"
    return base + endpoint


def _expected_statuses(value: Any) -> tuple[int, ...]:
    if value is None or value == []:
        return (200,)
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value)


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or mime.endswith("+json")
