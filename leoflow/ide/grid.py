"""The rows of the grid and the nodes of the graph, as Airflow lays them out: tasks in
dependency (topological) order, task groups as collapsible parents of their members.

Pure functions over the compiled spec: the pages (``grid_view``, ``run_graph``) draw what
these return. A group's id is the dotted prefix of its members' task ids (``extract.fetch``
is in ``extract``; ``a.b.c`` in ``a.b`` in ``a``), as the SDK writes them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from leoflow.engine.spec.model import DagSpec
from leoflow.ide.theme import summarize_states


@dataclass(frozen=True)
class Row:
    """One row of the grid: a group (``members``: the task ids under it) or a task."""

    key: str  # the task id or the group id
    label: str  # what the row shows (the last part of the id)
    depth: int
    is_group: bool = False
    members: tuple[str, ...] = ()
    mapped: bool = False


def topological(spec: DagSpec) -> list[str]:
    """Task ids so that every task comes after its upstreams; ties keep the order the
    tasks were declared in (Kahn's algorithm, declaration order as the queue's order)."""
    order = [t.task_id for t in spec.tasks]
    position = {task_id: i for i, task_id in enumerate(order)}
    ups = {t.task_id: [u for u in t.upstream if u in position] for t in spec.tasks}
    downs: dict[str, list[str]] = {task_id: [] for task_id in order}
    for task_id, upstream in ups.items():
        for up in upstream:
            downs[up].append(task_id)
    waiting = {task_id: len(upstream) for task_id, upstream in ups.items()}
    ready = sorted((t for t in order if waiting[t] == 0), key=position.__getitem__)
    out: list[str] = []
    while ready:
        task_id = ready.pop(0)
        out.append(task_id)
        for down in downs[task_id]:
            waiting[down] -= 1
            if waiting[down] == 0:
                ready.append(down)
                ready.sort(key=position.__getitem__)
    out.extend(t for t in order if t not in out)  # a cycle (the compiler refuses them)
    return out


def groups_of(spec: DagSpec) -> dict[str, str | None]:
    """task id → the innermost group it belongs to (None: at the top)."""
    return {t.task_id: t.group_id for t in spec.tasks}


def group_chain(group: str | None) -> list[str]:
    """``a.b`` → ``["a", "a.b"]``: a group and the groups it is nested in, outermost first."""
    if not group:
        return []
    parts = group.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def rows(spec: DagSpec | None, extra_tasks: Iterable[str] = (),
         collapsed: Collection[str] = ()) -> list[Row]:
    """The grid's rows: tasks in topological order, each group where its first member
    comes, its members under it (left out while it is ``collapsed``). ``extra_tasks``:
    tasks of older runs that the current spec no longer has, at the end."""
    if spec is None:
        return [Row(t, t, 0) for t in extra_tasks]
    group_of = groups_of(spec)
    mapped = {t.task_id for t in spec.tasks if t.is_mapped}
    members: dict[str, list[str]] = {}
    for task_id, group in group_of.items():
        for g in group_chain(group):
            members.setdefault(g, []).append(task_id)
    out: list[Row] = []
    opened: list[str] = []  # the groups of the previous row, outermost first
    shown: set[str] = set()
    for task_id in topological(spec):
        chain = group_chain(group_of.get(task_id))
        hidden = any(g in collapsed for g in chain)
        for depth, group in enumerate(chain):
            if group in shown:
                continue
            if any(g in collapsed for g in chain[:depth]):
                break
            shown.add(group)
            out.append(Row(group, group.rsplit(".", 1)[-1], depth, True,
                           tuple(members[group])))
        opened = chain
        if not hidden:
            prefix = (opened[-1] + ".") if opened else ""
            label = task_id[len(prefix):] if prefix and task_id.startswith(prefix) else task_id
            out.append(Row(task_id, label, len(chain), mapped=task_id in mapped))
    known = set(group_of)
    out.extend(Row(t, t, 0) for t in extra_tasks if t not in known)
    return out


def group_state(members: Iterable[str], states: Mapping[str, str | None]) -> str | None:
    """A group's cell: the most telling state of its members (as a mapped task's)."""
    found = [states[m] for m in members if m in states]
    return summarize_states(found) if found else None


def all_groups(spec: DagSpec | None) -> list[str]:
    """Every group of the DAG, outermost first."""
    if spec is None:
        return []
    out: list[str] = []
    for task in spec.tasks:
        for group in group_chain(task.group_id):
            if group not in out:
                out.append(group)
    return out
