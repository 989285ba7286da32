"""The task graph of a DAG version as the scheduling rules read it, computed once per version.

``DagGraph`` holds what ``decisions.evaluate_run`` needs from a spec: the topological order,
upstreams and downstreams, parsed trigger rules, mapping dependencies, short-circuit options
and the setup/teardown structure. A spec version is immutable and evaluated on every event of
every run pinned to it, so ``graph_of`` builds its graph once. A graph that cannot be
scheduled (an unknown upstream, a cycle) is ``InvalidGraph``. Pure: no I/O.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from leoflow.engine.scheduler.group_mapping import same_group_upstreams
from leoflow.engine.scheduler.mapping import literal_expansion_length, mapping_dependencies
from leoflow.engine.scheduler.setup_teardown import SetupTeardownGraph
from leoflow.engine.scheduler.trigger_rules import TriggerRule, parse_rule
from leoflow.engine.spec.model import DagSpec, TaskSpec
from leoflow.errors import LeoflowError


class InvalidGraph(LeoflowError):
    """The spec's task graph cannot be scheduled (an unknown upstream or a cycle).

    The compiler rejects such specs, so this means a spec that bypassed it."""

    def __init__(self, message: str, *, tasks: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.tasks = tasks


@dataclass(frozen=True)
class DagGraph:
    """What the scheduling rules need from a spec, computed once per spec version.

    ``evaluate_run`` builds one from the spec when not given one; a caller evaluating the same
    DAG version many times may build it once with ``DagGraph.of(spec)`` and pass it along.
    """

    tasks: Mapping[str, TaskSpec]
    order: tuple[str, ...]
    upstream: Mapping[str, tuple[str, ...]]
    downstream: Mapping[str, tuple[str, ...]]
    leaves: frozenset[str]
    rules: Mapping[str, TriggerRule]
    map_deps: Mapping[str, tuple[str, ...]]
    literal_lengths: Mapping[str, int | None]
    short_circuit_all: Mapping[str, bool]
    # setup/teardown (see ``setup_teardown``): the setup tasks, each task's indirect relevant
    # setups, and the tasks whose states decide the run's (the leaves, teardowns aside)
    setups: frozenset[str] = frozenset()
    indirect_setups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    state_leaves: frozenset[str] | None = None
    # tasks of a mapped task group and their upstreams in the same group: per map index
    group_ups: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: DagSpec) -> DagGraph:
        tasks = {t.task_id: t for t in spec.tasks}
        downstream: dict[str, list[str]] = {tid: [] for tid in tasks}
        indegree = dict.fromkeys(tasks, 0)
        for t in spec.tasks:
            for up in t.upstream:
                if up not in tasks:
                    raise InvalidGraph(f"task {t.task_id!r} depends on unknown task {up!r}",
                                       tasks=(t.task_id, up))
                downstream[up].append(t.task_id)
                indegree[t.task_id] += 1
        # Kahn's algorithm, seeded in declaration order so the order is stable and readable.
        ready = deque(tid for tid in tasks if indegree[tid] == 0)
        order: list[str] = []
        while ready:
            tid = ready.popleft()
            order.append(tid)
            for down in downstream[tid]:
                indegree[down] -= 1
                if indegree[down] == 0:
                    ready.append(down)
        if len(order) != len(tasks):
            stuck = tuple(tid for tid in tasks if indegree[tid] > 0)
            raise InvalidGraph(f"the task graph has a cycle through {', '.join(stuck)}",
                               tasks=stuck)
        options = _short_circuit_options(spec)
        st = SetupTeardownGraph.of(spec)
        return cls(
            tasks=MappingProxyType(tasks),
            order=tuple(order),
            upstream=MappingProxyType({tid: tuple(dict.fromkeys(t.upstream))
                                       for tid, t in tasks.items()}),
            downstream=MappingProxyType({k: tuple(v) for k, v in downstream.items()}),
            leaves=frozenset(tid for tid, v in downstream.items() if not v),
            rules=MappingProxyType({tid: parse_rule(t.trigger_rule, task_id=tid)
                                    for tid, t in tasks.items()}),
            map_deps=MappingProxyType({tid: mapping_dependencies(t)
                                       for tid, t in tasks.items() if t.is_mapped}),
            literal_lengths=MappingProxyType({tid: literal_expansion_length(t)
                                              for tid, t in tasks.items() if t.is_mapped}),
            short_circuit_all=MappingProxyType(options),
            setups=st.setups,
            indirect_setups=MappingProxyType(
                {tid: ind for tid in order if (ind := st.indirect_setups(tid))}
                if st.active else {}),
            state_leaves=st.state_leaves() if st.active else None,
            group_ups=MappingProxyType(same_group_upstreams(tasks)),
        )

    def descendants(self, starts: Iterable[str]) -> set[str]:
        """Every task downstream of ``starts`` (transitively), ``starts`` excluded."""
        seen: set[str] = set()
        queue = deque(s for s in starts if s in self.downstream)
        while queue:
            for down in self.downstream[queue.popleft()]:
                if down not in seen:
                    seen.add(down)
                    queue.append(down)
        return seen


_GRAPHS: dict[int, tuple[weakref.ref[DagSpec], DagGraph]] = {}


def graph_of(spec: DagSpec) -> DagGraph:
    """``DagGraph.of(spec)``, remembered for as long as ``spec`` lives.

    A spec version is immutable and evaluated again on every event of every run pinned to it,
    so its graph is built once. (Specs are not hashable, hence the identity-keyed table that
    drops an entry when its spec is collected.)
    """
    entry = _GRAPHS.get(id(spec))
    if entry is not None and entry[0]() is spec:
        return entry[1]
    graph = DagGraph.of(spec)
    key = id(spec)
    _GRAPHS[key] = (weakref.ref(spec, lambda _ref: _GRAPHS.pop(key, None)), graph)
    return graph


def _short_circuit_options(spec: DagSpec) -> dict[str, bool]:
    """``ignore_downstream_trigger_rules`` per short-circuit task (default True, as Airflow).

    ``TaskSpec`` does not carry operator options, so they are read from the raw document.
    """
    raw_tasks = {t.get("task_id"): t for t in spec.raw.get("tasks", ()) if isinstance(t, Mapping)}
    out: dict[str, bool] = {}
    for t in spec.tasks:
        if t.operator != "short_circuit":
            continue
        value: Any = (raw_tasks.get(t.task_id, {}).get("options") or {}).get(
            "ignore_downstream_trigger_rules", True)
        if isinstance(value, Mapping) and "literal" in value:
            value = value["literal"]
        out[t.task_id] = bool(value)
    return out
