"""The DAG Dependencies graph (Airflow's ``/ui/dependencies``): which DAG updates an asset,
which asset schedules a DAG, which DAG triggers or waits for another, in the nodes and
edges Airflow 3.3's ``get_scheduling_dependencies`` answers.

Nodes are ``{"id", "label", "type"}``: ``dag:<dag_id>`` (type ``dag``), ``asset:<id>``
(type ``asset``, labelled with its name), ``trigger:<dag>:<triggered dag>:<task_id>``
(a ``TriggerDagRunOperator``) and ``sensor:<watched dag>:<dag>:<task_id>`` (an
``ExternalTaskSensor`` whose spec names the DAG it watches). Edges are
``{"source_id", "target_id"}``, sorted. Only the tenant's current, non-stale DAGs count;
a DAG with no such link is not drawn, as in Airflow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from leoflow.engine.services.asset_dependencies import asset_dependencies
from leoflow.engine.services.dag_views import spec_of
from leoflow.engine.services.errors import ServiceError
from leoflow.engine.spec.model import DagSpec, TaskSpec
from leoflow.engine.store import Store, dags, listings
from leoflow.engine.store import assets as st

Graph = dict[str, list[dict[str, Any]]]


class NodeNotFound(ServiceError):
    """The node asked for is in no connected part of the graph."""

    status = 404


def _literal(task: TaskSpec, name: str) -> str | None:
    """A task argument given as a plain string (a template or an expression is not known
    before the task runs, so it draws no edge)."""
    kwargs = task.inputs.get("kwargs") if isinstance(task.inputs, Mapping) else None
    value = kwargs.get(name) if isinstance(kwargs, Mapping) else None
    if isinstance(value, Mapping):
        value = value.get("literal")
    if value is None and task.sensor is not None and task.sensor.trigger is not None:
        value = task.sensor.trigger.kwargs.get(name)
    return value if isinstance(value, str) and value and "{{" not in value else None


def _task_links(dag_id: str, spec: DagSpec) -> Iterable[tuple[str, str, str, str]]:
    """(type, source dag, target dag, task_id) of each trigger and sensor of ``spec``."""
    for task in spec.tasks:
        kind = task.operator_class or ""
        if kind == "TriggerDagRunOperator" and (target := _literal(task, "trigger_dag_id")):
            yield "trigger", dag_id, target, task.task_id
        elif kind == "ExternalTaskSensor" and (source := _literal(task, "external_dag_id")):
            yield "sensor", source, dag_id, task.task_id


async def scheduling_graph(store: Store, *, tenant: str) -> Graph:
    """The whole graph of the tenant's DAGs."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: set[tuple[str, str]] = set()

    def dag_node(dag_id: str) -> str:
        node_id = f"dag:{dag_id}"
        nodes.setdefault(node_id, {"id": node_id, "label": dag_id, "type": "dag"})
        return node_id

    async with store.connect() as conn:
        rows = (await dags.list_dags(conn, tenant=tenant, stale=False, limit=None)).items
        versions = await listings.versions_by_id(
            conn, (d.current_version_id for d in rows if d.current_version_id))
        found, _ = await st.list_assets(conn, tenant=tenant)
        links = await asset_dependencies(conn, tenant=tenant, asset_ids=[a.id for a in found])
    for asset in found:
        link = links.get(asset.id, {})
        producers = sorted({dag_id for dag_id, _ in link.get("producing_tasks", [])})
        consumers = sorted(set(link.get("consuming_dags", [])))
        if not producers and not consumers:
            continue
        asset_node = f"asset:{asset.id}"
        nodes[asset_node] = {"id": asset_node, "label": asset.name, "type": "asset"}
        edges.update((dag_node(p), asset_node) for p in producers)
        edges.update((asset_node, dag_node(c)) for c in consumers)
    for row in sorted(rows, key=lambda r: r.dag_id):
        version = versions.get(row.current_version_id or "")
        if version is None:
            continue
        for kind, source, target, task_id in _task_links(row.dag_id, spec_of(version)):
            node_id = f"{kind}:{source}:{target}:{task_id}"
            nodes.setdefault(node_id, {"id": node_id, "label": task_id, "type": kind})
            edges.add((dag_node(source), node_id))
            edges.add((node_id, dag_node(target)))
    ordered = sorted(nodes.values(), key=lambda n: (n["type"] != "dag", n["id"]))
    return {"nodes": ordered,
            "edges": [{"source_id": s, "target_id": t} for s, t in sorted(edges)]}


def connected_part(graph: Graph, node_id: str) -> Graph:
    """The part of ``graph`` linked to ``node_id`` (Airflow's
    ``extract_single_connected_component``); ``NodeNotFound`` when it has no edge."""
    around: dict[str, set[str]] = defaultdict(set)
    for edge in graph["edges"]:
        around[edge["source_id"]].add(edge["target_id"])
        around[edge["target_id"]].add(edge["source_id"])
    if node_id not in around:
        raise NodeNotFound(f"Unique connected component not found for node {node_id}")
    seen, todo = {node_id}, [node_id]
    while todo:
        for other in around[todo.pop()] - seen:
            seen.add(other)
            todo.append(other)
    return {"nodes": [n for n in graph["nodes"] if n["id"] in seen],
            "edges": [e for e in graph["edges"] if e["source_id"] in seen]}


SEPARATOR = "__SEPARATOR__"  # Airflow's, between a task node's DAG and task ids


async def data_graph(store: Store, *, tenant: str, asset_id: int) -> Graph:
    """One asset with the tasks that update it (``task -> asset``) and read it as an inlet
    (``asset -> task``), Airflow's ``dependency_type=data`` answer; ``NodeNotFound`` for an
    asset the tenant does not have."""
    async with store.connect() as conn:
        found, _ = await st.list_assets(conn, tenant=tenant, ids=[asset_id])
        if not found:
            raise NodeNotFound(f"Asset with id {asset_id} was not found")
        link = (await asset_dependencies(conn, tenant=tenant, asset_ids=[asset_id]))[asset_id]
    asset_node = f"asset:{asset_id}"
    nodes = {asset_node: {"id": asset_node, "label": found[0].name, "type": "asset"}}
    edges: set[tuple[str, str]] = set()
    for key, upstream in (("producing_tasks", True), ("reading_tasks", False)):
        for dag_id, task_id in link[key]:
            task_node = f"task:{dag_id}{SEPARATOR}{task_id}"
            nodes[task_node] = {"id": task_node, "label": f"{dag_id}.{task_id}",
                                "type": "task"}
            edges.add((task_node, asset_node) if upstream else (asset_node, task_node))
    return {"nodes": list(nodes.values()),
            "edges": [{"source_id": s, "target_id": t} for s, t in sorted(edges)]}
