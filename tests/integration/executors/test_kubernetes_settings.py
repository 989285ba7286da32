"""leoflow.yaml's pod settings: merged per task into dag.json, bad ones refused with
file:line. Pure (no cluster); the pod they produce is checked in test_kubernetes_executor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from leoflow.engine.compiler.compile import compile_project
from leoflow.engine.compiler.errors import CompileError
from leoflow.engine.executors import k8s_pods
from leoflow.engine.spec.model import DagSpec, TaskSpec
from leoflow.engine.spec.project import parse_project
from tests.integration.executors.k8s_fixtures import make_launch

DAG = '''
from leoflow import DAG, task

with DAG("pods", schedule=None):
    @task
    def extract():
        return 1

    @task
    def train(x):
        return x

    train(extract())
'''

PROJECT = '''dag_id: pods
image: registry.example/pods:3
kubernetes:
  resources:
    requests: {cpu: 100m, memory: 128Mi}
    limits: {memory: 256Mi}
  node_selector: {pool: batch}
  labels: {team: data}
tasks:
  train:
    kubernetes:
      resources:
        limits: {memory: 8Gi, nvidia.com/gpu: 1}
      node_selector: {gpu: "true"}
      tolerations:
        - {key: gpu, operator: Exists, effect: NoSchedule}
      service_account_name: trainer
'''


def project(tmp_path: Path, text: str = PROJECT) -> Path:
    folder = tmp_path / "pods"
    folder.mkdir(exist_ok=True)
    (folder / "dag.py").write_text(DAG)
    (folder / "leoflow.yaml").write_text(text)
    return folder


def test_defaults_and_a_tasks_own_settings_merge_into_the_spec(tmp_path: Path) -> None:
    compiled = compile_project(project(tmp_path), python=sys.executable)
    spec = DagSpec.from_json(compiled.documents[0])
    assert spec.image == "registry.example/pods:3"
    extract, train = spec.task("extract"), spec.task("train")
    assert dict(extract.kubernetes) == {
        "labels": {"team": "data"}, "node_selector": {"pool": "batch"},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"memory": "256Mi"}}}
    # maps merge key by key; the rest is the task's own
    assert dict(train.kubernetes) == {
        "labels": {"team": "data"}, "node_selector": {"pool": "batch", "gpu": "true"},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"memory": "8Gi", "nvidia.com/gpu": 1}},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "service_account_name": "trainer"}
    pod = k8s_pods.pod_manifest(make_launch("train"), train, image=spec.image or "",
                                address="leoflow:50051", namespace="etl")
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"memory": "8Gi",
                                                                   "nvidia.com/gpu": "1"}
    assert pod["spec"]["serviceAccountName"] == "trainer"
    assert "automountServiceAccountToken" not in pod["spec"]


def test_a_project_without_pod_settings_compiles_as_before(tmp_path: Path) -> None:
    compiled = compile_project(project(tmp_path, "dag_id: pods\n"), python=sys.executable)
    assert all("kubernetes" not in task for task in compiled.documents[0]["tasks"])


@pytest.mark.parametrize(("bad", "line", "field"), [
    ("      resources:\n        limits: {memory: lots}\n", 13,
     "tasks.train.kubernetes.resources.limits.memory"),
    ("      tolerations:\n        - {key: gpu, operator: Maybe}\n", 13,
     "tasks.train.kubernetes.tolerations[0].operator"),
    ("      env: {LEOFLOW_TOKEN: mine}\n", 12, "tasks.train.kubernetes.env"),
    ("      labels: {leoflow.dev/task-id: x}\n", 12, "tasks.train.kubernetes.labels"),
    ("      node_selector: {gpu: 'yes please'}\n", 12,
     "tasks.train.kubernetes.node_selector.gpu"),
    ("      runtime_class: gvisor\n", 11, "tasks.train.kubernetes"),
    # Kubernetes refuses these pods: tolerationSeconds needs NoExecute; Exists takes no value
    ("      tolerations:\n        - {key: a, effect: NoSchedule, toleration_seconds: 5}\n",
     13, "tasks.train.kubernetes.tolerations[0].effect"),
    ("      tolerations:\n        - {key: a, operator: Exists, value: b}\n", 13,
     "tasks.train.kubernetes.tolerations[0]"),
])
def test_bad_settings_name_the_file_line_and_field(bad: str, line: int, field: str) -> None:
    text = PROJECT.split("tasks:")[0] + "tasks:\n  train:\n    kubernetes:\n" + bad
    with pytest.raises(Exception) as caught:
        parse_project(text, file="pods/leoflow.yaml")
    error = caught.value
    assert (error.file, error.line, error.field) == ("pods/leoflow.yaml", line, field), \
        str(error)


def test_settings_for_a_task_the_dag_does_not_have_are_refused(tmp_path: Path) -> None:
    folder = project(tmp_path, PROJECT.replace("  train:", "  trian:"))
    with pytest.raises(CompileError) as caught:
        compile_project(folder, python=sys.executable)
    assert caught.value.line == 10
    assert caught.value.file.endswith("leoflow.yaml")
    assert "tasks.trian: no task 'trian' in the DAG (its tasks: extract, train)" \
        in caught.value.message


def test_the_cli_prints_the_error_with_file_and_line(tmp_path: Path) -> None:
    folder = project(tmp_path, PROJECT.replace("memory: 8Gi", "memory: 8 GB"))
    done = subprocess.run([sys.executable, "-m", "leoflow.app.cli", "compile", str(folder)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0
    assert "pods/leoflow.yaml:13: tasks.train.kubernetes.resources.limits.memory" in (
        done.stderr + done.stdout)
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("text", "expected"), [
    ("sales_report", "sales_report"),
    ("manual__2026-01-02T03:04:05+00:00", "manual__2026-01-02T03-04-05-00-00-"),
    ("x" * 80, "x" * 54 + "-"),
    ("--weird--", "weird-"),
])
def test_label_values_are_valid_and_distinct(text: str, expected: str) -> None:
    value = k8s_pods.label_value(text)
    assert value.startswith(expected)
    assert len(value) <= 63 and value[0].isalnum() and value[-1].isalnum()
    assert k8s_pods.label_value(text + "!") != value


def test_a_mapped_try_carries_its_map_index_label() -> None:
    from dataclasses import replace

    launch = replace(make_launch("score"), map_index=2, try_number=3)
    pod = k8s_pods.pod_manifest(launch, TaskSpec(task_id="score", operator="python"),
                                image="img:1", address="a:1", namespace="n")
    labels = pod["metadata"]["labels"]
    assert labels["leoflow.dev/map-index"] == "2"
    assert labels["leoflow.dev/try-number"] == "3"
    assert pod["metadata"]["name"] == f"leoflow-{launch.ti_id}-3"
    assert k8s_pods.launch_key(pod) == (launch.ti_id, 3)
