"""The poke loop of a sensor running in its task's process (Airflow's ``execute``).

``mode="poke"`` sleeps between pokes and holds the slot; ``mode="reschedule"`` pokes once
and raises ``AirflowRescheduleException`` with the date of the next poke, so the process ends
and the slot is free. The timeout counts from the first poke of the try (for reschedule,
``first_poke_at`` carries it across processes). Standard library only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leoflow.sdk.errors import (
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

if TYPE_CHECKING:
    from leoflow.sdk.sensors import BaseSensorOperator

MIN_SLEEP = 0.01  # a poke_interval of 0 must not spin the CPU


def next_interval(sensor: BaseSensorOperator, pokes: int, elapsed: float, mode: str) -> float:
    """Seconds until the next poke after ``pokes`` unsuccessful ones.

    With ``exponential_backoff`` the wait doubles: in poke mode per poke, in reschedule mode
    (where no poke count survives between processes) it is the time waited so far, which
    doubles the same way. ``max_wait`` caps it.
    """
    interval = sensor.poke_interval
    if sensor.exponential_backoff:
        interval = (interval * 2 ** (pokes - 1) if mode == "poke"
                    else max(interval, elapsed))
    if sensor.max_wait is not None:
        interval = min(interval, sensor.max_wait)
    return interval


def timeout_message(elapsed: float, timeout: float) -> str:
    return (f"Sensor has timed out; run duration of {elapsed:.1f} seconds exceeds the "
            f"specified timeout of {timeout:g}.")


def run_sensor(sensor: BaseSensorOperator, context: dict[str, Any], *,
               first_poke_at: float = 0.0, now: Callable[[], float] = time.time,
               sleep: Callable[[float], None] = time.sleep) -> Any:
    """Poke until done; return the XCom value (a ``PokeReturnValue``'s, else ``None``)."""
    from leoflow.sdk.sensors import PokeReturnValue

    # a sensor that waits in the control plane but whose trigger was only known at run time
    # (a template, an upstream result, a mapped value): defer to it now
    trigger = sensor.runtime_trigger(context)
    if trigger is not None:
        sensor.defer(trigger=trigger, method_name="execute_complete", timeout=sensor.timeout)
    mode = sensor.effective_mode()
    started = first_poke_at if mode == "reschedule" and first_poke_at > 0 else now()
    pokes = 0
    while True:
        pokes += 1
        result = sensor.poke(context)
        if isinstance(result, PokeReturnValue):
            done, value = bool(result.is_done), result.xcom_value
        else:
            done, value = bool(result), None
        if done:
            return value
        elapsed = now() - started
        timeout = sensor.timeout
        if timeout is not None and elapsed > timeout:
            if sensor.soft_fail:
                raise AirflowSkipException(timeout_message(elapsed, timeout))
            raise AirflowSensorTimeout(timeout_message(elapsed, timeout))
        interval = next_interval(sensor, pokes, elapsed, mode)
        if timeout is not None:  # poke once more right after the deadline, not later
            interval = min(interval, max(0.0, timeout - elapsed) + MIN_SLEEP)
        if mode == "reschedule":
            print(f"not done yet; next poke in {interval:g} s (the slot is free meanwhile)")
            raise AirflowRescheduleException(now() + interval)
        sleep(max(interval, MIN_SLEEP))
