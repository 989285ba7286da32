"""Sensors: tasks that wait for something, with Airflow's names and arguments.

A sensor compiles to ``"operator": "sensor"`` and a ``sensor`` object in dag.json (see
docs/sensors.md). Where the wait needs no user code (a time, a file, an HTTP answer, another
DAG's task), the sensor carries a *trigger*: the control plane waits for it and no process
runs at all. Otherwise ``poke(context)`` runs in the task's process, in a loop (``mode=
"poke"``, the slot is held) or once per reschedule (``mode="reschedule"``, the slot is free
between pokes). Standard library only.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from datetime import time as dt_time
from typing import Any, ClassVar

from leoflow.sdk.baseoperator import BaseOperator, is_building_mapped
from leoflow.sdk.errors import (
    AirflowException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    DagDefinitionError,
)
from leoflow.sdk.triggers import (
    BaseTrigger,
    DateTimeTrigger,
    ExternalTaskTrigger,
    FileTrigger,
    HttpTrigger,
    iso_moment,
)
from leoflow.sdk.xcom_arg import XComArg

MODES = ("poke", "reschedule")
DEFAULT_TIMEOUT = 7 * 24 * 3600.0  # Airflow's default: a week
TEMPLATE_MARKERS = ("{{", "{%")
_UNSET: Any = object()
# Airflow's defaults; a DAG's default_args may override them for all its sensors
SENSOR_DEFAULTS: dict[str, Any] = {
    "poke_interval": 60.0, "timeout": DEFAULT_TIMEOUT, "soft_fail": False, "mode": "poke",
    "exponential_backoff": False, "max_wait": None, "deferrable": False,
}


class PokeReturnValue:
    """What ``poke`` may return instead of a bool: done or not, and the task's XCom value."""

    def __init__(self, is_done: bool, xcom_value: Any = None) -> None:
        self.is_done = is_done
        self.xcom_value = xcom_value

    def __bool__(self) -> bool:
        return bool(self.is_done)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PokeReturnValue) and other.is_done == self.is_done
                and other.xcom_value == self.xcom_value)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PokeReturnValue(is_done={self.is_done!r}, xcom_value={self.xcom_value!r})"


def call_kwargs(func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any],
                context: dict[str, Any]) -> dict[str, Any]:
    """Context values for the parameters of ``func`` (imported here only when poking: the
    context module is not needed to compile a DAG)."""
    from leoflow.sdk.context_objects import call_kwargs as inject

    return inject(func, args, kwargs, context)


def parse_datetime(value: Any) -> datetime | None:
    from leoflow.sdk.context_objects import parse_datetime as parse

    return parse(value)


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return any(marker in value for marker in TEMPLATE_MARKERS)
    if isinstance(value, (list, tuple)):
        return any(_has_template(v) for v in value)
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    return isinstance(value, XComArg)


