"""What a branch task chose: its return value turned into the task ids to follow.

Called when a branch task succeeds, before ``decisions.evaluate_run`` skips the branches it
did not follow (``branch_choices``). A value Airflow would refuse is ``InvalidBranchChoice``,
which fails the branch task with its message. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from leoflow.engine.spec.model import DagSpec, TaskSpec
from leoflow.errors import LeoflowError


class InvalidBranchChoice(LeoflowError):
    """A branch task returned something that is not a task id (or list of them) of its DAG.

    The engine fails the branch task with this message, as Airflow does."""

    def __init__(self, task_id: str, message: str, *, invalid: tuple[str, ...] = ()) -> None:
        super().__init__(f"branch task {task_id!r}: {message}")
        self.task_id = task_id
        self.invalid = invalid


def normalize_branch_choice(spec: DagSpec, task_id: str, result: Any) -> tuple[str, ...]:
    """Turn a branch callable's return value into the task ids to follow.

    Accepts what Airflow accepts: ``None`` (follow nothing), one id, or an iterable of ids; a
    task group id stands for the group's root tasks. Raises ``InvalidBranchChoice`` for
    anything else or for ids that are not tasks of the DAG.
    """
    if result is None:
        items: list[Any] = []
    elif isinstance(result, str):
        items = [result]
    elif isinstance(result, Iterable) and not isinstance(result, Mapping | bytes):
        items = list(result)
    else:
        raise InvalidBranchChoice(task_id, "must return None, a task id or a list of task "
                                  f"ids, not {type(result).__name__}")
    bad_types = [x for x in items if not isinstance(x, str)]
    if bad_types:
        raise InvalidBranchChoice(task_id, "expected task ids as strings, got "
                                  f"{', '.join(repr(x) for x in bad_types)}")
    task_ids = set(spec.task_ids)
    chosen: dict[str, None] = {}
    invalid: list[str] = []
    for item in items:
        if item in task_ids:
            chosen.setdefault(item, None)
            continue
        roots = _group_roots(spec, item)
        if roots:
            for root in roots:
                chosen.setdefault(root, None)
        else:
            invalid.append(item)
    if invalid:
        raise InvalidBranchChoice(task_id, "must name only tasks of the DAG; unknown: "
                                  f"{', '.join(sorted(invalid))}", invalid=tuple(invalid))
    return tuple(chosen)


def _group_roots(spec: DagSpec, group_id: str) -> tuple[str, ...]:
    """Tasks of group ``group_id`` (nested groups included) with no upstream inside it."""
    def inside(t: TaskSpec) -> bool:
        g = t.group_id
        return g is not None and (g == group_id or g.startswith(group_id + "."))

    members = {t.task_id for t in spec.tasks if inside(t)}
    return tuple(t.task_id for t in spec.tasks
                 if t.task_id in members and not any(u in members for u in t.upstream))
