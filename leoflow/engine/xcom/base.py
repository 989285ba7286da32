"""The XCom backend protocol and what every backend shares: the size cap, the TTL, encoding.

An XCom value is JSON addressed by (dag run, task, map index, key). Backends differ in where
the value lives (the metadata database, Redis) but not in behaviour, which one test suite
checks against each of them:

* a value above ``max_value_bytes`` (256 KB by default, measured on its compact JSON
  encoding, the form every backend stores) raises ``XComTooLarge`` and stores nothing;
* a value that is not JSON (NaN, an object) raises ``XComNotSerializable``;
* pushing the same address again replaces the value;
* a stored ``null`` is a value (``XComValue(None)``), distinct from an absent one (``None``);
* with a TTL (7 days by default, 0 = keep forever) a value reads as absent once it expires,
  and ``sweep`` reclaims the space where the backend needs it.

``conn`` lets a caller that holds a SQL transaction write or read inside it (the scheduler
storing a result and changing a task's state in one commit); backends without transactions
ignore it.
"""

from __future__ import annotations

import builtins
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from leoflow.engine.store.rows import Page
from leoflow.engine.xcom.errors import XComNotSerializable, XComTooLarge

RETURN_VALUE = "return_value"  # Airflow's XCOM_RETURN_KEY
MAX_VALUE_BYTES = 256 * 1024
DEFAULT_TTL_SECONDS = 7 * 24 * 3600.0

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class XComValue:
    """A stored value; wrapping it keeps a stored ``null`` apart from "nothing stored"."""

    value: Any
    created_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class XComEntry:
    """One value as listed (for the API); the same shape whatever the backend."""

    dag_run_id: int
    task_id: str
    map_index: int
    key: str
    value: Any
    created_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True)
class XComPolicy:
    """The limits every backend applies. ``ttl_seconds`` 0 keeps values until deleted."""

    max_value_bytes: int = MAX_VALUE_BYTES
    ttl_seconds: float = DEFAULT_TTL_SECONDS

    def __post_init__(self) -> None:
        if self.max_value_bytes <= 0:
            raise ValueError(f"max_value_bytes must be positive, got {self.max_value_bytes}")
        if self.ttl_seconds < 0 or math.isnan(self.ttl_seconds):
            raise ValueError(f"ttl_seconds must be 0 (keep) or positive, got {self.ttl_seconds}")

    def expires_at(self, now: datetime) -> datetime | None:
        return now + timedelta(seconds=self.ttl_seconds) if self.ttl_seconds else None

    def encode(self, value: Any, *, task_id: str, key: str, map_index: int = -1) -> str:
        """The compact JSON text of ``value``, after checking it against the cap."""
        text = encode_json(value, task_id=task_id, key=key)
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > self.max_value_bytes:
            raise XComTooLarge(task_id, key, size, self.max_value_bytes, map_index)
        return text


def encode_json(value: Any, *, task_id: str, key: str) -> str:
    """Compact JSON (the measure of the cap); typed error instead of TypeError/ValueError."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise XComNotSerializable(task_id, key, str(exc)) from exc


class XComBackend(Protocol):
    """Where XCom values live. Every method is safe to call concurrently."""

    policy: XComPolicy

    async def push(self, *, dag_run_id: int, task_id: str, map_index: int = -1,
                   key: str = RETURN_VALUE, value: Any, conn: Any = None) -> int:
        """Store (or replace) one value; returns its size in bytes as stored (compact JSON).

        Raises ``XComTooLarge`` or ``XComNotSerializable`` and stores nothing.
        """

    async def get(self, dag_run_id: int, task_id: str, key: str = RETURN_VALUE,
                  map_index: int = -1, conn: Any = None) -> XComValue | None:
        """The live value at that address, or ``None`` when there is none (or it expired)."""

    async def get_mapped(self, dag_run_id: int, task_id: str, key: str = RETURN_VALUE,
                         conn: Any = None) -> dict[int, Any]:
        """Every live value of a task by map index (a mapped task's results)."""

    async def delete_task(self, dag_run_id: int, task_id: str, map_index: int | None = None,
                          conn: Any = None, key: str | None = None) -> int:
        """Delete a task's values (one map index, or all; one key, or all); used when a task
        is cleared, and by ``DELETE …/xcomEntries/{key}``. Returns how many."""

    async def sweep(self, now: datetime | None = None) -> int:
        """Delete expired values; returns how many (0 where the backend expires natively)."""

    async def close(self) -> None:
        """Release connections the backend opened itself."""

    async def list(self, *, dag_run_id: int | None = None, task_id: str | None = None,
                   key: str | None = None, map_index: int | None = None,
                   limit: int | None = 100, offset: int = 0, conn: Any = None
                   ) -> Page[XComEntry]:
        """Live values matching the filters (``None`` = any), ordered by run, task, map
        index and key; one page and the total."""


def mapped_list(values: dict[int, Any]) -> builtins.list[Any]:
    """A mapped task's results as its consumers see them: ordered by map index (the
    instances 0…n-1; a value at -1, pushed before expansion, is not one of them)."""
    return [values[i] for i in sorted(values) if i >= 0]
