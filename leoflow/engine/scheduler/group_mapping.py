"""Mapped task groups: instance ``i`` of a task waits for instance ``i`` of its upstreams.

Every task of a mapped task group has the group's expansion (``Expansion.group``). Between
two tasks of the same group the dependency is per map index, as in Airflow: ``scale[1]``
waits only for ``add[1]``; if ``add[1]`` fails, ``scale[1]`` is ``upstream_failed`` while
``scale[0]`` and ``scale[2]`` run. Upstreams outside the group count whole, as usual.

So such a task expands as soon as its same-group upstreams have expanded and its length is
known (the group's), and its trigger rule is then decided for each instance on its own.
Pure functions over states; ``decisions.evaluate_run`` applies the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from leoflow.engine.scheduler.states import TIState
from leoflow.engine.scheduler.trigger_rules import Decision, TriggerRule, UpstreamCounts, decide
from leoflow.engine.spec.model import TaskSpec


def same_group_upstreams(tasks: Mapping[str, TaskSpec]) -> dict[str, frozenset[str]]:
    """For each task of a mapped group, its upstreams in the same group (when it has any)."""
    out: dict[str, frozenset[str]] = {}
    for tid, task in tasks.items():
        group = task.expand.group if task.expand is not None else None
        if group is None:
            continue
        ups = frozenset(up for up in task.upstream if (other := tasks.get(up)) is not None
                        and other.expand is not None and other.expand.group == group)
        if ups:
            out[tid] = ups
    return out


def instance_decisions(rule: TriggerRule, upstream: Iterable[str], same_group: frozenset[str],
                       tis: dict[int, TIState], by_task: Mapping[str, Mapping[int, TIState]],
                       candidates: list[int], length: int | None
                       ) -> tuple[int | None, list[tuple[int, Decision]]] | None:
    """``(expanded length or None, [(map index, decision)])``, or None to decide the task
    as a whole (its same-group upstreams have not expanded yet, or its length is unknown).

    When the task expands here, ``tis`` is replaced by its new instances (no state yet).
    """
    if list(tis) == [-1]:
        if any(-1 in by_task[up] for up in same_group) or length is None or length <= 0:
            return None
        tis.clear()
        tis.update(dict.fromkeys(range(length)))
        candidates = list(range(length))
        expanded: int | None = length
    else:
        expanded = None
    outside = [st for up in upstream if up not in same_group for st in by_task[up].values()]
    decisions = []
    for mi in candidates:
        inside = [by_task[up].get(mi) for up in same_group]
        decisions.append((mi, decide(rule, UpstreamCounts.of([*outside, *inside]))))
    return expanded, decisions
