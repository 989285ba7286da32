"""Triggers a task can defer to, and ``defer()`` for the simple ``@task`` form.

A trigger here is only a *description* (``kind`` + JSON ``kwargs``, see docs/sensors.md):
the control plane's trigger runner does the waiting, and no user code runs there. That is
why there is no ``run()`` to override: only the kinds the control plane knows exist.

``defer(trigger)`` inside a ``@task`` uses replay: the first call ends the process and
defers; when the trigger fires the function runs again from the start, and the k-th
``defer`` call returns the k-th event instead of deferring. Standard library only.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, overload

from leoflow.sdk.errors import TaskDeferred

REPLAY_METHOD = "__replay__"


@overload
def _seconds(name: str, value: Any, *, allow_none: Literal[False] = False) -> float: ...


@overload
def _seconds(name: str, value: Any, *, allow_none: bool) -> float | None: ...


def _seconds(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value) or value < 0:
        raise ValueError(f"{name} must be a timedelta or a number of seconds >= 0, "
                         f"got {value!r}")
    return float(value)


def iso_moment(value: datetime) -> str:
    """An ISO 8601 text with an offset (a naive datetime is UTC, as in Airflow)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


class BaseTrigger:
    """What a deferred task waits for. ``serialize_spec()`` gives dag.json's trigger object."""

    kind: str = ""

    def trigger_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    def serialize_spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "kwargs": self.trigger_kwargs()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.trigger_kwargs()!r})"


class DateTimeTrigger(BaseTrigger):
    """Fires at ``moment`` (Airflow's ``DateTimeTrigger``); the event is ``{"moment": iso}``."""

    kind = "time"

    def __init__(self, moment: datetime, *, end_from_trigger: bool = False) -> None:
        if not isinstance(moment, datetime):
            raise TypeError(f"DateTimeTrigger needs a datetime, got {moment!r}")
        self.moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        self.end_from_trigger = end_from_trigger

    def trigger_kwargs(self) -> dict[str, Any]:
        return {"moment": iso_moment(self.moment)}


class TimeDeltaTrigger(DateTimeTrigger):
    """Fires ``delta`` after now (the moment is fixed when the trigger is made, as Airflow)."""

    def __init__(self, delta: timedelta | float, *, end_from_trigger: bool = False) -> None:
        seconds = _seconds("TimeDeltaTrigger delta", delta)
        super().__init__(datetime.now(timezone.utc) + timedelta(seconds=seconds),
                         end_from_trigger=end_from_trigger)


class FileTrigger(BaseTrigger):
    """Fires when a file matches ``filepath`` (a path or glob); event ``{"files": [...]}``."""

    kind = "file"

    def __init__(self, filepath: str, recursive: bool = False,
                 poke_interval: float = 5.0, fs_conn_id: str | None = None,
                 **_: Any) -> None:
        if not isinstance(filepath, str) or not filepath:
            raise ValueError(f"FileTrigger needs a filepath, got {filepath!r}")
        self.filepath = filepath
        self.recursive = bool(recursive)
        self.poke_interval = _seconds("FileTrigger poke_interval", poke_interval)
        # set by a FileSensor that waits from its start: the control plane joins that
        # connection's base path (Airflow's FSHook) when the wait begins
        self.fs_conn_id = fs_conn_id

    def trigger_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"filepath": self.filepath, "recursive": self.recursive,
                                  "poke_interval": self.poke_interval}
        if self.fs_conn_id:
            kwargs["fs_conn_id"] = self.fs_conn_id
        return kwargs


class HttpTrigger(BaseTrigger):
    """Fires on a 2xx answer of ``url`` (or the connection's host + ``endpoint``).

    Event ``{"status": int, "body": "<first 4 KB>"}``. Also importable under Airflow's name
    ``HttpSensorTrigger``.
    """

    kind = "http"

    def __init__(self, endpoint: str | None = None, http_conn_id: str = "http_default",
                 method: str = "GET", data: Any = None, headers: dict[str, str] | None = None,
                 extra_options: dict[str, Any] | None = None, poke_interval: float = 5.0,
                 *, url: str | None = None, request_params: dict[str, Any] | None = None
                 ) -> None:
        self.url = url
        self.endpoint = endpoint
        self.http_conn_id = http_conn_id
        self.method = str(method).upper()
        self.data = data
        self.headers = dict(headers or {})
        self.request_params = dict(request_params or {})
        self.extra_options = dict(extra_options or {})
        self.poke_interval = _seconds("HttpTrigger poke_interval", poke_interval)

    def trigger_kwargs(self) -> dict[str, Any]:
        where: dict[str, Any] = ({"url": self.url} if self.url else
                                 {"http_conn_id": self.http_conn_id,
                                  "endpoint": self.endpoint or ""})
        return {**where, "method": self.method, "headers": self.headers, "data": self.data,
                "request_params": self.request_params, "extra_options": self.extra_options,
                "poke_interval": self.poke_interval}


