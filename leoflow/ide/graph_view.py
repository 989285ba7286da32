"""The DAG graph as a page element: Mermaid text from ``graph.py``, re-sent when the spec
or a state changes (Mermaid re-renders only when the text differs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from nicegui import ui

from leoflow.engine.spec.model import DagSpec
from leoflow.ide.graph import Graph, mermaid

MERMAID_CONFIG = {"securityLevel": "strict", "flowchart": {"htmlLabels": False},
                  "theme": "neutral"}


class GraphView:
    def __init__(self, *, on_task_click: Callable[[str], Awaitable[None] | None] | None = None
                 ) -> None:
        self.graph: Graph | None = None
        self.states: Mapping[str, str | None] = {}
        self.selected: str | None = None
        self.on_task_click = on_task_click
        self.empty = ui.label("No graph yet: the DAG has not compiled.").classes(
            "text-caption text-grey-7").props('data-testid="graph-empty"')
        self.element = ui.mermaid("flowchart LR", config=MERMAID_CONFIG).classes(
            "w-full overflow-auto").props('data-testid="dag-graph"')
        self.element.on_node_click(self._clicked)
        self.element.set_visibility(False)

    @property
    def content(self) -> str:
        return self.element.content

    def show(self, spec: DagSpec | None, states: Mapping[str, str | None] | None = None,
             selected: str | None = None) -> None:
        self.graph = Graph.from_spec(spec) if spec is not None else None
        if states is not None:
            self.states = states
        if selected is not None:
            self.selected = selected
        self._render()

    def set_states(self, states: Mapping[str, str | None]) -> None:
        self.states = states
        self._render()

    def _render(self) -> None:
        if self.graph is None or not self.graph.tasks:
            self.element.set_visibility(False)
            self.empty.set_visibility(True)
            return
        text = mermaid(self.graph, self.states, selected=self.selected)
        self.empty.set_visibility(False)
        self.element.set_visibility(True)
        if text != self.element.content:
            self.element.set_content(text)

    async def _clicked(self, event: Any) -> None:
        if self.graph is None or self.on_task_click is None:
            return
        task_id = self.graph.node_task_id(event.node_id)
        if task_id is None:
            return
        self.selected = task_id
        self._render()
        result = self.on_task_click(task_id)
        if result is not None:
            await result
