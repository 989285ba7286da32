"""The objects of a running task's context: ``ti``, ``dag_run``, ``var``, ``conn``, ``macros``.

Shared by the task runner (user code receives them) and the agent (it renders templates such
as ``{{ ti.xcom_pull(task_ids='t') }}`` with them), so both see the same context. XCom calls
go through an ``XComTransport``: the runner's sends requests over its channel to the agent,
the agent's calls the control plane. Standard library only.
"""

from __future__ import annotations

import inspect
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, Protocol

from leoflow.sdk.secrets_env import NOTSET, Connection, Variable, get_connection

XCOM_RETURN_KEY = "return_value"


class XComTransport(Protocol):
    """Where ``ti.xcom_pull`` / ``ti.xcom_push`` go."""

    def pull(self, task_ids: list[str], key: str, map_indexes: list[int] | None) -> list[Any]:
        """One entry per task id: the value, a mapped task's ordered values, or ``None``."""

    def push(self, key: str, value: Any) -> None: ...


def parse_datetime(value: Any) -> datetime | None:
    """ISO 8601 text (``Z`` accepted, for Python 3.10 DAG environments) to an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    text = str(value)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class TaskInstance:
    """The running try, as ``ti`` / ``task_instance``: its identity and XCom access."""

    def __init__(self, *, dag_id: str, task_id: str, run_id: str, map_index: int = -1,
                 try_number: int = 1, max_tries: int = 0, task: Any = None,
                 transport: XComTransport) -> None:
        self.dag_id = dag_id
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = map_index
        self.try_number = try_number
        self.max_tries = max_tries
        self.task = task
        self._transport = transport

    def xcom_pull(self, task_ids: str | Iterable[str] | None = None, dag_id: str | None = None,
                  key: str = XCOM_RETURN_KEY, include_prior_dates: bool = False, *,
                  map_indexes: int | Iterable[int] | Any | None = NOTSET,
                  default: Any = None, run_id: str | None = None) -> Any:
        """Airflow 3's rules: one task id gives its value, a list of ids gives a list.

        ``task_ids=None`` means this task. A mapped task's value is the ordered list of its
        instances' values; ``map_indexes=i`` picks one of them.
        """
        if dag_id not in (None, self.dag_id) or run_id not in (None, self.run_id):
            raise ValueError("xcom_pull reads XComs of the same DAG run only; dag_id and "
                             "run_id of other runs are not supported")
        if include_prior_dates:
            raise ValueError("xcom_pull(include_prior_dates=True) is not supported")
        single_task = task_ids is None or isinstance(task_ids, str)
        ids = [self.task_id] if task_ids is None else (
            [task_ids] if isinstance(task_ids, str) else [str(t) for t in task_ids])
        indexes: list[int] | None = None
        if map_indexes is not NOTSET and map_indexes is not None:
            if isinstance(map_indexes, int):
                indexes = [map_indexes]
            else:
                indexes = [int(i) for i in map_indexes]
        # for one requested map index the control plane answers that value, not a list
        values = self._transport.pull(ids, key, indexes)
        if single_task:
            value = values[0] if values else None
            return default if value is None else value
        return values

    def xcom_push(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON) under ``key`` for this try."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"xcom_push needs a non-empty string key, got {key!r}")
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise TypeError(f"xcom_push({key!r}): a value of type {type(value).__name__} is "
                            "not JSON-serializable") from None
        self._transport.push(key, value)

    def __repr__(self) -> str:
        return (f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id} "
                f"map_index={self.map_index} try={self.try_number}>")


class DagRun:
    """``dag_run``: the run this try belongs to."""

    def __init__(self, *, dag_id: str, run_id: str, run_type: str | None,
                 conf: Mapping[str, Any], logical_date: datetime | None,
                 data_interval_start: datetime | None,
                 data_interval_end: datetime | None) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self.run_type = run_type
        self.conf = dict(conf)
        self.logical_date = logical_date
        self.data_interval_start = data_interval_start
        self.data_interval_end = data_interval_end

    def __repr__(self) -> str:
        return f"<DagRun {self.dag_id} @ {self.logical_date}: {self.run_id}>"


class _VariableValues:
    def __init__(self, environ: Mapping[str, str] | None, as_json: bool) -> None:
        self._environ = environ
        self._json = as_json

    def get(self, key: str, default: Any = NOTSET) -> Any:
        return Variable.get(key, default=default, deserialize_json=self._json,
                            environ=self._environ)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return self.get(key)

    __getitem__ = __getattr__


class VariableAccessor:
    """``var``: ``{{ var.value.key }}`` and ``{{ var.json.key.field }}`` in templates."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.value = _VariableValues(environ, as_json=False)
        self.json = _VariableValues(environ, as_json=True)