class BaseSensorOperator(BaseOperator):
    """Airflow's ``BaseSensorOperator``: subclass it and implement ``poke(context)``.

    ``poke`` returns a bool or a ``PokeReturnValue``. ``timeout`` (seconds or a timedelta,
    7 days by default) ends the wait with ``AirflowSensorTimeout`` and no retry, or as
    skipped with ``soft_fail=True``.
    """

    operator_kind = "sensor"
    ui_color = "#e6f1f2"
    # True for sensors whose poke is code the user wrote (a callable, a command, a subclass's
    # poke): with deferrable=True they become mode="reschedule" (docs/sensors.md)
    runs_user_code: ClassVar[bool] = True

    def __init__(self, task_id: str, *, poke_interval: Any = _UNSET, timeout: Any = _UNSET,
                 soft_fail: Any = _UNSET, mode: Any = _UNSET, exponential_backoff: Any = _UNSET,
                 max_wait: Any = _UNSET, deferrable: Any = _UNSET, silent_fail: bool = False,
                 never_fail: bool = False, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        given = {"poke_interval": poke_interval, "timeout": timeout, "soft_fail": soft_fail,
                 "mode": mode, "exponential_backoff": exponential_backoff,
                 "max_wait": max_wait, "deferrable": deferrable}
        # Airflow's precedence: the argument, else default_args (the group's, the DAG's),
        # else the built-in default
        defaults = dict(self.dag.default_args)
        if self.task_group is not None:
            defaults.update(self.task_group.inherited_default_args())
        value = {name: (arg if arg is not _UNSET else defaults.get(name, SENSOR_DEFAULTS[name]))
                 for name, arg in given.items()}
        poke_interval, timeout, mode = value["poke_interval"], value["timeout"], value["mode"]
        max_wait = value["max_wait"]
        soft_fail, exponential_backoff = value["soft_fail"], value["exponential_backoff"]
        deferrable = value["deferrable"]
        self.poke_interval = self._sensor_seconds("poke_interval", poke_interval)
        self.timeout = (None if timeout is None else
                        self._sensor_seconds("timeout", timeout))
        self.max_wait = None if max_wait is None else self._sensor_seconds("max_wait",
                                                                             max_wait)
        if mode not in MODES:
            raise DagDefinitionError(
                f"{type(self).__name__}({task_id!r}): mode must be 'poke' or 'reschedule', "
                f"got {mode!r}", file=self.fileloc, line=self.line)
        self.mode = mode
        self.soft_fail = bool(soft_fail)
        self.exponential_backoff = bool(exponential_backoff)
        self.deferrable = bool(deferrable)
        self.silent_fail = bool(silent_fail)
        self.never_fail = bool(never_fail)
        self.first_poke_at = 0.0  # set by the task runner when a reschedule sensor resumes

    def _sensor_seconds(self, name: str, value: Any) -> float:
        if isinstance(value, timedelta):
            value = value.total_seconds()
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
                value != value):
            raise DagDefinitionError(
                f"{type(self).__name__}({self.task_id!r}): {name} must be a timedelta or a "
                f"number of seconds >= 0, got {value!r}", file=self.fileloc, line=self.line)
        return float(value)

    # -- what the user implements ------------------------------------------------------------
    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        raise NotImplementedError(f"{type(self).__name__} must implement poke(context)")

    # -- compile ----------------------------------------------------------------------------
    def static_trigger(self) -> BaseTrigger | dict[str, Any] | None:
        """The trigger this sensor waits on with no process at all, or ``None``.

        Built-in sensors that need no user code override it; it is only asked when the
        trigger's arguments are known at compile time (no upstream result, no mapping).
        """
        return None

    def start_from_trigger(self) -> bool:
        """Whether dag.json carries the trigger (the control plane waits, no process)."""
        return False

    def trigger_fields(self) -> tuple[str, ...]:
        """Inputs the trigger is made of: a template or an upstream result in one of them
        means the trigger can only be made at run time (the process renders, then defers)."""
        return ()

    def _trigger_is_static(self) -> bool:
        if self.is_mapped:
            return False
        return not any(_has_template(self.op_kwargs.get(name)) for name in self.trigger_fields())

    def effective_mode(self) -> str:
        """User code asked to be deferrable runs only at each poke: reschedule mode."""
        if self.deferrable and self.runs_user_code:
            return "reschedule"
        return self.mode

    def sensor_spec(self) -> dict[str, Any]:
        """dag.json's ``sensor`` object for this task."""
        trigger = None
        if self.start_from_trigger() and self._trigger_is_static():
            made = self.static_trigger()
            trigger = made.serialize_spec() if isinstance(made, BaseTrigger) else made
        return {"mode": self.effective_mode(), "poke_interval": self.poke_interval,
                "timeout": self.timeout, "soft_fail": self.soft_fail,
                "exponential_backoff": self.exponential_backoff, "max_wait": self.max_wait,
                "trigger": trigger}

    # -- run time ---------------------------------------------------------------------------
    def apply_inputs(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Set the rendered inputs (templates, upstream results, mapped values) on the task."""
        for name, value in kwargs.items():
            setattr(self, name, value)

    def runtime_trigger(self, context: dict[str, Any]) -> BaseTrigger | None:
        """The trigger to defer to when the sensor is deferrable but its trigger could not be
        made at compile time (templates, mapping); ``None`` pokes in the process instead."""
        return None

    def execute(self, context: dict[str, Any]) -> Any:
        """Poke until done (Airflow's loop); see ``leoflow.sdk.sensor_loop``.

        The task runner sets ``first_poke_at`` (epoch seconds of this try's first poke, 0 on
        the first) so that a reschedule-mode sensor's timeout spans all its pokes.
        """
        from leoflow.sdk.sensor_loop import run_sensor

        return run_sensor(self, context, first_poke_at=self.first_poke_at)

    def execute_complete(self, context: dict[str, Any], event: Any = None) -> Any:
        """Resume after a run-time deferral: the event's status decides the outcome."""
        status = event.get("status") if isinstance(event, dict) else None
        if status == "failed":
            raise AirflowException(f"{self.task_id}: {event.get('reason') or event}")
        if status == "skipped":
            raise AirflowSkipException(f"{self.task_id}: {event.get('reason') or event}")
        return None


# -- time ---------------------------------------------------------------------------------------
class _TimeSensor(BaseSensorOperator):
    """Time sensors never need a process: they always wait in the control plane.

    Airflow's deferrable ``TimeSensor`` and ``DateTimeSensor`` defer with no timeout (their
    ``timeout`` only bounds poking): with ``deferrable=True`` (or the ``*Async`` names) they
    wait for their moment however far it is, as there. ``TimeDeltaSensor`` keeps it.
    """

    runs_user_code = False
    deferral_keeps_timeout: ClassVar[bool] = True

    def start_from_trigger(self) -> bool:
        return True

    def sensor_spec(self) -> dict[str, Any]:
        spec = super().sensor_spec()
        if self.deferrable and not self.deferral_keeps_timeout:
            spec["timeout"] = None
        return spec

    def runtime_trigger(self, context: dict[str, Any]) -> BaseTrigger | None:
        return DateTimeTrigger(self.target_moment(context))

    def target_moment(self, context: dict[str, Any]) -> datetime:
        raise NotImplementedError

    def poke(self, context: dict[str, Any]) -> bool:
        return datetime.now(timezone.utc) >= self.target_moment(context)

    def execute(self, context: dict[str, Any]) -> Any:
        # only reached for a mapped or templated-by-XCom time sensor: defer at once
        self.defer(trigger=self.runtime_trigger(context), method_name="execute_complete",
                   timeout=self.timeout)


class TimeDeltaSensor(_TimeSensor):
    """Waits until ``delta`` after the run's data interval end (its run_after without one)."""

    mappable_fields = ("delta",)

    def __init__(self, task_id: str, *, delta: timedelta | float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if delta is None and not is_building_mapped():
            raise DagDefinitionError(f"TimeDeltaSensor({task_id!r}) needs delta",
                                     file=self.fileloc, line=self.line)
        self.delta = delta
        if delta is not None:
            seconds = self._sensor_seconds("delta", delta)
            self.set_inputs(kwargs={"delta": seconds})

    def trigger_fields(self) -> tuple[str, ...]:
        return ("delta",)

    def static_trigger(self) -> dict[str, Any]:
        return {"kind": "time", "kwargs": {"delta": self.op_kwargs["delta"],
                                           "from": "data_interval_end"}}

    def target_moment(self, context: dict[str, Any]) -> datetime:
        base = context.get("data_interval_end") or context.get("run_after") or datetime.now(
            timezone.utc)
        delta = self.delta
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta or 0)
        return base + timedelta(seconds=seconds)


class TimeDeltaSensorAsync(TimeDeltaSensor):
    """Airflow's deferrable name; every time sensor already waits without a process."""


class DateTimeSensor(_TimeSensor):
    """Waits until ``target_time``: a datetime, an ISO string or a Jinja template."""

    deferral_keeps_timeout = False

    mappable_fields = ("target_time",)

    def __init__(self, task_id: str, *, target_time: datetime | str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if target_time is None:
            if not is_building_mapped():
                raise DagDefinitionError(f"DateTimeSensor({task_id!r}) needs target_time",
                                         file=self.fileloc, line=self.line)
            return
        if isinstance(target_time, datetime):
            value: Any = iso_moment(target_time)
        elif isinstance(target_time, (str, XComArg)):
            value = target_time
            if isinstance(target_time, str) and not _has_template(target_time):
                try:
                    datetime.fromisoformat(target_time.replace("Z", "+00:00"))
                except ValueError:
                    raise DagDefinitionError(
                        f"DateTimeSensor({task_id!r}): target_time {target_time!r} is neither "
                        "an ISO 8601 datetime nor a Jinja template",
                        file=self.fileloc, line=self.line) from None
        else:
            raise DagDefinitionError(
                f"DateTimeSensor({task_id!r}): target_time must be a datetime or a string, "
                f"got {type(target_time).__name__}", file=self.fileloc, line=self.line)
        self.set_inputs(kwargs={"target_time": value})

    def trigger_fields(self) -> tuple[str, ...]:
        return ()  # a template is rendered by the control plane itself

    def _trigger_is_static(self) -> bool:
        return not self.is_mapped and not isinstance(self.op_kwargs.get("target_time"),
                                                     XComArg)

    def static_trigger(self) -> dict[str, Any]:
        value = self.op_kwargs["target_time"]
        if _has_template(value):
            return {"kind": "time", "kwargs": {"template": value}}
        return {"kind": "time", "kwargs": {"moment": iso_moment(parse_datetime(value))}}

    def target_moment(self, context: dict[str, Any]) -> datetime:
        value = self.target_time if hasattr(self, "target_time") else None
        moment = parse_datetime(value)
        if moment is None:
            raise AirflowException(f"DateTimeSensor {self.task_id}: no target_time")
        return moment


class DateTimeSensorAsync(DateTimeSensor):
    """Airflow's deferrable name (every time sensor already waits without a process): as
    there, it waits for its moment with no timeout."""

    def __init__(self, task_id: str, **kwargs: Any) -> None:
        kwargs["deferrable"] = True
        super().__init__(task_id=task_id, **kwargs)


class TimeSensor(_TimeSensor):
    """Waits until ``target_time`` (a ``datetime.time``) today, in the DAG's timezone."""

    deferral_keeps_timeout = False

    def __init__(self, task_id: str, *, target_time: dt_time | str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if isinstance(target_time, str):
            try:
                target_time = dt_time.fromisoformat(target_time)
            except ValueError:
                target_time = None
        if not isinstance(target_time, dt_time):
            raise DagDefinitionError(
                f"TimeSensor({task_id!r}): target_time must be a datetime.time (or "
                f"'HH:MM[:SS]'), got {target_time!r}", file=self.fileloc, line=self.line)
        self.target_time = target_time

    def _zone(self) -> str:
        from leoflow.sdk.serialize import timezone_name

        return timezone_name(self.dag.start_date)

    def static_trigger(self) -> dict[str, Any]:
        return {"kind": "time", "kwargs": {
            "time_of_day": self.target_time.replace(tzinfo=None).isoformat(
                timespec="seconds"), "timezone": self._zone()}}

    def target_moment(self, context: dict[str, Any]) -> datetime:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(self._zone())
        today = datetime.now(zone).date()
        return datetime.combine(today, self.target_time.replace(tzinfo=None), tzinfo=zone)


class TimeSensorAsync(TimeSensor):
    """Airflow's deferrable name (every time sensor already waits without a process): as
    there, it waits for its moment with no timeout."""

    def __init__(self, task_id: str, **kwargs: Any) -> None:
        kwargs["deferrable"] = True
        super().__init__(task_id=task_id, **kwargs)


# -- files --------------------------------------------------------------------------------------
class FileSensor(BaseSensorOperator):
    """Waits for a file (or any file matching a glob) to exist; a folder must not be empty.

    With ``fs_conn_id``, the path is that connection's ``path`` extra joined with
    ``filepath`` and a connection that is not defined fails the task
    (``AirflowNotFoundException``), as in Airflow. Leoflow's own ``FileSensor`` has no
    connection by default (the path is used as given); the one DAG files import from
    Airflow's paths (``AirflowFileSensor`` below) defaults to ``fs_default`` as Airflow's
    does, and a fresh Airflow 3 defines none: define it (``AIRFLOW_CONN_FS_DEFAULT:
    '{"conn_type": "fs"}'`` in leoflow.yaml's ``env``, or as a connection of the DAG's
    tenant). A deferred FileSensor is checked by the control plane, which resolves the
    connection when the wait starts.
    """

    runs_user_code = False
    mappable_fields = ("filepath",)

    def __init__(self, task_id: str, *, filepath: str | None = None,
                 fs_conn_id: str | None = None, recursive: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if filepath is None:
            if not is_building_mapped():
                raise DagDefinitionError(f"FileSensor({task_id!r}) needs filepath",
                                         file=self.fileloc, line=self.line)
        elif not isinstance(filepath, (str, XComArg)) or filepath == "":
            raise DagDefinitionError(
                f"FileSensor({task_id!r}): filepath must be a non-empty string, got "
                f"{filepath!r}", file=self.fileloc, line=self.line)
        if fs_conn_id is not None and (not isinstance(fs_conn_id, str) or not fs_conn_id):
            raise DagDefinitionError(
                f"FileSensor({task_id!r}): fs_conn_id must be a connection id, got "
                f"{fs_conn_id!r}", file=self.fileloc, line=self.line)
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = bool(recursive)
        if filepath is not None:
            self.set_inputs(kwargs={"filepath": filepath})

    def start_from_trigger(self) -> bool:
        return self.deferrable

    def trigger_fields(self) -> tuple[str, ...]:
        return ("filepath",)

    def full_path(self, filepath: str) -> str:
        """Airflow's ``FileSensor.path``: the connection's base path joined with filepath
        (``filepath`` itself without a connection)."""
        from leoflow.sdk.secrets_env import get_connection

        if self.fs_conn_id is None:
            return filepath
        base = get_connection(self.fs_conn_id).extra_dejson.get("path", "") or ""
        return os.path.join(str(base), filepath)

    def static_trigger(self) -> BaseTrigger:
        # the control plane resolves fs_conn_id when the wait starts
        return FileTrigger(filepath=self.op_kwargs["filepath"], recursive=self.recursive,
                           poke_interval=self.poke_interval, fs_conn_id=self.fs_conn_id)

    def runtime_trigger(self, context: dict[str, Any]) -> BaseTrigger | None:
        if not self.deferrable:
            return None
        return FileTrigger(filepath=self.full_path(str(self.filepath)),
                           recursive=self.recursive, poke_interval=self.poke_interval)

    def poke(self, context: dict[str, Any]) -> bool:
        path = self.full_path(str(self.filepath))
        print(f"Poking for file {path}")
        for match in glob.glob(path, recursive=self.recursive):
            if os.path.isfile(match):
                print(f"Found File {match}")
                return True
            for _, _, files in os.walk(match):
                if files:
                    return True
        return False


class AirflowFileSensor(FileSensor):
    """``FileSensor`` as DAG files import it from Airflow's paths: ``fs_conn_id`` defaults
    to ``fs_default``, which must be defined, as in Airflow. (Its class name in dag.json is
    ``FileSensor``.)"""

    def __init__(self, task_id: str, *, fs_conn_id: str = "fs_default", **kwargs: Any
                 ) -> None:
        super().__init__(task_id=task_id, fs_conn_id=fs_conn_id, **kwargs)


AirflowFileSensor.__name__ = AirflowFileSensor.__qualname__ = "FileSensor"


# -- user code: a callable, a command --------------------------------------------------------------
class PythonSensor(BaseSensorOperator):
    """Calls ``python_callable(*op_args, **op_kwargs)`` until it returns a truthy value (or a
    ``PokeReturnValue`` with ``is_done``)."""

    mappable_fields = ("op_args", "op_kwargs")

    def __init__(self, task_id: str, *, python_callable: Callable[..., Any] | None = None,
                 op_args: Sequence[Any] | None = None, op_kwargs: dict[str, Any] | None = None,
                 templates_dict: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if not callable(python_callable):
            raise DagDefinitionError(
                f"{type(self).__name__}({task_id!r}): python_callable must be callable, got "
                f"{python_callable!r}", file=self.fileloc, line=self.line)
        self.python_callable = python_callable
        self.callable = python_callable
        self.templates_dict = templates_dict
        self.set_inputs(list(op_args or []), dict(op_kwargs or {}))

    def apply_inputs(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        self.op_args = list(args)
        self.op_kwargs = dict(kwargs)

    def poke(self, context: dict[str, Any]) -> bool | PokeReturnValue:
        kwargs = call_kwargs(self.python_callable, self.op_args, self.op_kwargs, context)
        return self.python_callable(*self.op_args, **kwargs)


class DecoratedSensorOperator(PythonSensor):
    """``@task.sensor``: the decorated function is the poke; ids are de-duplicated per call."""

    dedupe_task_ids: ClassVar[bool] = True
    mappable_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, task_id: str, **kwargs: Any) -> None:
        # the decorator sets the callable after construction
        BaseSensorOperator.__init__(self, task_id=task_id, **kwargs)

    @property
    def python_callable(self) -> Callable[..., Any]:
        return self.callable

    @python_callable.setter
    def python_callable(self, value: Callable[..., Any]) -> None:
        self.callable = value


class BashSensor(BaseSensorOperator):
    """Runs ``bash_command`` at each poke: exit code 0 means done (Airflow's rule)."""

    mappable_fields = ("bash_command", "env")

    def __init__(self, task_id: str, *, bash_command: str | None = None,
                 env: dict[str, str] | None = None, output_encoding: str = "utf-8",
                 retry_exit_code: int | None = None, cwd: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        if bash_command is None and not is_building_mapped():
            raise DagDefinitionError(f"BashSensor({task_id!r}) needs bash_command",
                                     file=self.fileloc, line=self.line)
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code
        self.cwd = cwd
        inputs: dict[str, Any] = {}
        if bash_command is not None:
            inputs["bash_command"] = bash_command
        if env is not None:
            inputs["env"] = env
        self.set_inputs(kwargs=inputs)

    def poke(self, context: dict[str, Any]) -> bool:
        import subprocess

        env = None if self.env is None else {**os.environ, **self.env}
        print(f"Running command: {self.bash_command}")
        completed = subprocess.run(["bash", "-c", str(self.bash_command)], env=env,
                                   cwd=self.cwd, check=False)
        code = completed.returncode
        print(f"Command exited with return code {code}")
        if self.retry_exit_code is not None and code == self.retry_exit_code:
            return False
        if self.retry_exit_code is not None and code != 0:
            raise AirflowException(f"BashSensor command failed with exit code {code}")
        return code == 0


# -- another DAG --------------------------------------------------------------------------------
class ExternalTaskSensor(BaseSensorOperator):
    """Waits for a task (or tasks, or the whole run) of another DAG's run to succeed.

    The watched run is the one whose logical date equals this run's minus
    ``execution_delta``. Only the control plane knows other runs' states, so this sensor
    always waits there (a deviation from Airflow, where poke mode holds a worker slot).
    """

    runs_user_code = False

    def __init__(self, task_id: str, *, external_dag_id: str | None = None,
                 external_task_id: str | None = None,
                 external_task_ids: Sequence[str] | None = None,
                 external_task_group_id: str | None = None,
                 allowed_states: Sequence[str] | None = None,
                 failed_states: Sequence[str] | None = None,
                 skipped_states: Sequence[str] | None = None,
                 execution_delta: timedelta | float | None = None,
                 execution_date_fn: Any = None, check_existence: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        where = f"ExternalTaskSensor({task_id!r})"
        if not isinstance(external_dag_id, str) or not external_dag_id:
            raise DagDefinitionError(f"{where} needs external_dag_id (a DAG id)",
                                     file=self.fileloc, line=self.line)
        if external_task_id is not None and external_task_ids is not None:
            raise DagDefinitionError(
                f"{where}: give external_task_id or external_task_ids, not both",
                file=self.fileloc, line=self.line)
        if execution_date_fn is not None:
            raise DagDefinitionError(
                f"{where}: execution_date_fn is not supported (the control plane cannot run "
                "user code); use execution_delta", file=self.fileloc, line=self.line)
        if external_task_group_id is not None and (external_task_id is not None
                                                   or external_task_ids is not None):
            raise DagDefinitionError(
                f"{where}: give external_task_group_id or external task ids, not both",
                file=self.fileloc, line=self.line)
        ids = ([external_task_id] if external_task_id is not None else
               None if external_task_ids is None else list(external_task_ids))
        if ids is not None and (not ids or not all(isinstance(i, str) and i for i in ids)):
            raise DagDefinitionError(f"{where}: external_task_ids must be non-empty task ids, "
                                     f"got {ids!r}", file=self.fileloc, line=self.line)
        states = {"allowed_states": list(allowed_states or ["success"]),
                  "failed_states": list(failed_states or []),
                  "skipped_states": list(skipped_states or [])}
        known = {"success", "failed", "skipped", "upstream_failed", "removed", "running",
                 "queued", "scheduled", "up_for_retry", "up_for_reschedule", "deferred",
                 "none", "restarting"}
        for name, values in states.items():
            bad = [s for s in values if str(getattr(s, "value", s)) not in known]
            if bad:
                raise DagDefinitionError(f"{where}: {name} has unknown state(s) {bad!r}",
                                         file=self.fileloc, line=self.line)
            states[name] = [str(getattr(s, "value", s)) for s in values]
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = ids
        self.external_task_group_id = external_task_group_id
        self.allowed_states = states["allowed_states"]
        self.failed_states = states["failed_states"]
        self.skipped_states = states["skipped_states"]
        self.execution_delta = (None if execution_delta is None else
                                self._sensor_seconds("execution_delta", execution_delta))
        self.check_existence = bool(check_existence)

    def start_from_trigger(self) -> bool:
        return True

    def _trigger_is_static(self) -> bool:
        return not self.is_mapped

    def static_trigger(self) -> BaseTrigger:
        return ExternalTaskTrigger(
            external_dag_id=self.external_dag_id, external_task_ids=self.external_task_ids,
            allowed_states=self.allowed_states, failed_states=self.failed_states,
            skipped_states=self.skipped_states, execution_delta=self.execution_delta,
            poke_interval=self.poke_interval, external_task_group_id=self.external_task_group_id)

    def runtime_trigger(self, context: dict[str, Any]) -> BaseTrigger | None:
        return self.static_trigger()

    def poke(self, context: dict[str, Any]) -> bool:
        raise AirflowException("ExternalTaskSensor waits in the control plane; it has no poke")


# -- HTTP ----------------------------------------------------------------------------------------
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


__all__ = [
    "AirflowRescheduleException", "AirflowSensorTimeout", "BaseSensorOperator", "BashSensor",
    "DateTimeSensor", "DateTimeSensorAsync", "DecoratedSensorOperator",
    "ExternalTaskSensor", "FileSensor", "HttpSensor", "PokeReturnValue", "PythonSensor",
    "TimeDeltaSensor", "TimeDeltaSensorAsync", "TimeSensor", "TimeSensorAsync",
]
