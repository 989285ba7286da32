"""The Kubernetes executor against the pods API: manifests, failure mappings, cancel, GC,
reconcile and watch reconnection.

The API is ``KubernetesStandIn`` (no Kubernetes API server can run on these machines),
reached by the real ``kubernetes_asyncio`` client through a generated kubeconfig; set
``LEOFLOW_TEST_K8S_CONTEXT`` to run the same tests on a real cluster (docs/kubernetes.md).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from leoflow.engine.executors import k8s_pods
from leoflow.engine.executors.kubernetes import (
    KubernetesUnavailable,
    check_reachable,
    load_api_client,
)
from leoflow.engine.spec.model import TaskSpec
from tests.integration.executors.k8s_fixtures import (  # noqa: F401  (fixtures)
    REAL_CONTEXT,
    Cluster,
    cluster_fixture,
    make_executor_fixture,
    make_launch,
    standin_only,
    wait_for,
)

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

SETTINGS = {
    "resources": {"requests": {"cpu": "250m", "memory": "128Mi"},
                  "limits": {"memory": "256Mi"}},
    "node_selector": {"pool": "batch"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "etl",
                     "effect": "NoExecute", "toleration_seconds": 60}],
    "service_account_name": "etl-runner",
    "env": {"MODE": "fast"},
    "annotations": {"team": "finance"},
    "labels": {"cost-center": "cc42"},
}


def task(settings: dict[str, Any] | None = None) -> TaskSpec:
    return TaskSpec(task_id="extract", operator="python", kubernetes=settings or {})


async def test_pod_carries_the_try_and_its_settings_but_never_the_token(
        cluster: Cluster, make_executor: Any) -> None:
    executor, recorder = await make_executor()
    launch = make_launch(execution_timeout=29.5)
    await executor.start(launch, task(SETTINGS if REAL_CONTEXT is None else
                                      {k: v for k, v in SETTINGS.items()
                                       if k not in ("node_selector", "service_account_name")}))
    pods = await cluster.items("pods")
    name = f"leoflow-{launch.ti_id}-1"
    pod = pods[name]
    token = recorder.tokens[launch.ti_id]
    assert token not in json.dumps(pod)  # not in clear anywhere in the pod
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["leoflow-agent"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["activeDeadlineSeconds"] == 30
    env = {e["name"]: e for e in container["env"]}
    assert env["LEOFLOW_AGENT_ADDRESS"]["value"] == "10.0.0.5:50051"
    assert env["LEOFLOW_TI_ID"]["value"] == launch.ti_id
    assert env["LEOFLOW_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": name,
                                                                  "key": "token"}}
    assert env["MODE"]["value"] == "fast"
    assert env["LEOFLOW_ZYGOTE"]["value"] == "0"  # one try per pod: no zygote
    secret = (await cluster.items("secrets"))[name]
    assert base64.b64decode(secret["data"]["token"]).decode() == token
    labels = pod["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "leoflow"
    assert labels["leoflow.dev/dag-id"] == "sales_report"
    assert labels["leoflow.dev/task-id"] == "extract"
    assert "leoflow.dev/map-index" not in labels  # -1 is no valid label value
    assert labels["leoflow.dev/try-number"] == "1"
    assert labels["leoflow.dev/ti-id"] == launch.ti_id
    assert labels["cost-center"] == "cc42"
    assert all(LABEL_VALUE.match(v) and len(v) <= 63 for v in labels.values())
    assert labels["leoflow.dev/run-id"].startswith("manual__2026-01-02T03-04-05.678-00-00")
    annotations = pod["metadata"]["annotations"]
    assert annotations["leoflow.dev/run-id"] == launch.run_id  # the full value
    assert annotations["leoflow.dev/map-index"] == "-1"
    assert annotations["team"] == "finance"
    assert container["resources"] == SETTINGS["resources"]
    # (a real API server adds its default not-ready/unreachable tolerations)
    assert {"key": "dedicated", "operator": "Equal", "value": "etl", "effect": "NoExecute",
            "tolerationSeconds": 60} in pod["spec"]["tolerations"]
    if REAL_CONTEXT is None:
        assert pod["spec"]["nodeSelector"] == {"pool": "batch"}
        assert pod["spec"]["serviceAccountName"] == "etl-runner"
    if REAL_CONTEXT is None:  # a real kubelet fails the test image's agent soon
        assert recorder.events == []


async def test_without_settings_the_pod_gets_no_api_token(cluster: Cluster,
                                                          make_executor: Any) -> None:
    executor, _ = await make_executor()
    launch = make_launch()
    await executor.start(launch, task())
    pod = (await cluster.items("pods"))[f"leoflow-{launch.ti_id}-1"]
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert "activeDeadlineSeconds" not in pod["spec"]
    assert "resources" not in pod["spec"]["containers"][0] or not pod["spec"]["containers"][
        0]["resources"]


async def test_a_dag_without_image_fails_its_try_with_the_fix_in_the_log(
        cluster: Cluster, make_executor: Any) -> None:
    executor, recorder = await make_executor(image=None)
    launch = make_launch()
    await executor.start(launch, task())
    event = await recorder.failure(launch.ti_id)
    assert "no container image" in (event.error or "")
    assert event.info.get("no_retry") is True
    assert any("image:" in line and "leoflow.yaml" in line
               for line in recorder.lines[launch.ti_id])
    assert await cluster.items("pods") == {}


WAITING = "Pending"
FAILURES = {
    "ImagePullBackOff": (dict(phase=WAITING, containerStatuses=[{"name": "task", "state": {
        "waiting": {"reason": "ImagePullBackOff",
                    "message": 'Back-off pulling image "busybox:1.36"'}}}]),
        "could not be pulled (ImagePullBackOff)", True),
    "ErrImagePull": (dict(phase=WAITING, containerStatuses=[{"name": "task", "state": {
        "waiting": {"reason": "ErrImagePull", "message": "not found"}}}]),
        "could not be pulled (ErrImagePull): not found", True),
    "CrashLoopBackOff": (dict(phase="Running", containerStatuses=[{"name": "task", "state": {
        "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}}]),
        "keeps crashing (CrashLoopBackOff)", True),
    "OOMKilled": (dict(phase="Failed", containerStatuses=[{"name": "task", "state": {
        "terminated": {"reason": "OOMKilled", "exitCode": 137}}}]),
        "OOMKilled; limits.memory=256Mi", False),
    "Evicted": (dict(phase="Failed", reason="Evicted",
                     message="The node was low on resource: memory."),
                "evicted the task's pod (Evicted): The node was low on resource", False),
    "DeadlineExceeded": (dict(phase="Failed", reason="DeadlineExceeded",
                              message="Pod was active on the node longer than the specified "
                                      "deadline"),
                         "deadline of 30 s (execution_timeout; DeadlineExceeded)", False),
    "Failed without a report": (dict(phase="Failed", containerStatuses=[
        {"name": "task", "state": {"terminated": {"reason": "Error", "exitCode": 3}}}]),
        "failed before the agent reported a result (its container exited with code 3",
        False),
}


@standin_only
@pytest.mark.parametrize("case", list(FAILURES))
async def test_each_pod_failure_fails_the_try_with_its_reason_in_the_log(
        cluster: Cluster, make_executor: Any, case: str) -> None:
    status, expected, deleted_at_once = FAILURES[case]
    executor, recorder = await make_executor(gc_delay=60)
    launch = make_launch(execution_timeout=30)
    await executor.start(launch, task(SETTINGS))
    await executor.wait_watching()
    name = f"leoflow-{launch.ti_id}-1"
    await cluster.set_status(name, **status)
    event = await recorder.failure(launch.ti_id)
    assert expected in (event.error or "")
    assert event.try_number == 1
    assert any(expected in line for line in recorder.lines[launch.ti_id])
    assert [line.startswith("kubernetes: ") for line in recorder.lines[launch.ti_id]] == [True]
    if deleted_at_once:  # it never ran: gone at once, so it cannot start late
        await wait_for(lambda: name not in cluster.standin.pods(), 5)
        await wait_for(lambda: name not in cluster.standin.secrets(), 5)
    else:  # it ended: kept for inspection until the GC delay
        await asyncio.sleep(0.3)
        assert name in cluster.standin.pods()
    await asyncio.sleep(0.1)
    assert len(recorder.events) == 1  # one failure, whatever else the watch sees


@standin_only
async def test_a_pod_the_api_refuses_raises_and_leaves_no_secret(
        cluster: Cluster, make_executor: Any) -> None:
    from kubernetes_asyncio.client import ApiException

    assert cluster.standin is not None
    cluster.standin.refuse["pods"] = (403, "Forbidden", 'pods is forbidden: User "leoflow" '
                                      'cannot create resource "pods"')
    executor, recorder = await make_executor()
    launch = make_launch()
    with pytest.raises(ApiException) as caught:  # the scheduler fails the try with it
        await executor.start(launch, task())
    assert caught.value.status == 403
    assert any("the pod could not be created" in line and "cannot create resource" in line
               for line in recorder.lines[launch.ti_id])
    assert cluster.standin.secrets() == {}  # the token's Secret went with it
    assert executor.tracked() == {}


@standin_only
async def test_a_pod_that_stays_unschedulable_past_the_limit_fails(
        cluster: Cluster, make_executor: Any) -> None:
    executor, recorder = await make_executor(unschedulable_limit=0.5)
    launch = make_launch()
    await executor.start(launch, task(SETTINGS))
    await executor.wait_watching()
    name = f"leoflow-{launch.ti_id}-1"
    await cluster.set_status(name, phase="Pending", conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 node(s) didn't match node selector."}])
    await asyncio.sleep(0.3)
    assert recorder.events == []  # within the limit it may still find a node
    event = await recorder.failure(launch.ti_id, timeout=5)
    assert "could not be scheduled on any node for 0.5 s (Unschedulable)" in event.error
    assert "didn't match node selector" in event.error
    await wait_for(lambda: name not in cluster.standin.pods(), 5)


@standin_only
async def test_a_reported_try_is_left_alone_and_its_pod_collected_after_the_delay(
        cluster: Cluster, make_executor: Any) -> None:
    executor, recorder = await make_executor(gc_delay=1.0)
    launch = make_launch()
    await executor.start(launch, task())
    await executor.wait_watching()
    name = f"leoflow-{launch.ti_id}-1"
    await cluster.set_status(name, phase="Running")
    executor.note_reported(launch.ti_id)  # the agent reported success over gRPC
    await cluster.set_status(name, phase="Succeeded", containerStatuses=[
        {"name": "task", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}])
    await asyncio.sleep(0.5)
    assert name in cluster.standin.pods() and name in cluster.standin.secrets()
    await wait_for(lambda: name not in cluster.standin.pods(), 5)
    await wait_for(lambda: name not in cluster.standin.secrets(), 5)
    assert recorder.events == []
    assert executor.tracked() == {}


async def test_a_resumed_try_gets_a_new_pod_and_its_first_one_is_collected(
        cluster: Cluster, make_executor: Any) -> None:
    """A deferred (or rescheduled) try resumes in a second pod while the first one, which
    reported the deferral, may still be there: the new pod needs another name, and the end
    of the first one must neither fail the try nor be left behind."""
    executor, recorder = await make_executor(gc_delay=1.0)
    launch = make_launch()
    await executor.start(launch, task())
    await executor.wait_watching()
    first = f"leoflow-{launch.ti_id}-1"
    await cluster.set_status(first, phase="Running")
    executor.note_reported(launch.ti_id)  # the agent reported "deferred" over gRPC
    await executor.start(launch, task())  # the trigger fired: the same try resumes
    second = f"{first}-r1"
    assert {first, second} <= set(cluster.standin.pods())
    assert second in cluster.standin.secrets()
    await cluster.set_status(first, phase="Succeeded", containerStatuses=[
        {"name": "task", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}])
    await cluster.set_status(second, phase="Running")
    await wait_for(lambda: first not in cluster.standin.pods(), 5)
    assert second in cluster.standin.pods()
    assert recorder.events == []
    assert list(executor.tracked()) == [launch.ti_id]


@standin_only
async def test_a_pod_deleted_by_someone_else_fails_its_try(cluster: Cluster,
                                                           make_executor: Any) -> None:
    executor, recorder = await make_executor()
    launch = make_launch()
    await executor.start(launch, task())
    await executor.wait_watching()
    v1 = await cluster.api()
    await v1.delete_namespaced_pod(f"leoflow-{launch.ti_id}-1", cluster.namespace)
    event = await recorder.failure(launch.ti_id)
    assert "deleted before the agent reported" in event.error


async def test_cancel_deletes_the_pod_and_its_secret(cluster: Cluster,
                                                     make_executor: Any) -> None:
    executor, recorder = await make_executor()
    launch = make_launch()
    await executor.start(launch, task())
    name = f"leoflow-{launch.ti_id}-1"
    assert name in await cluster.items("pods")
    await executor.cancel(launch.ti_id, "cleared by a user")
    assert name not in await cluster.items("secrets")
    await wait_for(lambda: _gone(cluster, name), 60)
    await asyncio.sleep(0.2)
    if REAL_CONTEXT is None:  # a real kubelet fails the test image's agent soon
        assert recorder.events == []  # a cancel is not reported as a failure


async def _gone(cluster: Cluster, name: str) -> bool:
    return name not in await cluster.items("pods")


async def test_reconcile_deletes_orphans_adopts_survivors_and_fails_the_missing(
        cluster: Cluster, make_executor: Any) -> None:
    orphan, survivor, missing = make_launch("old"), make_launch("load"), make_launch("tr")
    for launch in (orphan, survivor):  # left by an earlier control plane
        await cluster.create("secrets", k8s_pods.secret_manifest(launch, "t0k3n",
                                                                 cluster.namespace))
        manifest = k8s_pods.pod_manifest(launch, task(), image="busybox:1.36",
                                         address="10.0.0.5:50051", namespace=cluster.namespace)
        manifest["spec"]["containers"][0]["command"] = ["sleep", "3600"]  # stays up
        await cluster.create("pods", manifest)
    stray = k8s_pods.secret_manifest(make_launch("gone"), "x", cluster.namespace)
    await cluster.create("secrets", stray)
    executor, recorder = await make_executor()
    await executor.reconcile([survivor, missing])
    orphan_name, survivor_name = (f"leoflow-{orphan.ti_id}-1", f"leoflow-{survivor.ti_id}-1")
    secrets = await cluster.items("secrets")
    assert survivor_name in secrets
    assert orphan_name not in secrets and stray["metadata"]["name"] not in secrets
    await wait_for(lambda: _gone(cluster, orphan_name), 60)
    assert survivor_name in await cluster.items("pods")
    assert executor.tracked() == {survivor.ti_id: survivor_name}
    event = await recorder.failure(missing.ti_id)
    assert "gone when the control plane restarted" in event.error
    assert [e.ti_id for e in recorder.events] == [missing.ti_id]
    if cluster.standin is not None:  # the survivor is watched: its failure is seen
        await executor.wait_watching()
        await cluster.set_status(survivor_name, phase="Failed", reason="Evicted",
                                 message="node drained")
        event = await recorder.failure(survivor.ti_id)
        assert "Evicted" in event.error


@standin_only
async def test_the_watch_comes_back_after_a_cut_and_after_its_history_expired(
        cluster: Cluster, make_executor: Any) -> None:
    executor, recorder = await make_executor(backoff_max=0.5)
    first, second = make_launch("a"), make_launch("b")
    await executor.start(first, task())
    await executor.start(second, task())
    await executor.wait_watching()
    standin = cluster.standin
    assert standin is not None
    requests = standin.watch_requests
    standin.drop_watches()  # the connection is lost
    await cluster.set_status(f"leoflow-{first.ti_id}-1", phase="Failed", reason="Evicted")
    event = await recorder.failure(first.ti_id)
    assert "Evicted" in event.error
    assert standin.watch_requests > requests
    # history compacted while cut off: 410 Gone, then a fresh list finds the change
    standin.compact()
    standin.drop_watches()
    await cluster.set_status(f"leoflow-{second.ti_id}-1", phase="Failed", reason="Evicted")
    event = await recorder.failure(second.ti_id)
    assert "Evicted" in event.error
    assert executor.watch_restarts >= 1  # the 410 made it list again
    assert standin.watch_requests >= requests + 2


@standin_only
async def test_a_refused_watch_backs_off_and_changes_are_still_seen_by_listing(
        cluster: Cluster, make_executor: Any) -> None:
    executor, recorder = await make_executor(backoff_max=0.4)
    launch = make_launch()
    await executor.start(launch, task())
    await executor.wait_watching()
    standin = cluster.standin
    assert standin is not None
    standin.refuse["watch"] = (503, "ServiceUnavailable", "the server is overloaded")
    requests = standin.watch_requests
    standin.drop_watches()
    await cluster.set_status(f"leoflow-{launch.ti_id}-1", phase="Failed", reason="Evicted")
    event = await recorder.failure(launch.ti_id)  # the relist after the error saw it
    assert "Evicted" in event.error
    await asyncio.sleep(1.5)
    refused = standin.watch_requests - requests
    assert 2 <= refused <= 8  # backing off (0.5 s, capped at 0.4 s here), not spinning
    assert len(recorder.events) == 1


@standin_only
async def test_watches_that_end_at_once_are_not_reopened_in_a_tight_loop(
        cluster: Cluster, make_executor: Any) -> None:
    executor, _ = await make_executor(backoff_max=0.4)
    standin = cluster.standin
    assert standin is not None
    standin.empty_watches = True
    await executor.start(make_launch(), task())
    await wait_for(lambda: standin.watch_requests > 0, 5)
    await asyncio.sleep(1.5)
    assert standin.watch_requests <= 6


@pytest.mark.skipif(REAL_CONTEXT is None, reason="needs a real cluster's kubelet")
async def test_real_cluster_an_image_that_does_not_exist_fails_the_try(
        cluster: Cluster, make_executor: Any) -> None:
    executor, recorder = await make_executor(image="registry.invalid/leoflow/none:0")
    launch = make_launch()
    await executor.start(launch, task())
    event = await recorder.failure(launch.ti_id, timeout=120)
    assert "could not be pulled" in event.error


async def test_no_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KubernetesUnavailable, match=r"no kubeconfig at .*k3d cluster create"):
        await load_api_client(config_file=tmp_path / "absent")


async def test_an_unknown_context_is_a_clear_error(tmp_path: Path) -> None:
    from tests.integration.executors.k8s_api_standin import KubernetesStandIn

    path = KubernetesStandIn().write_kubeconfig(tmp_path / "kubeconfig")
    with pytest.raises(KubernetesUnavailable, match=r"nowhere.*LEOFLOW_K8S_CONTEXT"):
        await load_api_client(context="nowhere", config_file=path)


async def test_an_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    from tests.integration.executors.k8s_api_standin import KubernetesStandIn

    standin = KubernetesStandIn()
    await standin.start()
    path = standin.write_kubeconfig(tmp_path / "kubeconfig")
    client = await load_api_client(config_file=path)
    try:
        await check_reachable(client, "default")  # answers: no error
        await standin.stop()
        with pytest.raises(KubernetesUnavailable, match="unreachable"):
            await check_reachable(client, "default", timeout=3)
    finally:
        await client.close()


async def test_the_first_start_without_reconcile_deletes_pods_left_behind(
        cluster: Cluster, make_executor: Any) -> None:
    left = make_launch("old")  # an earlier control plane's, with nothing in flight now
    await cluster.create("pods", k8s_pods.pod_manifest(
        left, task(), image="busybox:1.36", address="10.0.0.5:50051",
        namespace=cluster.namespace))
    executor, recorder = await make_executor()
    launch = make_launch()
    await executor.start(launch, task())
    await wait_for(lambda: _gone(cluster, f"leoflow-{left.ti_id}-1"), 60)
    assert f"leoflow-{launch.ti_id}-1" in await cluster.items("pods")
    if REAL_CONTEXT is None:  # a real kubelet fails the test image's agent soon
        assert recorder.events == []


async def test_an_account_the_api_refuses_is_a_clear_error(tmp_path: Path) -> None:
    from tests.integration.executors.k8s_api_standin import TOKEN, KubernetesStandIn

    standin = KubernetesStandIn()
    await standin.start()
    path = standin.write_kubeconfig(tmp_path / "kubeconfig")
    path.write_text(path.read_text().replace(TOKEN, "expired-token"))
    client = await load_api_client(config_file=path)
    try:
        with pytest.raises(KubernetesUnavailable,
                           match="refused to list pods in namespace 'default': 401"):
            await check_reachable(client, "default")
    finally:
        await client.close()
        await standin.stop()
