"""A DAG's structure as the Airflow UI draws it: the grid's tree of task groups and tasks,
and the graph's nodes and edges (``/ui/grid/structure``, ``/ui/structure/structure_data``),
built from the compiled spec. Pure functions: no I/O.

Groups come from each task's ``group_id`` (``outer.inner`` nests ``inner`` in ``outer``);
tasks are listed in topological order, each group where its first member comes, as
Airflow's UI lists them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from leoflow.engine.spec.model import DagSpec, TaskSpec

# Airflow's order of precedence when one state stands for several (a group, a mapped task).
STATE_PRIORITY: tuple[str | None, ...] = (
    "failed", "upstream_failed", "up_for_retry", "up_for_reschedule", "running", "restarting",
    "deferred", "awaiting_input", "queued", "scheduled", None, "success", "skipped", "removed")


def topological(spec: DagSpec) -> list[TaskSpec]:
    """The tasks, upstream before downstream, ties in the spec's order."""
    remaining = {t.task_id: t for t in spec.tasks}
    done: set[str] = set()
    out: list[TaskSpec] = []
    while remaining:
        ready = [t for t in remaining.values() if all(u in done or u not in remaining
                                                         for u in t.upstream)]
        for task in ready or list(remaining.values()):
            out.append(task)
            done.add(task.task_id)
            remaining.pop(task.task_id)
    return out


def _chain(group: str | None) -> list[str]:
    if not group:
        return []
    parts = group.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _label(node_id: str, parent: str | None) -> str:
    return node_id[len(parent) + 1:] if parent and node_id.startswith(parent + ".") else node_id


def _tree(spec: DagSpec, leaf: Any, group: Any) -> list[dict[str, Any]]:
    """Nested nodes: ``leaf(task, parent)`` for a task, ``group(id, parent, children)``."""
    roots: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    for task in topological(spec):
        siblings, parent = roots, None
        for gid in _chain(task.group_id):
            if gid not in groups:
                groups[gid] = group(gid, parent, [])
                siblings.append(groups[gid])
            siblings, parent = groups[gid]["children"], gid
        siblings.append(leaf(task, parent))
    return roots


def _setup_teardown(task: TaskSpec) -> str | None:
    return "setup" if task.is_setup else "teardown" if task.is_teardown else None


def grid_nodes(spec: DagSpec | None) -> list[dict[str, Any]]:
    """``GridNodeResponse`` items."""
    if spec is None:
        return []
    return _tree(
        spec,
        lambda t, p: {"id": t.task_id, "label": _label(t.task_id, p), "children": None,
                      "is_mapped": t.expand is not None or None,
                      "setup_teardown_type": _setup_teardown(t), "doc_md": t.doc},
        lambda g, p, c: {"id": g, "label": _label(g, p), "children": c, "is_mapped": None})


def _operator(task: TaskSpec) -> str:
    return (task.operator_class or task.operator).rsplit(".", 1)[-1]


def graph(spec: DagSpec | None) -> dict[str, Any]:
    """``StructureDataResponse``: nodes (groups with children) and task-to-task edges."""
    if spec is None:
        return {"nodes": [], "edges": []}
    nodes = _tree(
        spec,
        lambda t, p: {"id": t.task_id, "label": _label(t.task_id, p), "type": "task",
                      "children": None, "is_mapped": t.expand is not None or None,
                      "tooltip": t.doc, "setup_teardown_type": _setup_teardown(t),
                      "operator": _operator(t)},
        lambda g, p, c: {"id": g, "label": _label(g, p), "type": "task", "children": c,
                         "is_mapped": None, "tooltip": None, "operator": None})
    labels = {(e.upstream, e.downstream): e.label for e in spec.edge_labels}
    teardown = {t.task_id for t in spec.tasks if t.is_setup or t.is_teardown}
    edges = [{"source_id": u, "target_id": t.task_id, "label": labels.get((u, t.task_id)),
              "is_setup_teardown": (u in teardown and t.task_id in teardown) or None}
             for t in spec.tasks for u in t.upstream]
    return {"nodes": nodes, "edges": edges}


def agg_state(states: Iterable[str | None]) -> str | None:
    counts = Counter(states)
    return next((s for s in STATE_PRIORITY if s in counts), None)


def ti_summaries(spec: DagSpec | None, instances: Iterable[Any],
                 version_number: int | None) -> list[dict[str, Any]]:
    """``LightGridTaskInstanceSummary`` items: one per task (its map indexes folded), one per
    group (its members folded), tasks of an older version at the end."""
    by_task: dict[str, list[Any]] = {}
    for ti in instances:
        by_task.setdefault(ti.task_id, []).append(ti)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()

    def fold(node_id: str, label: str, rows: list[Any]) -> dict[str, Any]:
        starts = [r.start_date for r in rows if r.start_date is not None]
        ends = [r.end_date for r in rows if r.end_date is not None]
        states = [r.state for r in rows]
        first: datetime | None = min(starts) if starts else None
        return {"task_id": node_id, "task_display_name": label, "state": agg_state(states),
                "child_states": {(s or "none"): n for s, n in Counter(states).items()},
                "min_start_date": first, "max_end_date": max(ends) if ends else None,
                "dag_version_number": version_number,
                "has_note": any(r.note for r in rows)}

    def walk(nodes: list[dict[str, Any]]) -> list[Any]:
        rows: list[Any] = []
        for node in nodes:
            if node["children"] is not None:
                mine = walk(node["children"])
                out.append(fold(node["id"], node["id"], mine))
            else:
                mine = by_task.get(node["id"], [])
                seen.add(node["id"])
                out.append(fold(node["id"], node["label"], mine))
            rows += mine
        return rows

    walk(grid_nodes(spec))
    for task_id in sorted(set(by_task) - seen):
        out.append(fold(task_id, task_id, by_task[task_id]))
    return out
