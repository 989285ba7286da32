"""The in-process poke loop: intervals, backoff, timeout, soft_fail and reschedule dates.

The clock is injected (``now``/``sleep``) so that a week-long timeout takes no time; the
loop's real-process behaviour is tested in tests/integration/agent/test_agent_sensors.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from leoflow import DAG, PokeReturnValue, PythonSensor
from leoflow.sdk.errors import (
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
)
from leoflow.sdk.sensor_loop import run_sensor


class Clock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.t += seconds


def sensor(results: list[Any], **kwargs: Any) -> PythonSensor:
    answers = iter(results)
    with DAG("loop"):
        return PythonSensor(task_id="s", python_callable=lambda: next(answers), **kwargs)


def test_poke_mode_sleeps_poke_interval_until_done_and_returns_the_xcom_value():
    clock = Clock()
    s = sensor([False, 0, PokeReturnValue(False), PokeReturnValue(True, {"rows": 3})],
               poke_interval=5)
    value = run_sensor(s, {}, now=clock.now, sleep=clock.sleep)
    assert value == {"rows": 3}
    assert clock.sleeps == [5.0, 5.0, 5.0]


def test_plain_true_pushes_no_xcom():
    assert run_sensor(sensor([True]), {}, now=Clock().now, sleep=Clock().sleep) is None


def test_exponential_backoff_doubles_and_max_wait_caps():
    clock = Clock()
    s = sensor([False] * 6 + [True], poke_interval=1, exponential_backoff=True, max_wait=10)
    run_sensor(s, {}, now=clock.now, sleep=clock.sleep)
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_timeout_fails_with_sensor_timeout_after_one_last_poke_at_the_deadline():
    clock = Clock()
    s = sensor([False] * 100, poke_interval=4, timeout=10)
    with pytest.raises(AirflowSensorTimeout, match="exceeds the specified timeout of 10"):
        run_sensor(s, {}, now=clock.now, sleep=clock.sleep)
    # pokes at 0, 4, 8, then right after 10 (not at 12)
    assert clock.sleeps == [4.0, 4.0, 2.01]


def test_soft_fail_skips_on_timeout():
    clock = Clock()
    with pytest.raises(AirflowSkipException, match="timed out"):
        run_sensor(sensor([False] * 10, poke_interval=1, timeout=2, soft_fail=True), {},
                   now=clock.now, sleep=clock.sleep)


def test_a_raising_poke_propagates_so_retries_apply():
    def broken() -> bool:
        raise ConnectionError("db down")

    with DAG("loop"):
        s = PythonSensor(task_id="s", python_callable=broken)
    with pytest.raises(ConnectionError):
        run_sensor(s, {}, now=Clock().now, sleep=Clock().sleep)


def test_reschedule_mode_pokes_once_and_gives_the_next_date():
    clock = Clock()
    s = sensor([False], poke_interval=30, mode="reschedule")
    with pytest.raises(AirflowRescheduleException) as caught:
        run_sensor(s, {}, now=clock.now, sleep=clock.sleep)
    assert caught.value.reschedule_date == 1_030.0
    assert clock.sleeps == []


def test_reschedule_timeout_counts_from_the_first_poke_of_the_try():
    clock = Clock(start=10_000.0)
    # first poke 95 s ago, timeout 100: the next poke is clamped to just after the deadline
    s = sensor([False], poke_interval=30, mode="reschedule", timeout=100)
    with pytest.raises(AirflowRescheduleException) as caught:
        run_sensor(s, {}, first_poke_at=9_905.0, now=clock.now, sleep=clock.sleep)
    assert caught.value.reschedule_date == pytest.approx(10_005.01)
    late = sensor([False], poke_interval=30, mode="reschedule", timeout=100)
    with pytest.raises(AirflowSensorTimeout):
        run_sensor(late, {}, first_poke_at=9_800.0, now=clock.now, sleep=clock.sleep)


def test_reschedule_backoff_grows_with_the_time_waited():
    clock = Clock(start=10_000.0)
    s = sensor([False], poke_interval=5, mode="reschedule", exponential_backoff=True)
    with pytest.raises(AirflowRescheduleException) as caught:
        run_sensor(s, {}, first_poke_at=9_960.0, now=clock.now, sleep=clock.sleep)
    assert caught.value.reschedule_date == 10_040.0


def test_deferrable_user_code_runs_in_reschedule_mode():
    clock = Clock()
    s = sensor([False], poke_interval=7, deferrable=True)
    with pytest.raises(AirflowRescheduleException) as caught:
        run_sensor(s, {}, now=clock.now, sleep=clock.sleep)
    assert caught.value.reschedule_date == 1_007.0
