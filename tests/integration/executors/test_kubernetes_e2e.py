"""A DAG run through the real control plane with the Kubernetes executor.

No Kubernetes API server can run on these machines, so the cluster is the in-test
``KubernetesStandIn`` with a ``LocalKubelet``: when the executor creates a pod, the real
``leoflow-agent`` starts as a local process with that pod's environment (its token read
from the pod's Secret), dials the control plane's gRPC service and runs the task; the
pod's phase follows the process. Everything else is the real path: compile, store,
scheduler, agent service, XCom, logs, the executor and the ``kubernetes_asyncio`` client.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from leoflow.app.controlplane import start_control_plane
from leoflow.app.settings import Settings
from leoflow.engine.executors.kubernetes import KubernetesUnavailable
from tests.e2e.harness import Harness, Projects
from tests.integration.executors.k8s_api_standin import KubernetesStandIn, LocalKubelet
from tests.integration.executors.k8s_fixtures import REAL_CONTEXT, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    REAL_CONTEXT is not None, reason="the stand-in's kubelet runs agents on this machine; on "
    "a real cluster the DAG's image must hold the agent (docs/kubernetes.md)")]

DAG = '''
from leoflow import DAG, task

with DAG("k8s_e2e", schedule=None):
    @task
    def extract():
        print("extracting in a pod")
        return [1, 2, 3]

    @task
    def total(values):
        import os
        print("TZ is", os.environ.get("TZ"), "and MODE is", os.environ.get("MODE"))
        return sum(values)

    total(extract())
'''

PROJECT = '''
dag_id: k8s_e2e
image: registry.example/k8s_e2e:1
dependencies: []
env: {MODE: dag-wide}
kubernetes:
  resources:
    requests: {cpu: 100m, memory: 64Mi}
tasks:
  total:
    kubernetes:
      env: {TZ: Europe/Paris}
      labels: {stage: sum}
'''


@pytest.fixture
async def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[tuple[KubernetesStandIn, LocalKubelet]]:
    server = KubernetesStandIn()
    await server.start()
    kubelet = LocalKubelet(server)
    monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path / "kubeconfig",
                                                                 "leoflow-e2e")))
    try:
        yield server, kubelet
    finally:
        await kubelet.stop()
        await server.stop()


async def test_a_dag_runs_through_pods_and_its_pods_are_collected(
        tmp_path: Path, standin: tuple[KubernetesStandIn, LocalKubelet]) -> None:
    server, kubelet = standin
    project = tmp_path / "k8s_e2e"
    project.mkdir()
    (project / "dag.py").write_text(DAG)
    (project / "leoflow.yaml").write_text(PROJECT)
    home = tmp_path / "home"
    prepared = await Projects(home).prepare(project)
    settings = Settings(home=home, database_url=f"sqlite+aiosqlite:///{tmp_path / 'db'}",
                        executor="kubernetes", k8s_pod_gc_delay=1)
    events: list[Any] = []
    changed: list[asyncio.Event] = []

    def listen(kind: str, data: dict[str, Any]) -> None:
        events.append((time.monotonic(), kind, dict(data)))
        for signal in changed:
            signal.set()

    plane = await start_control_plane(settings, listeners=[listen])
    try:
        assert "kubernetes" in plane.scheduler.executors
        harness = Harness(plane, events, changed)
        result = await harness.run(prepared, timeout=90)
        assert result.state == "success", result.tasks
        assert result.xcom == {"extract": [1, 2, 3], "total": 6}
        assert "extracting in a pod" in result.lines("extract")
        # the container's TZ (one of the variables the agent passes on) and the DAG's env
        assert "TZ is Europe/Paris and MODE is dag-wide" in result.lines("total")
        created = [o for o in server.created if o["kind"] == "Pod"]
        assert len(created) == 2
        for pod in created:
            assert pod["metadata"]["namespace"] == "leoflow-e2e"
            container = pod["spec"]["containers"][0]
            assert container["image"] == "registry.example/k8s_e2e:1"
            assert container["resources"]["requests"] == {"cpu": "100m", "memory": "64Mi"}
            name = pod["metadata"]["name"]
            token = kubelet.envs[name]["LEOFLOW_TOKEN"]  # what the agent got, via the Secret
            assert token and token not in json.dumps(pod)
        total = next(p for p in created if p["metadata"]["labels"]["leoflow.dev/task-id"]
                     == "total")
        assert total["metadata"]["labels"]["stage"] == "sum"
        # ended pods and their Secrets are deleted after k8s_pod_gc_delay (1 s here)
        await wait_for(lambda: not server.pods() and not server.secrets(), 15)
    finally:
        await plane.stop()


async def test_an_unreachable_cluster_stops_the_start_with_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = KubernetesStandIn()
    await server.start()
    monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path / "kubeconfig")))
    await server.stop()  # the cluster is down
    settings = Settings(home=tmp_path / "home",
                        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db'}",
                        executor="kubernetes")
    with pytest.raises(KubernetesUnavailable, match="unreachable"):
        await start_control_plane(settings)
