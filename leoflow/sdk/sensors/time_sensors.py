"""Time sensors: wait until a moment (a delta after the run, a datetime, a time of day).

They never need a process: dag.json carries a ``time`` trigger and the control plane waits
for it. Only a mapped sensor, or one whose moment comes from an upstream result, starts a
process, which defers at once. Standard library only.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from datetime import time as dt_time
from typing import Any, ClassVar

from leoflow.sdk.baseoperator import is_building_mapped
from leoflow.sdk.errors import AirflowException, DagDefinitionError
from leoflow.sdk.sensors.base import BaseSensorOperator, has_template, parse_datetime
from leoflow.sdk.triggers import BaseTrigger, DateTimeTrigger, iso_moment
from leoflow.sdk.xcom_arg import XComArg


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
            if isinstance(target_time, str) and not has_template(target_time):
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
        if has_template(value):
            return {"kind": "time", "kwargs": {"template": value}}
        moment = parse_datetime(value)
        if moment is None:  # __init__ refuses it unless the sensor is mapped
            raise DagDefinitionError(f"DateTimeSensor({self.task_id!r}) needs target_time",
                                     file=self.fileloc, line=self.line)
        return {"kind": "time", "kwargs": {"moment": iso_moment(moment)}}

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
