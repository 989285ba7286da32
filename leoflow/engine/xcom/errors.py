"""Typed errors of XCom storage and input resolution.

Each carries what a user needs to fix the task that caused it (task id, key, size, the input
that could not be resolved); the scheduler turns them into a failed try with that message.
"""

from __future__ import annotations

from leoflow.errors import LeoflowError


class XComError(LeoflowError):
    """Base class of every XCom error."""


class XComTooLarge(XComError):
    """A value is above the per-value cap; nothing was stored."""

    def __init__(self, task_id: str, key: str, size: int, limit: int,
                 map_index: int = -1) -> None:
        self.task_id = task_id
        self.key = key
        self.size = size
        self.limit = limit
        self.map_index = map_index
        where = f"task {task_id!r}" + (f" [map_index {map_index}]" if map_index >= 0 else "")
        super().__init__(
            f"{where}: XCom {key!r} is {_human(size)} ({size} bytes as JSON), above the "
            f"{_human(limit)} limit; nothing was stored. Return a smaller value (a path or a "
            "URI to the data rather than the data itself)")


class XComNotSerializable(XComError):
    """A value cannot be written as JSON (NaN, infinity, an object, a non-string key)."""

    def __init__(self, task_id: str, key: str, reason: str) -> None:
        self.task_id = task_id
        self.key = key
        self.reason = reason
        super().__init__(f"task {task_id!r}: XCom {key!r} cannot be stored as JSON: {reason}")


class InputResolutionError(XComError):
    """A task's encoded input could not be turned into a value for this try."""

    def __init__(self, task_id: str, argument: str, reason: str) -> None:
        self.task_id = task_id
        self.argument = argument
        self.reason = reason
        super().__init__(f"task {task_id!r} argument {argument!r}: {reason}")


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"
