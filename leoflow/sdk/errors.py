"""Exceptions a DAG author meets, with Airflow's names so existing code keeps working."""

from __future__ import annotations

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


class TaskDeferred(AirflowException):
    """Reserved for deferrable operators (not supported yet)."""
