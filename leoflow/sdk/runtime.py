"""Run-time context of the task being executed (filled in by the task runner)."""

from __future__ import annotations

from typing import Any

_current: dict[str, Any] | None = None


def set_current_context(value: dict[str, Any] | None) -> None:
    """Called by the task runner around the user's callable."""
    global _current
    _current = value


def get_current_context() -> dict[str, Any]:
    """The running task's context (``ds``, ``logical_date``, ``params``, ``ti``, ...)."""
    if _current is None:
        raise RuntimeError(
            "get_current_context() was called outside a running task; call it inside a "
            "@task function")
    return _current