class ConnectionAccessor:
    """``conn``: ``{{ conn.my_db.host }}`` in templates."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    def get(self, conn_id: str) -> Connection:
        return get_connection(conn_id, self._environ)

    def __getattr__(self, conn_id: str) -> Connection:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return self.get(conn_id)

    __getitem__ = __getattr__


def ds_add(ds: str, days: int) -> str:
    """``macros.ds_add('2024-01-01', 5)`` → ``'2024-01-06'``."""
    if not days:
        return str(ds)
    return (datetime.strptime(str(ds), "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """``macros.ds_format('2024-01-01', '%Y-%m-%d', '%d/%m/%Y')``."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)


macros = SimpleNamespace(ds_add=ds_add, ds_format=ds_format, datetime=datetime,
                         timedelta=timedelta, date=date, time=time, uuid=uuid, random=random,
                         json=json)


def build_context(raw: Mapping[str, Any], *, dag: Any, task: Any, ti: TaskInstance,
                  environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Airflow's task context from the run's context JSON (``FetchTask.context_json``).

    ``logical_date`` exists only when the run has one (Airflow 3); ``ds``/``ts`` and friends
    exist when the control plane sent them (it falls back to ``run_after`` for runs without a
    logical date) or a date to derive them from. The data interval keys are always there
    (maybe ``None``).
    """
    logical_date = parse_datetime(raw.get("logical_date"))
    start = parse_datetime(raw.get("data_interval_start"))
    end = parse_datetime(raw.get("data_interval_end"))
    conf = dict(raw.get("conf") or {})
    run_id = str(raw.get("run_id") or ti.run_id)
    context: dict[str, Any] = {
        "dag": dag, "task": task, "ti": ti, "task_instance": ti,
        "dag_run": DagRun(dag_id=ti.dag_id, run_id=run_id, run_type=raw.get("run_type"),
                          conf=conf, logical_date=logical_date, data_interval_start=start,
                          data_interval_end=end),
        "run_id": run_id, "params": dict(raw.get("params") or {}), "conf": conf,
        "data_interval_start": start, "data_interval_end": end,
        "try_number": int(raw.get("try_number") or ti.try_number),
        "map_index": int(raw.get("map_index", ti.map_index)),
        "var": VariableAccessor(environ), "conn": ConnectionAccessor(environ),
        "macros": macros, "inlets": [], "outlets": [], "test_mode": False,
        "templates_dict": None, "map_index_template": None, "expanded_ti_count": None,
        "run_after": parse_datetime(raw.get("run_after")),
    }
    if logical_date is not None:
        context["logical_date"] = logical_date
    # the control plane may give the date strings for a run without a logical date (it
    # falls back to run_after); use its values, or derive them from the logical date
    moment = logical_date or parse_datetime(raw.get("run_after"))
    ds = raw.get("ds") or (moment.strftime("%Y-%m-%d") if moment else None)
    if ds is not None:
        ts = raw.get("ts") or (moment.isoformat() if moment else ds)
        context.update({
            "ds": ds, "ds_nodash": raw.get("ds_nodash") or ds.replace("-", ""), "ts": ts,
            "ts_nodash": raw.get("ts_nodash") or (
                moment.strftime("%Y%m%dT%H%M%S") if moment else ds.replace("-", "")),
            "ts_nodash_with_tz": raw.get("ts_nodash_with_tz")
            or ts.replace("-", "").replace(":", ""),
            "task_instance_key_str": f"{ti.dag_id}__{ti.task_id}__{ds.replace('-', '')}",
        })
    return context


def call_kwargs(func: Callable[..., Any], args: list[Any], kwargs: Mapping[str, Any],
                context: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments to call ``func`` with: ``kwargs`` plus context values.

    Airflow's rule: a ``**kwargs`` function receives the whole context; otherwise a parameter
    named like a context key that no argument fills receives that context value. Values the
    caller gave always win.
    """
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins: nothing to inject
        return dict(kwargs)
    positional = [p.name for p in parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:len(args)]
    taken = set(kwargs) | set(positional)
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        extra = {k: v for k, v in context.items() if k not in taken}
    else:
        extra = {name: context[name] for name, p in parameters.items()
                 if name in context and name not in taken
                 and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {**extra, **kwargs}


def branch_targets(value: Any) -> list[str]:
    """A branch callable's result as a list of task ids (``None`` → follow nothing)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set, frozenset)) and all(
            isinstance(v, str) for v in value):
        return list(value)
    raise TypeError("a branch callable must return a task id, a list of task ids or None, "
                    f"got {value!r}")
