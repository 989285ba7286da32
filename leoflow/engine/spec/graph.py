"""Graph rules of a DAG: every upstream exists, and there is no cycle (naming its tasks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leoflow.engine.spec.errors import GraphError


def check_graph(dag_id: str, tasks: Sequence[Mapping[str, Any]], *,
                file: str | None = None) -> None:
    """Raise ``GraphError`` for a duplicate id, an unknown upstream or a cycle."""
    ids: dict[str, Mapping[str, Any]] = {}
    for task in tasks:
        if task["task_id"] in ids:
            raise GraphError(f"DAG {dag_id!r}: task_id {task['task_id']!r} is used twice",
                             file=file, line=task.get("line"), tasks=(task["task_id"],))
        ids[task["task_id"]] = task
    for task in tasks:
        for up in task["upstream"]:
            if up not in ids:
                raise GraphError(
                    f"DAG {dag_id!r}: task {task['task_id']!r} depends on unknown task "
                    f"{up!r} (not a task of this DAG)", file=file, line=task.get("line"),
                    tasks=(task["task_id"], up))
    cycle = find_cycle({t["task_id"]: list(t["upstream"]) for t in tasks})
    if cycle:
        path = " -> ".join([*cycle, cycle[0]])
        raise GraphError(f"DAG {dag_id!r} has a cycle: {path}", file=file,
                         line=ids[cycle[0]].get("line"), tasks=tuple(cycle))


def find_cycle(upstream: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One cycle as a list of task ids in edge order, or None. Iterative, O(V+E)."""
    downstream: dict[str, list[str]] = {t: [] for t in upstream}
    for task, ups in upstream.items():
        for up in ups:
            downstream.setdefault(up, []).append(task)
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(downstream, white)
    for start in downstream:
        if color[start] != white:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        color[start] = grey
        while stack:
            node, index = stack[-1]
            children = downstream[node]
            if index < len(children):
                stack[-1] = (node, index + 1)
                child = children[index]
                if color[child] == grey:
                    return path[path.index(child):]
                if color[child] == white:
                    color[child] = grey
                    stack.append((child, 0))
                    path.append(child)
            else:
                color[node] = black
                stack.pop()
                path.pop()
    return None
