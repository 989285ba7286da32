"""The scheduler's named timers: a moment at which a work item is put on the queue.

The loop never polls; it sets a timer for what will be due (a cron tick, a retry's or a
reschedule's wake-up, a try's or a run's timeout). A timer has a name (``("cron", dag_id)``,
``("timeout", ti_id)``, ``("wakeup", dag_run_id)``, ``("run_timeout", dag_run_id)``), so that
setting it again replaces it and a run that ends cancels its own. ``close`` (drain) cancels
them all and refuses new ones: a draining scheduler starts nothing on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from leoflow.engine.clock import Clock, Timer
from leoflow.engine.scheduler.work_items import WorkItem

TimerKey = tuple[str, Any]


class Timers:
    """Named one-shot timers on ``clock`` that ``put`` their item when due."""

    def __init__(self, clock: Clock, put: Callable[[WorkItem], None]) -> None:
        self._clock = clock
        self._put = put
        self._timers: dict[TimerKey, Timer] = {}
        self._closed = False

    def set(self, key: TimerKey, when: datetime, item: WorkItem) -> None:
        """Put ``item`` at ``when`` (replacing the timer of that name)."""
        self.cancel(key)
        if self._closed:
            return

        def fire() -> None:
            self._timers.pop(key, None)
            self._put(item)

        self._timers[key] = self._clock.call_at(when, fire)

    def cancel(self, key: TimerKey) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def forget(self, key: TimerKey) -> None:
        """Drop the name without cancelling (its item is being applied)."""
        self._timers.pop(key, None)

    def __contains__(self, key: TimerKey) -> bool:
        return key in self._timers

    def cancel_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def open(self) -> None:
        """Accept timers (again): the scheduler starts."""
        self._closed = False

    def close(self) -> None:
        """Cancel every timer and set no new one: the scheduler drains."""
        self._closed = True
        self.cancel_all()