HttpSensorTrigger = HttpTrigger


class ExternalTaskTrigger(BaseTrigger):
    """Fires when tasks (or the whole run) of another DAG reach ``allowed_states``.

    Event ``{"status": "success" | "failed" | "skipped", ...}``.
    """

    kind = "external_task"

    def __init__(self, external_dag_id: str, external_task_ids: list[str] | None = None,
                 allowed_states: list[str] | None = None,
                 failed_states: list[str] | None = None,
                 skipped_states: list[str] | None = None,
                 execution_delta: timedelta | float | None = None,
                 poke_interval: float = 5.0,
                 external_task_group_id: str | None = None) -> None:
        self.external_dag_id = external_dag_id
        self.external_task_group_id = external_task_group_id
        self.external_task_ids = None if external_task_ids is None else list(external_task_ids)
        self.allowed_states = list(allowed_states or ["success"])
        self.failed_states = list(failed_states or [])
        self.skipped_states = list(skipped_states or [])
        self.execution_delta = _seconds("execution_delta", execution_delta, allow_none=True)
        self.poke_interval = _seconds("ExternalTaskTrigger poke_interval", poke_interval)

    def trigger_kwargs(self) -> dict[str, Any]:
        return {"external_dag_id": self.external_dag_id,
                "external_task_ids": self.external_task_ids,
                "allowed_states": self.allowed_states, "failed_states": self.failed_states,
                "skipped_states": self.skipped_states,
                "execution_delta": self.execution_delta, "poke_interval": self.poke_interval,
                # only when given, so that the specs of existing sensors stay as they were
                **({"external_task_group_id": self.external_task_group_id}
                   if self.external_task_group_id else {})}


def trigger_spec_of(trigger: Any) -> dict[str, Any]:
    """dag.json's trigger object for ``trigger`` (a ``BaseTrigger`` or such a dict)."""
    if isinstance(trigger, BaseTrigger):
        return trigger.serialize_spec()
    if isinstance(trigger, dict) and isinstance(trigger.get("kind"), str) and isinstance(
            trigger.get("kwargs", {}), dict):
        return {"kind": trigger["kind"], "kwargs": dict(trigger.get("kwargs") or {})}
    raise TypeError(f"cannot defer to {trigger!r}: use one of Leoflow's triggers "
                    "(DateTimeTrigger, TimeDeltaTrigger, FileTrigger, HttpTrigger, "
                    "ExternalTaskTrigger); custom trigger classes cannot run in the control "
                    "plane")


class ReplayState:
    """The events of a ``@task``'s earlier deferrals, consumed in order by ``defer``."""

    def __init__(self) -> None:
        self.active = False
        self.events: list[Any] = []
        self.used = 0


_replay = ReplayState()


def start_replay(events: list[Any]) -> None:
    """Called by the task runner before the task's code runs (events of earlier deferrals)."""
    _replay.active = True
    _replay.events = list(events)
    _replay.used = 0


def stop_replay() -> None:
    _replay.active = False
    _replay.events = []
    _replay.used = 0


def defer(trigger: Any, *, timeout: timedelta | float | None = None) -> Any:
    """Wait for ``trigger`` in the control plane and return its event.

    The task's process ends here (its slot is freed); when the trigger fires the task's
    function runs again *from the start*, and this call returns the event. Code before a
    ``defer`` therefore runs more than once: keep it free of side effects, or guard them.
    """
    if not _replay.active:
        raise RuntimeError("defer() can only be called while a task runs (inside a @task "
                           "function or an operator's execute)")
    if _replay.used < len(_replay.events):
        event = _replay.events[_replay.used]
        _replay.used += 1
        return event
    spec = trigger_spec_of(trigger)  # fail here, in the user's frame, for a bad trigger
    raise TaskDeferred(trigger=spec, method_name=REPLAY_METHOD,
                       kwargs={"events": list(_replay.events)},
                       timeout=_seconds("defer timeout", timeout, allow_none=True))
