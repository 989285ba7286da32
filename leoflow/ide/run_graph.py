"""The DAG page's graph for one run: tasks coloured by their state in the selected run,
task groups drawn as boxes that collapse into one node (coloured by the most telling state
of their members), and a legend of the state colours.

Mermaid lays it out in the browser; the text is re-sent only when it changes (a state, a
collapsed group). A click on a task opens its instance; a click on a collapsed group opens
it. The chips above the graph collapse and open groups.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from nicegui import ui

from leoflow.engine.spec.model import DagSpec
from leoflow.ide.grid import all_groups, group_chain, group_state
from leoflow.ide.theme import STATE_COLORS, text_color

MERMAID_CONFIG = {"securityLevel": "strict", "flowchart": {"htmlLabels": False},
                  "theme": "neutral"}
NODE_ID = re.compile(r"(?:^|-)([tg]\d+)$")
LEGEND = ("success", "running", "failed", "upstream_failed", "skipped", "up_for_retry",
          "queued", "scheduled", "deferred", "removed")


def _label(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def grouped_mermaid(spec: DagSpec, states: Mapping[str, str | None], *,
                    collapsed: Collection[str] = (), selected: str | None = None
                    ) -> tuple[str, dict[str, str]]:
    """Mermaid text and node id → task id or ``group:<id>`` (for clicks)."""
    tasks = {t.task_id: t for t in spec.tasks}
    groups = all_groups(spec)
    task_node = {task_id: f"t{i}" for i, task_id in enumerate(tasks)}
    group_node = {g: f"g{i}" for i, g in enumerate(groups)}
    nodes: dict[str, str] = {v: k for k, v in task_node.items()}
    visible: dict[str, str] = {}  # task id → the node that shows it
    hidden_in: dict[str, str] = {}  # task id → its outermost collapsed group
    for task_id, task in tasks.items():
        chain = group_chain(task.group_id)
        closed = next((g for g in chain if g in collapsed), None)
        if closed is not None:
            hidden_in[task_id] = closed
            visible[task_id] = group_node[closed]
        else:
            visible[task_id] = task_node[task_id]
    members: dict[str, list[str]] = {}
    for task_id, task in tasks.items():
        for g in group_chain(task.group_id):
            members.setdefault(g, []).append(task_id)
    lines = ["flowchart LR"]
    classes: dict[str, list[str]] = {}

    def emit_group(group: str, indent: str) -> None:
        node = group_node[group]
        if group in collapsed:
            state = group_state(members[group], states)
            label = f"{group.rsplit('.', 1)[-1]} ({len(members[group])})"
            lines.append(f'{indent}{node}[["{_label(label)}"]]')
            classes.setdefault(state or "none", []).append(node)
            nodes[node] = "group:" + group
            return
        lines.append(f'{indent}subgraph {node}["{_label(group.rsplit(".", 1)[-1])}"]')
        for child in groups:
            if "." in child and child.rsplit(".", 1)[0] == group:
                emit_group(child, indent + "  ")
        for task_id, task in tasks.items():
            if task.group_id == group:
                emit_task(task_id, indent + "  ")
        lines.append(f"{indent}end")

    def emit_task(task_id: str, indent: str) -> None:
        task = tasks[task_id]
        label = task_id.rsplit(".", 1)[-1] if task.group_id else task_id
        label += " [ ]" if task.is_mapped else ""
        shape = f'(["{_label(label)}"])' if task.operator == "empty" else f'["{_label(label)}"]'
        lines.append(f"{indent}{task_node[task_id]}{shape}")
        classes.setdefault(states.get(task_id) or "none", []).append(task_node[task_id])

    for group in groups:
        if "." not in group:
            emit_group(group, "  ")
    for task_id, task in tasks.items():
        if not task.group_id:
            emit_task(task_id, "  ")
    labels = {(e.upstream, e.downstream): e.label for e in spec.edge_labels}
    seen: set[tuple[str, str]] = set()
    for task_id, task in tasks.items():
        for up in task.upstream:
            if up not in visible:
                continue
            a, b = visible[up], visible[task_id]
            if a == b or (a, b) in seen:
                continue
            seen.add((a, b))
            text = labels.get((up, task_id))
            arrow = f"-->|{_label(text)}|" if text else "-->"
            lines.append(f"  {a} {arrow} {b}")
    for name in sorted(classes):
        fill = STATE_COLORS.get(name, "#ffffff")
        lines.append(f"  classDef st_{name} fill:{fill},color:"
                     f"{text_color(name if name != 'none' else None)},stroke:#616161")
        lines.append(f"  class {','.join(classes[name])} st_{name}")
    if selected in task_node and selected not in hidden_in:
        lines.append(f"  style {task_node[selected]} stroke:#1976d2,stroke-width:4px")
    return "\n".join(lines), nodes


class RunGraphView:
    """The graph tab: group chips, the Mermaid graph, the legend."""

    def __init__(self, *, on_task_click: Callable[[str], Awaitable[None]]) -> None:
        self.on_task_click = on_task_click
        self.spec: DagSpec | None = None
        self.states: Mapping[str, str | None] = {}
        self.collapsed: set[str] = set()
        self.selected: str | None = None
        self.nodes: dict[str, str] = {}
        self.run_label = ui.label("").classes("text-caption text-grey-7").props(
            'data-testid="graph-run"')
        self.chips = ui.row().classes("items-center gap-1")
        self.empty = ui.label("No graph yet: the DAG has not compiled.").classes(
            "text-caption text-grey-7").props('data-testid="graph-empty"')
        self.element = ui.mermaid("flowchart LR", config=MERMAID_CONFIG).classes(
            "w-full overflow-auto").props('data-testid="dag-graph"')
        self.element.on_node_click(self._clicked)
        self.element.set_visibility(False)
        with ui.row().classes("items-center gap-3 q-mt-sm").props(
                'data-testid="graph-legend"'):
            for state in LEGEND:
                with ui.row().classes("items-center gap-1 no-wrap"):
                    ui.element("span").style(
                        f"width:12px;height:12px;border-radius:3px;display:inline-block;"
                        f"background:{STATE_COLORS[state]};border:1px solid #9e9e9e")
                    ui.label(state).classes("text-caption")
            with ui.row().classes("items-center gap-1 no-wrap"):
                ui.element("span").style("width:12px;height:12px;border-radius:3px;"
                                         "display:inline-block;background:#fff;"
                                         "border:1px solid #9e9e9e")
                ui.label("no status").classes("text-caption")

    @property
    def content(self) -> str:
        return self.element.content

    def show(self, spec: DagSpec | None, states: Mapping[str, str | None] | None = None,
             run_id: str | None = None) -> None:
        self.spec = spec
        if states is not None:
            self.states = states
        self.run_label.text = f"Run {run_id}" if run_id else "No run yet: states are empty"
        self._render()

    def _render(self) -> None:
        spec = self.spec
        if spec is None or not spec.tasks:
            self.element.set_visibility(False)
            self.empty.set_visibility(True)
            self.chips.clear()
            return
        text, self.nodes = grouped_mermaid(spec, self.states, collapsed=self.collapsed,
                                           selected=self.selected)
        self.empty.set_visibility(False)
        self.element.set_visibility(True)
        if text != self.element.content:
            self.element.set_content(text)
        self.chips.clear()
        groups = all_groups(spec)
        if groups:
            with self.chips:
                ui.label("Groups:").classes("text-caption text-grey-7")
                for group in groups:
                    closed = group in self.collapsed
                    ui.chip(group, icon="chevron_right" if closed else "expand_more",
                            on_click=lambda _e, g=group: self.toggle(g)).props(
                        f'dense outline clickable data-testid="graph-group" '
                        f'data-group="{group}" data-collapsed="{str(closed).lower()}"')

    def toggle(self, group: str) -> None:
        self.collapsed.symmetric_difference_update({group})
        self._render()

    async def _clicked(self, event: Any) -> None:
        # NiceGUI names the node after Mermaid's element id, with its own prefix before it
        # ("c7_mermaid-flowchart-t3-2" gives "flowchart-t3"): the node is the last part.
        found = NODE_ID.search(str(event.node_id))
        target = self.nodes.get(found.group(1)) if found else None
        if target is None:
            return
        if target.startswith("group:"):
            self.toggle(target[len("group:"):])
            return
        self.selected = target
        self._render()
        await self.on_task_click(target)
