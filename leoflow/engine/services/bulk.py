"""Airflow's bulk writes (``PATCH /variables``, ``/connections``, ``/pools``): a list of
create, update and delete actions, each over many entities, answered per action with the
keys that succeeded and the errors.

The rules are Airflow's (``BulkService``): ``action_on_existence`` (create: ``fail`` refuses
the whole action with 409 when any key exists, ``skip`` leaves existing ones, ``overwrite``
updates them) and ``action_on_non_existence`` (update and delete: ``fail`` refuses the whole
action with 404 when any key is missing, ``skip`` ignores missing ones). Each entity is
written through the resource's own single-entity rules (``BulkTarget``), so a bulk write
checks exactly what one write checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from leoflow.errors import LeoflowError

E = TypeVar("E")
ErrorStatus = Callable[[LeoflowError], int]


@dataclass(frozen=True)
class BulkTarget(Generic[E]):
    """How one resource is written: its noun for messages and its single-entity steps."""

    noun: str                                              # "variables"
    key_of: Callable[[E], str]
    exists: Callable[[str], Awaitable[bool]]
    create: Callable[[E], Awaitable[None]]
    update: Callable[[E, list[str] | None], Awaitable[None]]
    delete: Callable[[str], Awaitable[None]]
    status_of: ErrorStatus


@dataclass
class BulkOutcome:
    """What one action did: keys that succeeded, errors ``{"error", "status_code"}``."""

    success: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


async def _each(outcome: BulkOutcome, target: BulkTarget[Any], key: str,
                step: Awaitable[None]) -> None:
    try:
        await step
    except LeoflowError as exc:
        outcome.errors.append({"error": str(getattr(exc, "detail", None) or exc),
                               "status_code": target.status_of(exc)})
    else:
        outcome.success.append(key)


async def _missing(target: BulkTarget[Any], keys: Sequence[str]) -> list[str]:
    return [k for k in keys if not await target.exists(k)]


async def create(target: BulkTarget[E], entities: Sequence[E], on_existence: str
                 ) -> BulkOutcome:
    outcome = BulkOutcome()
    keys = [target.key_of(e) for e in entities]
    absent = set(await _missing(target, keys))
    existing = [k for k in keys if k not in absent]
    if existing and on_existence == "fail":
        outcome.errors.append({"error": f"The {target.noun} with these keys: "
                                        f"{set(existing)} already exist.", "status_code": 409})
        return outcome
    for entity, key in zip(entities, keys, strict=True):
        if key in absent:
            await _each(outcome, target, key, target.create(entity))
        elif on_existence == "overwrite":
            await _each(outcome, target, key, target.update(entity, None))
    return outcome


async def update(target: BulkTarget[E], entities: Sequence[E], on_non_existence: str,
                 mask: list[str] | None) -> BulkOutcome:
    outcome = BulkOutcome()
    keys = [target.key_of(e) for e in entities]
    missing = await _missing(target, keys)
    if missing and on_non_existence == "fail":
        outcome.errors.append({"error": f"The {target.noun} with these keys: "
                                        f"{set(missing)} were not found.", "status_code": 404})
        return outcome
    for entity, key in zip(entities, keys, strict=True):
        if key not in missing:
            await _each(outcome, target, key, target.update(entity, mask))
    return outcome


async def delete(target: BulkTarget[Any], keys: Sequence[str], on_non_existence: str
                 ) -> BulkOutcome:
    outcome = BulkOutcome()
    missing = await _missing(target, keys)
    if missing and on_non_existence == "fail":
        outcome.errors.append({"error": f"The {target.noun} with these keys: "
                                        f"{set(missing)} were not found.", "status_code": 404})
        return outcome
    for key in keys:
        if key not in missing:
            await _each(outcome, target, key, target.delete(key))
    return outcome
