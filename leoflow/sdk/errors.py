"""Exceptions a DAG author meets, with Airflow's names so existing code keeps working."""

from __future__ import annotations

from typing import Any

from leoflow.errors import LocatedError


class AirflowException(Exception):
    """Base of Airflow's exceptions; raising it in a task fails the task (retries apply)."""


class AirflowSkipException(AirflowException):
    """Raised inside a task to end it as ``skipped`` instead of failed."""


class AirflowFailException(AirflowException):
    """Raised inside a task to fail it at once, without using the remaining retries."""


class DagDefinitionError(LocatedError):
    """A mistake in how a DAG is written (bad id, bad argument, bad dependency).

    Raised while the DAG file runs, and carries the user's file and line of the statement
    that made the mistake.
    """


class DuplicateTaskIdFound(DagDefinitionError):
    """Two tasks of one DAG were given the same explicit ``task_id``."""


class AirflowSensorTimeout(AirflowException):
    """A sensor waited longer than its ``timeout``: the task fails without retrying."""


class AirflowRescheduleException(AirflowException):
    """A reschedule-mode sensor is not done: free the slot and poke again at ``reschedule_date``.

    ``reschedule_date`` is an aware ``datetime`` (Airflow's shape) or epoch seconds.
    """

    def __init__(self, reschedule_date: Any) -> None:
        super().__init__(f"rescheduled to {reschedule_date}")
        self.reschedule_date = reschedule_date


class TaskDeferred(BaseException):
    """Raised by ``self.defer(...)``: the task waits in the control plane for ``trigger``.

    A ``BaseException`` (as in Airflow) so that a user's ``except Exception`` around the call
    does not swallow the deferral.
    """

    def __init__(self, *, trigger: Any, method_name: str, kwargs: dict[str, Any] | None = None,
                 timeout: Any = None) -> None:
        super().__init__(f"deferred to {trigger!r}, resuming in {method_name}")
        self.trigger = trigger
        self.method_name = method_name
        self.kwargs = kwargs
        self.timeout = timeout


class TaskDeferralTimeout(AirflowException):
    """A deferral's own ``timeout`` passed before its trigger fired (retries apply)."""
