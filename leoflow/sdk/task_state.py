"""The task state store (Airflow 3.3's ``task_state_store``): values a task instance keeps
across its tries.

``context["task_state_store"]`` (or a ``task_state_store`` parameter of a ``@task``) reads and
writes JSON values scoped to this task instance: its DAG, run, task and map index. They live
in the control plane, so a retry (a new process, maybe on another machine) reads what an
earlier try wrote: the job id it submitted, a checkpoint. Each call is a request to the agent
over the channel, which makes a ``TaskState`` gRPC call with the try's own token: user code
never names a scope, so it can reach no other task's state.

Airflow 3.3.2's store has the synchronous methods only (``get``, ``set``, ``delete``,
``clear``); ``aget``/``aset`` came later, and an async task calling them fails with an
``AttributeError`` there. Leoflow answers the same way (docs/airflow-compat.md).

Standard library only: this runs in the DAG's own interpreter.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Protocol

OP_TASK_STATE = "task_state"  # the channel request (leoflow.sdk.channel's protocol)
MAX_KEY_CHARS = 512
ASYNC_METHODS = frozenset({"aget", "aset", "adelete", "aclear"})


class _NeverExpire:
    """``NEVER_EXPIRE``: a value kept as long as its run (no retention sweep)."""

    _instance: _NeverExpire | None = None

    def __new__(cls) -> _NeverExpire:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEVER_EXPIRE"

    def __reduce__(self) -> str:
        return "NEVER_EXPIRE"


NEVER_EXPIRE = _NeverExpire()


class _Requester(Protocol):
    def request(self, op: str, **fields: Any) -> Any: ...


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"task_state_store keys are non-empty strings, got {key!r}")
    if len(key) > MAX_KEY_CHARS:
        raise ValueError(f"task_state_store key is {len(key)} characters long; at most "
                         f"{MAX_KEY_CHARS} are allowed")
    return key


def _retention(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if value is NEVER_EXPIRE:
        return {"never_expire": True}
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError("task_state_store.set(retention=...) takes a timedelta, a number of "
                        f"seconds or NEVER_EXPIRE, got {value!r}")
    if seconds < 0:
        raise ValueError(f"task_state_store.set(retention=...) must not be negative, got "
                         f"{value!r}")
    return {"retention_seconds": seconds}


class TaskStateStore:
    """``task_state_store``: ``get``, ``set``, ``delete``, ``clear`` for this task instance."""

    def __init__(self, channel: _Requester) -> None:
        self._channel = channel

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` by this or an earlier try, or ``default``."""
        answer = self._channel.request(OP_TASK_STATE, action="get", key=_check_key(key))
        if not isinstance(answer, dict) or not answer.get("found"):
            return default
        return answer.get("value")

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        """Store ``value`` (JSON data) under ``key``, replacing what was there.

        ``retention``: how long to keep it (a timedelta or seconds); ``None`` keeps it for
        the default retention (30 days, as Airflow's ``default_retention_days``);
        ``NEVER_EXPIRE`` keeps it as long as the run exists.
        """
        _check_key(key)
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise TypeError(f"task_state_store.set({key!r}): a value of type "
                            f"{type(value).__name__} is not JSON-serializable") from None
        self._channel.request(OP_TASK_STATE, action="set", key=key, value=value,
                              **_retention(retention))

    def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens when it holds no value)."""
        self._channel.request(OP_TASK_STATE, action="delete", key=_check_key(key))

    def clear(self) -> None:
        """Forget every key of this task instance."""
        self._channel.request(OP_TASK_STATE, action="clear", key="")

    def __getattr__(self, name: str) -> Any:
        if name in ASYNC_METHODS:
            raise AttributeError(
                f"'TaskStateStore' object has no attribute {name!r}: Airflow 3.3's task state "
                f"store is synchronous (get, set, delete, clear); call "
                f"task_state_store.{name[1:]}(...) instead, also in an async task")
        raise AttributeError(f"'TaskStateStore' object has no attribute {name!r}")

    def __repr__(self) -> str:
        return "<TaskStateStore>"
