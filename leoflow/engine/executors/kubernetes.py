"""The Kubernetes executor: one pod per try, running ``leoflow-agent`` in the DAG's image.

The agent inside the pod reports running/success/failed over gRPC exactly as a local agent
does, so this executor reports only what the agent cannot: a pod that never ran (its image
could not be pulled, no node fits it) or that died under it (OOMKilled, evicted, past its
deadline, crashed before reporting). Each such failure is written into the try's log with
its reason, so the person reading the log learns why without ``kubectl``.

One watch follows every pod labelled ``app.kubernetes.io/managed-by=leoflow`` in the
namespace; it is re-established after errors with a bounded backoff and starts from a
fresh list whenever its resource version expired, so no change is missed for long. Pods
that ended are deleted ``gc_delay`` seconds later (kept meanwhile for ``kubectl describe``);
pods failed while still waiting (image pull, unschedulable) are deleted at once so that
they cannot start later with the token of a try that is over. Each try's token lives in a
Secret of the pod's name, deleted with it.

One control plane per namespace: ``reconcile`` deletes managed pods it does not expect.
``kubernetes_asyncio`` is imported lazily: Lite with the subprocess executor never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leoflow.engine.executors import k8s_pods
from leoflow.engine.executors.base import EventCallback, ExecutorEvent, TaskLaunch
from leoflow.engine.executors.k8s_cluster import (
    ClusterTarget,
    KubernetesUnavailable,
    check_reachable,
    connect_cluster,
    load_api_client,
)
from leoflow.engine.spec.model import TaskSpec

__all__ = ["ClusterTarget", "KubernetesExecutor", "KubernetesUnavailable", "check_reachable",
           "connect_cluster", "load_api_client"]

log = logging.getLogger("leoflow.executor.kubernetes")

WATCH_TIMEOUT = 300  # seconds a watch request lasts before the server ends it (re-opened)
REQUEST_TIMEOUT = 30.0  # seconds any other API call may take
MAX_RESUME_NAMES = 20  # pod names tried for one try (it resumed after deferrals)
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0
UNSCHEDULABLE_LIMIT = 300.0


@dataclass
class _Pod:
    """A try this executor launched or adopted, and what it knows of its pod."""

    launch: TaskLaunch
    name: str
    reported: bool = False  # the agent reported a final state over gRPC
    failed: bool = False  # this executor failed the try
    ended: bool = False
    created_at: float | None = 0.0  # None while its creation call is under way
    unschedulable_since: float | None = None
    timer: asyncio.Task[None] | None = None
    gc: asyncio.Task[None] | None = None


class KubernetesExecutor:
    """Starts one pod per try in ``namespace`` through ``api_client`` (kubernetes_asyncio).

    ``image_for(launch)`` gives the DAG's image (None: the DAG has none, which fails the try
    with a message saying how to set it); ``mint_token`` the try's token;
    ``on_agent_output(launch, line)`` writes a line into the try's log.
    """

    name = "kubernetes"

    def __init__(self, *, api_client: Any, namespace: str, address: str,
                 mint_token: Callable[[TaskLaunch], Awaitable[str]],
                 image_for: Callable[[TaskLaunch], Awaitable[str | None]],
                 on_agent_output: Callable[[TaskLaunch, str], Awaitable[None]] | None = None,
                 gc_delay: float = 300.0, unschedulable_limit: float = UNSCHEDULABLE_LIMIT,
                 backoff_max: float = BACKOFF_MAX, watch_timeout: int = WATCH_TIMEOUT,
                 close_client: bool = True) -> None:
        from kubernetes_asyncio import client

        self.api_client = api_client
        # used raw (_preload_content=False): plain dict manifests in, HTTP responses out,
        # which the client's model-typed signatures do not describe
        self.v1: Any = client.CoreV1Api(api_client)
        self.namespace = namespace
        self.address = address
        self.mint_token = mint_token
        self.image_for = image_for
        self.on_agent_output = on_agent_output
        self.gc_delay = gc_delay
        self.unschedulable_limit = unschedulable_limit
        self.backoff_max = backoff_max
        self.watch_timeout = watch_timeout
        self.close_client = close_client
        self.watch_restarts = 0  # how many times the watch was re-established (diagnostics)
        self._callback: EventCallback | None = None
        self._superseded_gc: set[str] = set()
        self._pods: dict[str, _Pod] = {}
        self._watch: asyncio.Task[None] | None = None
        self._watching = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._reconciled = False
        self._reconciling = asyncio.Lock()

    def set_callback(self, callback: EventCallback) -> None:
        self._callback = callback

    def tracked(self) -> dict[str, str]:
        """Pod names by task instance id, for the tries followed now (diagnostics, tests)."""
        return {ti_id: pod.name for ti_id, pod in self._pods.items()}

    def note_reported(self, ti_id: str) -> None:
        """The agent service calls this when the try's agent reported its final state."""
        pod = self._pods.get(ti_id)
        if pod is not None:
            pod.reported = True

    # -- start and cancel ------------------------------------------------------------------------
    async def start(self, launch: TaskLaunch, task: TaskSpec) -> None:
        if not self._reconciled:
            # the scheduler reconciles only when it had tries in flight: with none, every
            # managed pod left in the namespace is an orphan of an earlier control plane
            async with self._reconciling:
                if not self._reconciled:
                    await self.reconcile([])
        image = await self.image_for(launch)
        if not image:
            await self._fail(launch, "the DAG has no container image, which the Kubernetes "
                             "executor needs: set 'image:' in leoflow.yaml (or build one "
                             "with 'leoflow compile --build --image NAME:TAG')", no_retry=True)
            return
        token = await self.mint_token(launch)
        self._ensure_watch()
        for resume in range(MAX_RESUME_NAMES):
            secret = k8s_pods.secret_manifest(launch, token, self.namespace, resume=resume)
            manifest = k8s_pods.pod_manifest(launch, task, image=image, address=self.address,
                                             namespace=self.namespace, resume=resume)
            name = manifest["metadata"]["name"]
            try:
                (await _raw(self.v1.create_namespaced_secret(
                    self.namespace, secret, _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT))).release()
            except Exception as exc:
                if getattr(exc, "status", None) == 409 and resume + 1 < MAX_RESUME_NAMES:
                    continue  # an earlier pod of this (resumed) try still has the name
                said = _said(exc)
                await self._log(launch, f"the pod could not be created: {said}")
                raise
            break
        pod = self._pods[launch.ti_id] = _Pod(launch, name, created_at=None)
        try:
            (await _raw(self.v1.create_namespaced_pod(
                self.namespace, manifest, _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT))).release()
        except BaseException as exc:
            self._forget(pod)
            await self._delete(name)
            if isinstance(exc, Exception):  # the scheduler fails the try with it
                said = _said(exc)
                await self._log(launch, f"the pod could not be created: {said}")
            raise
        pod.created_at = time.monotonic()

    async def cancel(self, ti_id: str, reason: str) -> None:
        pod = self._pods.pop(ti_id, None)
        if pod is None:
            return
        pod.failed = True  # no event after a cancel
        self._stop_timers(pod)
        await self._delete(pod.name)

    # -- reconcile -------------------------------------------------------------------------------
    async def reconcile(self, known: Sequence[TaskLaunch]) -> None:
        """Adopt the pods of tries the store still expects, delete every other managed pod
        (and Secret), and fail the expected tries whose pod is gone."""
        self._reconciled = True
        expected = {(launch.ti_id, launch.try_number): launch for launch in known}
        pods = await self._list("pod")
        found: set[tuple[str, int]] = set()
        for item in pods:
            key = k8s_pods.launch_key(item)
            name = item["metadata"]["name"]
            launch = expected.get(key) if key else None
            if launch is None:
                log.info("deleting orphan pod %s (the store does not expect it)", name)
                await self._delete(name)
                continue
            found.add(key)  # type: ignore[arg-type]
            if launch.ti_id not in self._pods:  # (a new term of leadership: already ours)
                self._pods[launch.ti_id] = _Pod(launch, name)
            await self._observe(item)
        for secret in await self._list("secret"):
            key = k8s_pods.launch_key(secret)
            if key not in found:
                await self._delete_secret(secret["metadata"]["name"])
        for key, launch in expected.items():
            if key not in found and launch.ti_id not in self._pods:
                await self._fail(launch, "the task's pod was gone when the control plane "
                                         "restarted")
        self._ensure_watch()

    async def _list(self, kind: str) -> list[dict[str, Any]]:
        call = self.v1.list_namespaced_pod if kind == "pod" \
            else self.v1.list_namespaced_secret
        body = await _body(call(self.namespace, label_selector=k8s_pods.SELECTOR,
                                _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        return list(body.get("items") or [])

    # -- the watch -------------------------------------------------------------------------------
    def _ensure_watch(self) -> None:
        if self._watch is None and not self._closed:
            self._watch = asyncio.create_task(self._watch_loop(), name="leoflow-k8s-watch")

    async def wait_watching(self, timeout: float = 10.0) -> None:
        """Until the watch stream is open (tests use it before driving pod changes)."""
        await asyncio.wait_for(self._watching.wait(), timeout)

    async def _watch_loop(self) -> None:
        delay = BACKOFF_FIRST
        version: str | None = None
        while not self._closed:
            try:
                if version is None:
                    version = await self._resync()
                opened, before = time.monotonic(), version
                version = await self._stream(version)
                if time.monotonic() - opened < 1.0 and version == before:
                    # ended at once, empty, without an error (a proxy, say): no tight loop
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.backoff_max)
                else:
                    delay = BACKOFF_FIRST
            except asyncio.CancelledError:
                raise
            except _Expired:
                version = None  # history compacted: list again, then watch from there
                self.watch_restarts += 1
            except Exception as exc:
                self._watching.clear()
                self.watch_restarts += 1
                log.warning("the pod watch failed (%s: %s); again in %.1f s",
                            type(exc).__name__, exc, delay)
                version = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)

    async def _resync(self) -> str:
        """List the managed pods, act on each tracked one, and fail the tries whose pod
        vanished (only pods created before the list began can be missing from it)."""
        began = time.monotonic()
        body = await _body(self.v1.list_namespaced_pod(
            self.namespace, label_selector=k8s_pods.SELECTOR, _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT))
        seen = set()
        for item in body.get("items") or []:
            seen.add(item["metadata"]["name"])
            await self._observe(item)
        for pod in list(self._pods.values()):
            if pod.name not in seen and pod.gc is None and pod.created_at is not None \
                    and pod.created_at < began:
                await self._vanished(pod)
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    async def _stream(self, version: str) -> str:
        """Follow changes from ``version``; return the last version seen when the server
        ends the request (its timeout), raise on errors."""
        response = await _raw(self.v1.list_namespaced_pod(
            self.namespace, label_selector=k8s_pods.SELECTOR, watch=True,
            resource_version=version or None, allow_watch_bookmarks=True,
            timeout_seconds=self.watch_timeout, _preload_content=False,
            # a connection that died silently ends here at the latest (then a fresh list)
            _request_timeout=self.watch_timeout + 30))
        self._watching.set()
        try:
            async for raw in response.content:
                if not raw.strip():
                    continue
                event = json.loads(raw)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Expired()
                    raise RuntimeError(f"watch error {obj.get('code')}: {obj.get('message')}")
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind == "BOOKMARK":
                    continue
                await self._observe(obj, deleted=kind == "DELETED")
        finally:
            response.release()
        return version

    async def _observe(self, item: Mapping[str, Any], *, deleted: bool = False) -> None:
        key = k8s_pods.launch_key(item)
        pod = self._pods.get(key[0]) if key else None
        if pod is not None and pod.name != item["metadata"]["name"]:
            await self._superseded(item, deleted=deleted)
            return
        if pod is None:
            return
        if deleted:
            await self._vanished(pod)
            return
        now = time.monotonic()
        since = pod.unschedulable_since
        seen = k8s_pods.diagnose(item, unschedulable_for=now - since if since else None,
                                 unschedulable_limit=self.unschedulable_limit)
        if seen.unschedulable and since is None:
            pod.unschedulable_since = now
            pod.timer = self._spawn(self._recheck_later(pod), f"k8s-unschedulable-{pod.name}")
        elif not seen.unschedulable and since is not None:
            pod.unschedulable_since = None  # a node was found
            self._stop_timers(pod)
        if seen.ended:
            pod.ended = True
        if seen.failure and not pod.reported and not pod.failed:
            pod.failed = True
            await self._fail(pod.launch, seen.failure)
        if pod.failed and not pod.ended:
            # it never ran to an end: delete it now so it cannot start late
            self._forget(pod)
            await self._delete(pod.name)
        elif pod.ended and pod.gc is None:
            self._stop_timers(pod)
            pod.gc = self._spawn(self._collect_later(pod), f"k8s-gc-{pod.name}")

    async def _superseded(self, item: Mapping[str, Any], *, deleted: bool) -> None:
        """An earlier pod of a try that resumed in a newer pod: it has reported (deferred or
        up_for_reschedule), so only its removal is left, after the usual delay."""
        name = item["metadata"]["name"]
        if deleted or name in self._superseded_gc:
            return
        if (item.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self._superseded_gc.add(name)
            self._spawn(self._collect_superseded(name), f"k8s-gc-{name}")

    async def _collect_superseded(self, name: str) -> None:
        await asyncio.sleep(self.gc_delay)
        self._superseded_gc.discard(name)
        await self._delete(name)

    async def _vanished(self, pod: _Pod) -> None:
        """A tracked pod was deleted by someone else (or the node went away with it)."""
        self._forget(pod)
        self._stop_timers(pod)
        await self._delete_secret(pod.name)
        if not pod.reported and not pod.failed:
            pod.failed = True
            await self._fail(pod.launch, "the task's pod was deleted before the agent "
                                         "reported a result")

    async def _recheck_later(self, pod: _Pod) -> None:
        """Unschedulable pods produce no further event while they wait: look again once the
        limit is reached."""
        await asyncio.sleep(self.unschedulable_limit + 0.05)
        from kubernetes_asyncio import client

        try:
            item = await _body(self.v1.read_namespaced_pod(
                pod.name, self.namespace, _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT))
        except client.ApiException as exc:
            if exc.status == 404:
                await self._vanished(pod)
            return
        pod.timer = None
        await self._observe(item)

    async def _collect_later(self, pod: _Pod) -> None:
        await asyncio.sleep(self.gc_delay)
        self._forget(pod)
        await self._delete(pod.name)

    # -- helpers ---------------------------------------------------------------------------------
    def _forget(self, pod: _Pod) -> None:
        if self._pods.get(pod.launch.ti_id) is pod:
            del self._pods[pod.launch.ti_id]

    def _stop_timers(self, pod: _Pod) -> None:
        if pod.timer is not None and pod.timer is not asyncio.current_task():
            pod.timer.cancel()
        pod.timer = None

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def _delete(self, name: str) -> None:
        """Delete a pod and its Secret; already gone is fine."""
        from kubernetes_asyncio import client

        try:
            (await _raw(self.v1.delete_namespaced_pod(
                name, self.namespace, grace_period_seconds=5, _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT))).release()
        except client.ApiException as exc:
            if exc.status != 404:
                log.warning("could not delete pod %s: %s %s", name, exc.status, exc.reason)
        except Exception as exc:  # the API is unreachable: reconcile deletes it later
            log.warning("could not delete pod %s: %s", name, exc)
        await self._delete_secret(name)

    async def _delete_secret(self, name: str) -> None:
        from kubernetes_asyncio import client

        try:
            (await _raw(self.v1.delete_namespaced_secret(
                name, self.namespace, _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT))).release()
        except client.ApiException as exc:
            if exc.status != 404:
                log.warning("could not delete secret %s: %s %s", name, exc.status, exc.reason)
        except Exception as exc:
            log.warning("could not delete secret %s: %s", name, exc)

    async def _log(self, launch: TaskLaunch, text: str) -> None:
        """A ``kubernetes:`` line in the try's log (each line of ``text``)."""
        if self.on_agent_output is None:
            return
        try:
            for line in text.splitlines():
                if line.strip():
                    await self.on_agent_output(launch, f"kubernetes: {line}")
        except Exception:
            log.exception("could not write to the task's log")

    async def _fail(self, launch: TaskLaunch, reason: str, *, no_retry: bool = False) -> None:
        log.info("try %s of %s failed: %s", launch.try_number, launch.ti_id, reason)
        await self._log(launch, reason)
        if self._callback is not None:
            info = {"no_retry": True} if no_retry else {}
            await self._callback(ExecutorEvent(launch.ti_id, launch.try_number, "failed",
                                               error=reason, info=info))

    async def close(self) -> None:
        """Stop watching; pods keep running and the next ``reconcile`` finds them."""
        self._closed = True
        tasks = [t for t in [self._watch, *self._background] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watch = None
        self._pods.clear()
        if self.close_client:
            with contextlib.suppress(Exception):
                await self.api_client.close()


def _said(exc: Exception) -> str:
    """An API error (``ApiException``) as ``status reason``, any other error as its text."""
    if hasattr(exc, "status"):
        return f"{exc.status} {getattr(exc, 'reason', '')}"
    return str(exc)


async def _raw(call: Awaitable[Any]) -> Any:
    """The HTTP response of an API call made with ``_preload_content=False`` (read as JSON
    here, not as client models), raising ``ApiException`` for a non-2xx status: the client
    checks the status only when it preloads the body itself."""
    from kubernetes_asyncio.client import ApiException

    response = await call
    if 200 <= response.status <= 299:
        return response
    try:
        data = await response.read()
    finally:
        response.release()
    try:
        message = str(json.loads(data).get("message") or "")
    except (ValueError, AttributeError):
        message = data[:300].decode("utf-8", "replace")
    raise ApiException(status=response.status,
                       reason=f"{response.reason}: {message}" if message else response.reason)


async def _body(call: Awaitable[Any]) -> dict[str, Any]:
    response = await _raw(call)
    try:
        return dict(json.loads(await response.read()))
    finally:
        response.release()


class _Expired(Exception):
    """The watch's resource version is too old (HTTP 410): list again."""
