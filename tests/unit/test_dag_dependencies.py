"""services.dag_dependencies: trigger and sensor links read from compiled specs, and the
connected part of the graph around one node."""

from __future__ import annotations

from pathlib import Path

import pytest

from leoflow.engine.compiler.compile import compile_project
from leoflow.engine.services.dag_dependencies import (
    NodeNotFound,
    _task_links,
    connected_part,
)
from leoflow.engine.spec.model import DagSpec

LINKS = '''
from datetime import datetime

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
from airflow.sdk import DAG

with DAG("parent", start_date=datetime(2026, 1, 1), schedule=None):
    TriggerDagRunOperator(task_id="kick", trigger_dag_id="child")
    TriggerDagRunOperator(task_id="templated", trigger_dag_id="{{ params.to }}")

with DAG("watcher", start_date=datetime(2026, 1, 1), schedule=None):
    ExternalTaskSensor(task_id="wait", external_dag_id="parent", external_task_id="kick",
                       deferrable=True)
'''


def test_trigger_and_sensor_links(tmp_path: Path) -> None:
    (tmp_path / "links.py").write_text(LINKS, "utf-8")
    compiled = compile_project(tmp_path)
    specs = {d["dag_id"]: DagSpec.from_json(d) for d in compiled.documents}
    assert list(_task_links("parent", specs["parent"])) == [
        ("trigger", "parent", "child", "kick")]  # a template names no DAG yet
    assert list(_task_links("watcher", specs["watcher"])) == [
        ("sensor", "parent", "watcher", "wait")]


def test_connected_part() -> None:
    graph = {"nodes": [{"id": i, "label": i, "type": "dag"} for i in ("dag:a", "dag:b", "dag:c",
                                                                        "dag:d")],
             "edges": [{"source_id": "dag:a", "target_id": "dag:b"},
                       {"source_id": "dag:c", "target_id": "dag:d"}]}
    part = connected_part(graph, "dag:b")
    assert [n["id"] for n in part["nodes"]] == ["dag:a", "dag:b"]
    assert part["edges"] == [{"source_id": "dag:a", "target_id": "dag:b"}]
    with pytest.raises(NodeNotFound):
        connected_part(graph, "dag:zzz")
