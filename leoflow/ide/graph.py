"""The graph of a DAG as Mermaid text: tasks and edges from the compiled spec, each task
coloured by its state in one run.

Mermaid lays the graph out in the browser (left to right, as Airflow's graph view), so the
server only writes text and a state change re-sends a few hundred bytes. Task ids may hold
characters Mermaid reads as syntax (``transform.clean``), so nodes are named ``t0``, ``t1``…
and labelled with the task id; ``node_task_id`` maps a clicked node back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from leoflow.engine.spec.model import DagSpec
from leoflow.ide.theme import STATE_COLORS, text_color


@dataclass(frozen=True)
class GraphTask:
    task_id: str
    upstream: tuple[str, ...]
    operator: str = "python"
    mapped: bool = False


@dataclass(frozen=True)
class Graph:
    """What a graph shows: tasks in declaration order and labelled edges."""

    tasks: tuple[GraphTask, ...]
    edge_labels: Mapping[tuple[str, str], str]

    @classmethod
    def from_spec(cls, spec: DagSpec) -> Graph:
        return cls(
            tasks=tuple(GraphTask(t.task_id, tuple(t.upstream), t.operator, t.is_mapped)
                        for t in spec.tasks),
            edge_labels={(e.upstream, e.downstream): e.label for e in spec.edge_labels})

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(t.task_id for t in self.tasks)

    def node_ids(self) -> dict[str, str]:
        return {t.task_id: f"t{i}" for i, t in enumerate(self.tasks)}

    def node_task_id(self, node_id: str) -> str | None:
        """The task id of a Mermaid node id (``t3``), or None."""
        for task_id, node in self.node_ids().items():
            if node == node_id:
                return task_id
        return None

    def edges(self) -> list[tuple[str, str]]:
        return [(up, t.task_id) for t in self.tasks for up in t.upstream]


def _label(text: str) -> str:
    # Inside a quoted Mermaid label only the quote itself and angle brackets need escaping.
    return (text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;"))


def mermaid(graph: Graph, states: Mapping[str, str | None] | None = None, *,
            selected: str | None = None, direction: str = "LR") -> str:
    """Mermaid flowchart text for ``graph``; ``states`` maps task id → state (missing: none).

    Every task gets a class named after its state (``st_success``, ``st_none``…), so a test
    or a stylesheet can find it; the selected task gets a thicker border.
    """
    states = states or {}
    nodes = graph.node_ids()
    lines = [f"flowchart {direction}"]
    for task in graph.tasks:
        label = task.task_id + (" [ ]" if task.mapped else "")
        shape = f'(["{_label(label)}"])' if task.operator in ("empty",) else \
            f'["{_label(label)}"]'
        lines.append(f"  {nodes[task.task_id]}{shape}")
    for up, down in graph.edges():
        if up not in nodes:
            continue
        edge_label = graph.edge_labels.get((up, down))
        arrow = f"-->|{_label(edge_label)}|" if edge_label else "-->"
        lines.append(f"  {nodes[up]} {arrow} {nodes[down]}")
    used: dict[str, list[str]] = {}
    for task in graph.tasks:
        state = states.get(task.task_id)
        used.setdefault(state or "none", []).append(nodes[task.task_id])
    for name in sorted(used):
        fill = STATE_COLORS.get(name, "#ffffff")
        color = text_color(name if name != "none" else None)
        lines.append(f"  classDef st_{name} fill:{fill},color:{color},stroke:#616161")
        lines.append(f"  class {','.join(used[name])} st_{name}")
    if selected in nodes:
        lines.append(f"  style {nodes[selected]} stroke:#1976d2,stroke-width:4px")
    return "\n".join(lines)


def layers(graph: Graph) -> list[list[str]]:
    """Tasks by depth (longest path from a root): the order the grid lists them in."""
    depth: dict[str, int] = {}
    by_id = {t.task_id: t for t in graph.tasks}

    def visit(task_id: str, seen: frozenset[str] = frozenset()) -> int:
        if task_id in depth:
            return depth[task_id]
        if task_id in seen or task_id not in by_id:
            return 0
        ups = by_id[task_id].upstream
        value = 1 + max((visit(u, seen | {task_id}) for u in ups), default=-1)
        depth[task_id] = value
        return value

    for task in graph.tasks:
        visit(task.task_id)
    out: list[list[str]] = []
    for task in graph.tasks:
        level = depth[task.task_id]
        while len(out) <= level:
            out.append([])
        out[level].append(task.task_id)
    return out
