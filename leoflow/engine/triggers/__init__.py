"""Deferred tasks wait here: the trigger runner, its timer heap and the trigger kinds.

Usage (the scheduler builds and owns the runner; see docs/triggerer.md)::

    from leoflow.engine.triggers import TriggerRunner, TriggerEvent, resolve_moment

The kinds (``time``, ``file``, ``http``, ``external_task``) are code of the control plane;
no user code runs in a trigger.
"""

from leoflow.engine.triggers.base import (
    KINDS,
    PollResult,
    TriggerError,
    TriggerEvent,
)
from leoflow.engine.triggers.kinds import describe, validate
from leoflow.engine.triggers.moment import resolve_moment
from leoflow.engine.triggers.runner import TriggerLogSink, TriggerRunner
from leoflow.engine.triggers.timers import TimerHeap

__all__ = [
    "KINDS",
    "PollResult",
    "TimerHeap",
    "TriggerError",
    "TriggerEvent",
    "TriggerLogSink",
    "TriggerRunner",
    "describe",
    "resolve_moment",
    "validate",
]
