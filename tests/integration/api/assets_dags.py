"""Small compiled DAGs that name assets, registered through the real ``register_dag`` (so the
asset rows, references and watchers are what a pushed DAG gets). Their tasks are ``empty``
operators: the scheduler finishes them without an agent, so runs need no environment."""

from __future__ import annotations

from typing import Any

from leoflow.engine.spec.canonical import with_content_hash


def asset(name: str, uri: str | None = None, group: str = "asset") -> dict[str, Any]:
    return {"asset": {"name": name, "uri": uri or f"s3://bucket/{name}", "group": group}}


async def register(api: Any, dag_id: str, *, schedule: dict[str, Any] | None = None,
                   outlets: list[dict[str, Any]] = (), inlets: list[dict[str, Any]] = (),
                   paused: bool = False, tenant: str = "default",
                   extras: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """One DAG with one ``empty`` task ``t`` (its outlets and inlets as given)."""
    named = [r["asset"] for r in [*outlets, *inlets, *_leaves(schedule or {})] if "asset" in r]
    assets = {a["name"]: {**a, "extra": (extras or {}).get(a["name"], {})} for a in named}
    aliases = {r["alias"]["name"]: r["alias"] for r in [*outlets, *inlets] if "alias" in r}
    task: dict[str, Any] = {"task_id": "t", "operator": "empty", "upstream": [],
                            "trigger_rule": "all_success", "inputs": {"args": [], "kwargs": {}}}
    if outlets:
        task["outlets"] = list(outlets)
    if inlets:
        task["inlets"] = list(inlets)
    document = with_content_hash({
        "schema_version": 1, "dag_id": dag_id,
        "schedule": schedule or {"kind": "none"}, "tags": [], "tasks": [task],
        "assets": list(assets.values()), "asset_aliases": list(aliases.values())})
    await api.plane.operations.register_dag(
        document, source_code="# generated\n", fileloc=f"/dags/{dag_id}.py",
        paused_on_create=paused, tenant=tenant)
    return document


def _leaves(node: dict[str, Any]) -> list[dict[str, Any]]:
    if "assets" in node:
        return _leaves(node["assets"])
    for key in ("all", "any"):
        if key in node:
            return [leaf for child in node[key] for leaf in _leaves(child)]
    return [node] if node else []
