"""A stand-in for the Kubernetes API's pods and Secrets endpoints, for the executor's tests.

It stands in because no Kubernetes API server can run on these machines (no container
runtime, no kubelet). It is a real HTTP server on 127.0.0.1 that the executor reaches with
a real ``kubernetes_asyncio`` client through a generated kubeconfig, and it honours what
that client calls: create, get, list (``labelSelector`` with ``k=v`` terms), watch (a
chunked JSON-lines stream from a ``resourceVersion``, with bookmarks and 410 Gone once the
history is compacted) and delete, for ``pods`` and ``secrets`` of any namespace. Requests
must carry the kubeconfig's bearer token.

A test drives what a kubelet and scheduler would do: ``set_status`` changes a pod's status
(phase, reason, container states, conditions) and emits MODIFIED; ``drop_watches`` cuts
every open watch (a network blip); ``compact`` forgets the event history. ``LocalKubelet``
goes further: when a pod is created it really starts the pod's command (``leoflow-agent``)
as a local subprocess with the pod's environment, resolving ``secretKeyRef`` from the
stored Secret, and reports Running, then Succeeded or Failed with the exit code.

Run the same tests against a real cluster with ``LEOFLOW_TEST_K8S_CONTEXT`` (see
docs/kubernetes.md); the tests that need to drive pod states skip there.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

TOKEN = "standin-token"
KINDS = {"pods": "Pod", "secrets": "Secret"}


def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "code": code, "reason": reason, "message": message},
                             status=code)


def _matches(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if labels.get(key.strip()) != value.strip().lstrip("="):
            return False
    return True


class KubernetesStandIn:
    """The server and its objects; ``start()`` / ``stop()`` in the test's event loop."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, ns, name)
        self.history: list[tuple[int, str, str, str, dict[str, Any]]] = []
        self.version = 100
        self.oldest = 0  # watches from a version below this get 410 Gone
        self.created: list[dict[str, Any]] = []  # every object as it was POSTed
        self.deleted: list[tuple[str, str]] = []  # (kind, name) in order
        self.watch_requests = 0
        # "pods"/"secrets": the error their creates get; "watch": the error watches get
        self.refuse: dict[str, tuple[int, str, str]] = {}
        self.empty_watches = False
        self.on_create: list[Callable[[dict[str, Any]], Awaitable[None]]] = []
        self.on_delete: list[Callable[[dict[str, Any]], Awaitable[None]]] = []
        self._changed = asyncio.Condition()
        self._watches: set[web.StreamResponse] = set()
        self._cut = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(middlewares=[self._auth])
        base = "/api/v1/namespaces/{ns}/{kind}"
        app.router.add_get(base, self._collection)
        app.router.add_post(base, self._create)
        app.router.add_get(base + "/{name}", self._get)
        app.router.add_delete(base + "/{name}", self._delete)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self.drop_watches()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig whose current context ``standin`` points at this server."""
        import yaml

        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "standin",
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "standin", "user": {"token": TOKEN}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin",
                                                         "user": "standin",
                                                         "namespace": namespace}}],
        }))
        return path

    # -- what a test drives ----------------------------------------------------------------------
    def pods(self, namespace: str | None = None) -> dict[str, dict[str, Any]]:
        return {name: obj for (kind, ns, name), obj in self.objects.items()
                if kind == "pods" and namespace in (None, ns)}

    def secrets(self, namespace: str | None = None) -> dict[str, dict[str, Any]]:
        return {name: obj for (kind, ns, name), obj in self.objects.items()
                if kind == "secrets" and namespace in (None, ns)}

    async def set_status(self, namespace: str, name: str, **status: Any) -> None:
        """Replace parts of a pod's status (as a kubelet would) and emit MODIFIED."""
        obj = self.objects[("pods", namespace, name)]
        obj["status"] = {**(obj.get("status") or {}), **status}
        await self._emit("MODIFIED", "pods", namespace, obj)

    async def add(self, kind: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create an object directly (a pod left by an earlier control plane)."""
        return await self._store(kind, namespace, copy.deepcopy(obj))

    def drop_watches(self) -> None:
        """Cut every open watch stream, as a lost connection would."""
        self._cut += 1
        for response in list(self._watches):
            with contextlib.suppress(Exception):
                response.force_close()
                if response.task is not None:
                    response.task.cancel()
        self._watches.clear()

    def compact(self) -> None:
        """Forget the event history: a watch from an older version gets 410 Gone."""
        self.oldest = self.version + 1
        self.history.clear()

    # -- the HTTP side ---------------------------------------------------------------------------
    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _status(401, "Unauthorized", "no or wrong bearer token")
        if request.match_info.get("kind") not in KINDS:
            return _status(404, "NotFound", f"the stand-in has no {request.path}")
        return await handler(request)

    async def _collection(self, request: web.Request) -> web.StreamResponse:
        kind, ns = request.match_info["kind"], request.match_info["ns"]
        selector = request.query.get("labelSelector")
        if request.query.get("watch") in ("true", "1", "True"):
            self.watch_requests += 1
            if "watch" in self.refuse:  # e.g. an overloaded API server
                return _status(*self.refuse["watch"])
            if self.empty_watches:  # a proxy that ends every stream at once
                return web.Response(content_type="application/json", body=b"")
            return await self._watch(request, kind, ns, selector)
        items = [copy.deepcopy(obj) for (k, n, _), obj in sorted(self.objects.items())
                 if k == kind and n == ns and _matches(obj, selector)]
        limit = int(request.query.get("limit") or 0)
        return web.json_response({"kind": KINDS[kind] + "List", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": str(self.version)},
                                  "items": items[:limit] if limit else items})

    async def _watch(self, request: web.Request, kind: str, ns: str,
                     selector: str | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        self._watches.add(response)
        since = int(request.query.get("resourceVersion") or self.version)
        timeout = float(request.query.get("timeoutSeconds") or 300)
        cut = self._cut
        try:
            if since < self.oldest:
                await self._send(response, {"type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
                    "reason": "Expired", "message": f"too old resource version: {since}"}})
                return response
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while self._cut == cut and loop.time() < deadline:
                for version, event, k, n, obj in list(self.history):
                    if version > since and k == kind and n == ns and _matches(obj, selector):
                        await self._send(response, {"type": event, "object": obj})
                    since = max(since, version)
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(),
                                               min(1.0, max(0.01, deadline - loop.time())))
            if self._cut == cut:
                await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._watches.discard(response)
        return response

    @staticmethod
    async def _send(response: web.StreamResponse, event: dict[str, Any]) -> None:
        await response.write((json.dumps(event) + "\n").encode())

    async def _create(self, request: web.Request) -> web.Response:
        kind, ns = request.match_info["kind"], request.match_info["ns"]
        if kind in self.refuse:  # e.g. RBAC: pods/create forbidden
            return _status(*self.refuse[kind])
        body = await request.json()
        name = (body.get("metadata") or {}).get("name")
        if not name:
            return _status(422, "Invalid", "metadata.name is required")
        if (kind, ns, name) in self.objects:
            return _status(409, "AlreadyExists", f'{kind} "{name}" already exists')
        self.created.append(copy.deepcopy(body))
        obj = await self._store(kind, ns, body)
        for hook in list(self.on_create):
            await hook(copy.deepcopy(obj))
        return web.json_response(obj, status=201)

    async def _store(self, kind: str, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        meta = body.setdefault("metadata", {})
        meta.update(namespace=ns, uid=str(uuid.uuid4()),
                    creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if kind == "pods":
            body.setdefault("status", {"phase": "Pending"})
        self.objects[(kind, ns, meta["name"])] = body
        await self._emit("ADDED", kind, ns, body)
        return copy.deepcopy(body)

    async def _get(self, request: web.Request) -> web.Response:
        key = (request.match_info["kind"], request.match_info["ns"], request.match_info["name"])
        if key not in self.objects:
            return _status(404, "NotFound", f'{key[0]} "{key[2]}" not found')
        return web.json_response(self.objects[key])

    async def _delete(self, request: web.Request) -> web.Response:
        key = (request.match_info["kind"], request.match_info["ns"], request.match_info["name"])
        obj = self.objects.pop(key, None)
        if obj is None:
            return _status(404, "NotFound", f'{key[0]} "{key[2]}" not found')
        self.deleted.append((key[0], key[2]))
        await self._emit("DELETED", key[0], key[1], obj)
        for hook in list(self.on_delete):
            await hook(copy.deepcopy(obj))
        return web.json_response(obj)

    async def _emit(self, event: str, kind: str, ns: str, obj: dict[str, Any]) -> None:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.history.append((self.version, event, kind, ns, copy.deepcopy(obj)))
        async with self._changed:
            self._changed.notify_all()


class LocalKubelet:
    """Runs each created pod's command as a local process, with the pod's environment.

    It stands in for a kubelet as the stand-in stands in for the API: the agent is the
    real ``leoflow-agent`` (``python -m leoflow.agent``, the console script's module), the
    token comes from the pod's Secret through its ``secretKeyRef``, and the pod's phase
    follows the process: Running when started, Succeeded or Failed with its exit code.
    """

    def __init__(self, standin: KubernetesStandIn, *, command: list[str] | None = None,
                 passed: tuple[str, ...] = ("PATH", "HOME", "LANG", "TMPDIR")) -> None:
        self.standin = standin
        self.command = command or [sys.executable, "-m", "leoflow.agent"]
        self.passed = passed
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.envs: dict[str, dict[str, str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        standin.on_create.append(self._created)
        standin.on_delete.append(self._deleted)

    async def _created(self, obj: dict[str, Any]) -> None:
        if obj.get("kind") != "Pod":
            return
        task = asyncio.create_task(self._run(obj))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deleted(self, obj: dict[str, Any]) -> None:
        """A deleted pod's containers get SIGTERM, as from a kubelet."""
        process = self.processes.get(obj["metadata"]["name"])
        if obj.get("kind") == "Pod" and process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()

    def _env(self, obj: dict[str, Any]) -> dict[str, str]:
        ns = obj["metadata"]["namespace"]
        env = {k: os.environ[k] for k in self.passed if k in os.environ}
        for item in obj["spec"]["containers"][0].get("env") or []:
            if "value" in item:
                env[item["name"]] = item["value"]
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                secret = self.standin.objects[("secrets", ns, ref["name"])]
                env[item["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        return env

    async def _run(self, obj: dict[str, Any]) -> None:
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        env = self.envs[name] = self._env(obj)
        process = await asyncio.create_subprocess_exec(
            *self.command, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True)
        self.processes[name] = process
        image = obj["spec"]["containers"][0]["image"]

        def container(state: dict[str, Any], ready: bool) -> list[dict[str, Any]]:
            return [{"name": "task", "image": image, "imageID": f"docker.io/{image}@sha256:0",
                     "ready": ready, "restartCount": 0, "state": state}]

        await self.standin.set_status(ns, name, phase="Running",
                                      containerStatuses=container({"running": {}}, True))
        code = await process.wait()
        if ("pods", ns, name) not in self.standin.objects:
            return
        await self.standin.set_status(
            ns, name, phase="Succeeded" if code == 0 else "Failed",
            containerStatuses=container({"terminated": {
                "exitCode": code, "reason": "Completed" if code == 0 else "Error"}}, False))

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
