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


SLOW_DAG = '''
import time
from leoflow import DAG, task

with DAG("k8s_restart", schedule=None):
    @task
    def slow():
        print("before the restart", flush=True)
        time.sleep(3)
        return 41

    @task
    def plus_one(x):
        return x + 1

    plus_one(slow())
'''


async def test_a_pod_survives_a_control_plane_restart_and_orphans_are_deleted(
        tmp_path: Path, standin: tuple[KubernetesStandIn, LocalKubelet]) -> None:
    from leoflow.app.lite_state import free_port
    from leoflow.engine.executors import k8s_pods
    from leoflow.engine.spec.model import TaskSpec
    from tests.integration.executors.k8s_fixtures import make_launch

    server, _ = standin
    project = tmp_path / "k8s_restart"
    project.mkdir()
    (project / "dag.py").write_text(SLOW_DAG)
    (project / "leoflow.yaml").write_text("dag_id: k8s_restart\nimage: example/slow:1\n")
    home = tmp_path / "home"
    prepared = await Projects(home).prepare(project)
    settings = Settings(home=home, database_url=f"sqlite+aiosqlite:///{tmp_path / 'db'}",
                        executor="kubernetes", k8s_pod_gc_delay=60)
    port = free_port()
    events: list[Any] = []
    changed: list[asyncio.Event] = []

    def listen(kind: str, data: dict[str, Any]) -> None:
        events.append((time.monotonic(), kind, dict(data)))
        for signal in changed:
            signal.set()

    first = await start_control_plane(settings, grpc_port=port, listeners=[listen])
    try:
        harness = Harness(first, events, changed)
        run = await harness.trigger(await harness.register(prepared))
        slow_ti = await harness.wait_running(run, "slow")
    finally:
        await first.stop(keep_agents=True)  # the pod (its agent) keeps running
    orphan = make_launch("gone")  # a pod no store expects
    await server.add("pods", "leoflow-e2e", k8s_pods.pod_manifest(
        orphan, TaskSpec(task_id="gone", operator="python"), image="example/slow:1",
        address="nowhere:1", namespace="leoflow-e2e"))
    second = await start_control_plane(settings, grpc_port=port, listeners=[listen])
    try:
        harness = Harness(second, events, changed)
        # adopted at start: watched by the new executor while its agent reconnects
        assert slow_ti in second.scheduler.executors["kubernetes"].tracked()
        assert f"leoflow-{orphan.ti_id}-1" not in server.pods()
        assert await harness.wait(run, timeout=60) == "success"
        result = await harness.result(run)
        assert result.xcom == {"slow": 41, "plus_one": 42}
        slow_pods = [p for p in server.created if p["kind"] == "Pod"
                     and p["metadata"]["labels"]["leoflow.dev/task-id"] == "slow"]
        assert len(slow_pods) == 1  # adopted, not started again
        assert result.tasks["slow"].try_number == 1
        assert f"leoflow-{orphan.ti_id}-1" not in server.pods()
        assert ("pods", f"leoflow-{orphan.ti_id}-1") in server.deleted
    finally:
        await second.stop()
