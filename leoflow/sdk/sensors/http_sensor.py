"""The HTTP sensor: poke an endpoint until it answers 2xx (and ``response_check`` agrees).

Without a ``response_check`` a deferrable one waits in the control plane (an ``http``
trigger); otherwise it pokes in the task's process with ``urllib``. Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from leoflow.sdk.baseoperator import is_building_mapped
from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.sensors.base import BaseSensorOperator, PokeReturnValue, call_kwargs
from leoflow.sdk.triggers import BaseTrigger, HttpTrigger


class HttpSensor(BaseSensorOperator):
    """Pokes an HTTP endpoint until it answers 2xx (and ``response_check`` agrees).

    404 keeps it waiting, as other non-2xx statuses do (Airflow raises on them unless
    ``extra_options={"check_response": False}``; here they keep the sensor waiting).
    """

    runs_user_code = False
    mappable_fields = ("endpoint", "request_params", "headers")

    def __init__(self, task_id: str, *, endpoint: str | None = None,
                 http_conn_id: str = "http_default", method: str = "GET",
                 request_params: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None,
                 response_check: Callable[..., Any] | None = None,
                 extra_options: dict[str, Any] | None = None, tcp_keep_alive: bool = True,
                 url: str | None = None, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        where = f"HttpSensor({task_id!r})"
        if response_check is not None and not callable(response_check):
            raise DagDefinitionError(f"{where}: response_check must be callable, got "
                                     f"{response_check!r}", file=self.fileloc, line=self.line)
        if endpoint is None and url is None and not is_building_mapped():
            raise DagDefinitionError(f"{where} needs endpoint (with http_conn_id) or url",
                                     file=self.fileloc, line=self.line)
        method = str(method).upper()
        if method not in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}:
            raise DagDefinitionError(f"{where}: unknown method {method!r}",
                                     file=self.fileloc, line=self.line)
        self.endpoint = endpoint
        self.url = url
        self.http_conn_id = http_conn_id
        self.method = method
        self.request_params = dict(request_params or {})
        self.headers = dict(headers or {})
        self.response_check = response_check
        self.extra_options = dict(extra_options or {})
        if response_check is not None:
            self.callable = response_check
        inputs: dict[str, Any] = {"request_params": self.request_params,
                                  "headers": self.headers}
        if endpoint is not None:
            inputs["endpoint"] = endpoint
        if url is not None:
            inputs["url"] = url
        self.set_inputs(kwargs=inputs)

    @property
    def _checks_in_process(self) -> bool:
        return self.response_check is not None

    def effective_mode(self) -> str:
        if self.deferrable and self._checks_in_process:
            return "reschedule"
        return self.mode

    def start_from_trigger(self) -> bool:
        return self.deferrable and not self._checks_in_process

    def trigger_fields(self) -> tuple[str, ...]:
        return ("endpoint", "url", "request_params", "headers")

    def _trigger(self, endpoint: Any, url: Any, params: Any, headers: Any) -> HttpTrigger:
        return HttpTrigger(endpoint=endpoint, http_conn_id=self.http_conn_id,
                           method=self.method, headers=headers, request_params=params,
                           extra_options=self.extra_options,
                           poke_interval=self.poke_interval, url=url)

    def static_trigger(self) -> BaseTrigger:
        k = self.op_kwargs
        return self._trigger(k.get("endpoint"), k.get("url"), k.get("request_params"),
                             k.get("headers"))

    def runtime_trigger(self, context: dict[str, Any]) -> BaseTrigger | None:
        if not self.start_from_trigger():
            return None
        return self._trigger(self.endpoint, self.url, self.request_params, self.headers)

    def _full_url(self) -> str:
        import urllib.parse
        if self.url:
            base = str(self.url)
        else:
            from leoflow.sdk.secrets_env import get_connection

            conn = get_connection(self.http_conn_id)
            host = conn.host or ""
            if "://" not in host:
                host = f"{conn.schema or 'http'}://{host}"
                if conn.port:
                    host = f"{host}:{conn.port}"
            endpoint = str(self.endpoint or "")
            base = host.rstrip("/") + ("/" + endpoint.lstrip("/") if endpoint else "")
        if self.request_params and self.method in {"GET", "HEAD", "DELETE", "OPTIONS"}:
            base += ("&" if "?" in base else "?") + urllib.parse.urlencode(self.request_params)
        return base

    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        import urllib.error
        import urllib.request  # here: importing it costs ~30 ms that DAG files need not pay

        url = self._full_url()
        print(f"Poking: {self.method} {url}")
        data = None
        if self.request_params and self.method not in {"GET", "HEAD", "DELETE", "OPTIONS"}:
            data = json.dumps(self.request_params).encode()
        request = urllib.request.Request(url, data=data, method=self.method,
                                         headers=self.headers)
        timeout = float(self.extra_options.get("timeout", 30))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                response = HttpResponse(answer.status, answer.read(), dict(answer.headers))
        except urllib.error.HTTPError as exc:
            print(f"HTTP {exc.code}: still waiting")
            return False
        except (urllib.error.URLError, OSError) as exc:
            print(f"{type(exc).__name__}: {exc}: still waiting")
            return False
        if self.response_check is None:
            return True
        kwargs = call_kwargs(self.response_check, [response], {}, context)
        return self.response_check(response, **kwargs)


class HttpResponse:
    """What ``response_check`` receives: ``status_code``, ``text``, ``content``, ``json()``."""

    def __init__(self, status_code: int, content: bytes, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self.content = content
        self.headers = headers

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 400

    def json(self) -> Any:
        return json.loads(self.text)
