"""What the Kubernetes executor's tests share: a cluster (the stand-in, or a real one), an
executor wired to record what it reports, and launches.

By default the cluster is ``KubernetesStandIn`` (no Kubernetes API server can run on these
machines). With ``LEOFLOW_TEST_K8S_CONTEXT=<kubeconfig context>`` (a k3d cluster, say) the
same tests run against that cluster, in ``LEOFLOW_TEST_K8S_NAMESPACE`` (default
``default``); tests that must drive pod states themselves skip there.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from leoflow.engine.executors.base import ExecutorEvent, TaskLaunch
from leoflow.engine.executors.k8s_pods import SELECTOR
from leoflow.engine.executors.kubernetes import KubernetesExecutor, load_api_client
from tests.integration.executors.k8s_api_standin import KubernetesStandIn

REAL_CONTEXT = os.environ.get("LEOFLOW_TEST_K8S_CONTEXT") or None
REAL_NAMESPACE = os.environ.get("LEOFLOW_TEST_K8S_NAMESPACE", "default")
IMAGE = os.environ.get("LEOFLOW_TEST_K8S_IMAGE", "busybox:1.36")

standin_only = pytest.mark.skipif(
    REAL_CONTEXT is not None,
    reason="drives pod states through the stand-in; on a real cluster the kubelet decides them")


@dataclass
class Cluster:
    """Where the executor's pods go, and a client of our own to look at them."""

    namespace: str
    context: str | None
    kubeconfig: Path | None
    standin: KubernetesStandIn | None
    client: Any = None

    async def api(self) -> Any:
        if self.client is None:
            self.client = await load_api_client(context=self.context,
                                                config_file=self.kubeconfig)
        from kubernetes_asyncio import client

        return client.CoreV1Api(self.client)

    async def items(self, kind: str) -> dict[str, dict[str, Any]]:
        """Managed pods or secrets by name, as the API returns them (JSON)."""
        v1 = await self.api()
        call = v1.list_namespaced_pod if kind == "pods" else v1.list_namespaced_secret
        response = await call(self.namespace, label_selector=SELECTOR, _preload_content=False)
        body = json.loads(await response.read())
        response.release()
        return {i["metadata"]["name"]: i for i in body["items"]}

    async def create(self, kind: str, manifest: dict[str, Any]) -> None:
        v1 = await self.api()
        call = v1.create_namespaced_pod if kind == "pods" else v1.create_namespaced_secret
        await call(self.namespace, manifest)

    async def set_status(self, name: str, **status: Any) -> None:
        assert self.standin is not None
        await self.standin.set_status(self.namespace, name, **status)


@dataclass
class Recorder:
    """What the executor reported: events and the lines it wrote into tries' logs."""

    events: list[ExecutorEvent] = field(default_factory=list)
    lines: dict[str, list[str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    async def event(self, event: ExecutorEvent) -> None:
        self.events.append(event)

    async def output(self, launch: TaskLaunch, line: str) -> None:
        self.lines.setdefault(launch.ti_id, []).append(line)

    async def mint(self, launch: TaskLaunch) -> str:
        token = self.tokens[launch.ti_id] = f"secret-token-{uuid.uuid4().hex}"
        return token

    async def failure(self, ti_id: str, timeout: float = 10.0) -> ExecutorEvent:
        found = await wait_for(lambda: next((e for e in self.events if e.ti_id == ti_id),
                                            None), timeout)
        assert found.state == "failed"
        return found


async def wait_for(probe: Callable[[], Any], timeout: float = 10.0,
                   interval: float = 0.02) -> Any:
    """``probe()``'s first truthy value, polled for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout:g} s")
        await asyncio.sleep(interval)


def make_launch(task_id: str = "extract", *, try_number: int = 1,
                execution_timeout: float | None = None,
                run_id: str = "manual__2026-01-02T03:04:05.678+00:00") -> TaskLaunch:
    return TaskLaunch(ti_id=str(uuid.uuid4()), dag_id="sales_report", run_id=run_id,
                      dag_run_id=7, task_id=task_id, map_index=-1, try_number=try_number,
                      dag_version_id="v1", operator="python",
                      execution_timeout=execution_timeout)


@pytest.fixture(name="cluster")
async def cluster_fixture(tmp_path: Path) -> AsyncIterator[Cluster]:
    if REAL_CONTEXT is not None:
        found = Cluster(REAL_NAMESPACE, REAL_CONTEXT, None, None)
        yield found
        v1 = await found.api()  # leave no pod of these tests behind
        for name in await found.items("pods"):
            await v1.delete_namespaced_pod(name, found.namespace, grace_period_seconds=0)
        for name in await found.items("secrets"):
            await v1.delete_namespaced_secret(name, found.namespace)
        await found.client.close()
        return
    standin = KubernetesStandIn()
    await standin.start()
    found = Cluster("leoflow-test", None, standin.write_kubeconfig(tmp_path / "kubeconfig",
                                                                   "leoflow-test"), standin)
    try:
        yield found
    finally:
        if found.client is not None:
            await found.client.close()
        await standin.stop()


@pytest.fixture(name="make_executor")
async def make_executor_fixture(cluster: Cluster) -> AsyncIterator[Callable[..., Any]]:
    """``await make_executor(**options)``: a started executor and its Recorder."""
    made: list[KubernetesExecutor] = []

    async def build(image: str | None = IMAGE, **options: Any
                    ) -> tuple[KubernetesExecutor, Recorder]:
        recorder = Recorder()

        async def image_for(_launch: TaskLaunch) -> str | None:
            return image

        client = await load_api_client(context=cluster.context,
                                       config_file=cluster.kubeconfig)
        executor = KubernetesExecutor(
            api_client=client, namespace=cluster.namespace, address="10.0.0.5:50051",
            mint_token=recorder.mint, image_for=image_for, on_agent_output=recorder.output,
            **options)
        executor.set_callback(recorder.event)
        made.append(executor)
        return executor, recorder

    yield build
    for executor in made:
        await executor.close()
