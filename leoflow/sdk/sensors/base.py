"""The base of every sensor: its arguments, its dag.json ``sensor`` object, its run-time face.

``BaseSensorOperator`` turns Airflow's sensor arguments (``poke_interval``, ``timeout``,
``mode``, ``soft_fail``, ``deferrable``...) into the ``sensor`` object of dag.json and decides
whether the wait happens in the control plane (a trigger) or in the task's process (a poke
loop, ``leoflow.sdk.sensor_loop``). The concrete sensors live in the sibling modules; this
one holds what they share. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from leoflow.sdk.baseoperator import BaseOperator
from leoflow.sdk.errors import AirflowException, AirflowSkipException, DagDefinitionError
from leoflow.sdk.triggers import BaseTrigger
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


def has_template(value: Any) -> bool:
    if isinstance(value, str):
        return any(marker in value for marker in TEMPLATE_MARKERS)
    if isinstance(value, (list, tuple)):
        return any(has_template(v) for v in value)
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
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
        return not any(has_template(self.op_kwargs.get(name)) for name in self.trigger_fields())

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
