"""What the Kubernetes executor sends and reads: pod and Secret manifests, pod diagnosis.

Pure functions over plain dicts (the API's JSON, camelCase keys), kept apart from the I/O
of ``kubernetes.py`` so every manifest field and every failure mapping is testable alone.

A try's token reaches its pod only through a Secret (``valueFrom.secretKeyRef``): anyone
who can read pod specs (``kubectl get pod -o yaml``, an admission log) never sees it.
Label values must match Kubernetes' label syntax (63 characters of ``[A-Za-z0-9-_.]``),
so DAG, run and task ids are sanitised there and kept whole in annotations.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leoflow.engine.executors.base import TaskLaunch
from leoflow.engine.spec.model import TaskSpec

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "leoflow"
SELECTOR = f"{MANAGED_BY}={MANAGER}"
PREFIX = "leoflow.dev/"
TI_LABEL = PREFIX + "ti-id"
TRY_LABEL = PREFIX + "try-number"
CONTAINER = "task"
TOKEN_KEY = "token"
AGENT_COMMAND = ("leoflow-agent",)

PULL_FAILURES = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")
_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def label_value(text: str) -> str:
    """``text`` in label syntax; when it had to change, a short hash keeps values distinct."""
    clean = _LABEL_BAD.sub("-", text).strip("-_.")
    if clean == text and len(text) <= 63:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{clean[:54].rstrip('-_.')}-{digest}".lstrip("-")


def pod_name(launch: TaskLaunch, resume: int = 0) -> str:
    """One name per try: a retry never collides with its predecessor's pod still in GC.

    A try that resumes (after a deferral or a reschedule) starts a new pod while the earlier
    one may still be there: ``resume`` numbers those (``-r1``, ``-r2``...)."""
    base = f"leoflow-{launch.ti_id}-{launch.try_number}".lower()
    return f"{base}-r{resume}" if resume else base


def labels_of(launch: TaskLaunch) -> dict[str, str]:
    """The labels linking a pod (and its Secret) to its DAG, run, task and try.

    ``map-index`` is set only for mapped tasks, as Airflow does: ``-1`` is not a valid label
    value (it must begin with a letter or digit); the annotation always carries it.
    """
    labels = {
        MANAGED_BY: MANAGER,
        PREFIX + "dag-id": label_value(launch.dag_id),
        PREFIX + "run-id": label_value(launch.run_id),
        PREFIX + "task-id": label_value(launch.task_id),
        TRY_LABEL: str(launch.try_number),
        TI_LABEL: launch.ti_id,
    }
    if launch.map_index >= 0:
        labels[PREFIX + "map-index"] = str(launch.map_index)
    return labels


def secret_manifest(launch: TaskLaunch, token: str, namespace: str, *,
                    resume: int = 0) -> dict[str, Any]:
    """The Secret holding the try's token; it shares the pod's name and labels."""
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": pod_name(launch, resume), "namespace": namespace,
                     "labels": labels_of(launch)},
        "data": {TOKEN_KEY: base64.b64encode(token.encode()).decode()},
    }


def pod_manifest(launch: TaskLaunch, task: TaskSpec, *, image: str, address: str,
                 namespace: str, resume: int = 0) -> dict[str, Any]:
    """The pod of one try: ``leoflow-agent`` as PID 1 in the DAG's image, with the task's
    pod settings (leoflow.yaml's ``kubernetes`` blocks, merged at compile time)."""
    settings: Mapping[str, Any] = task.kubernetes or {}
    name = pod_name(launch, resume)
    env = [{"name": k, "value": v} for k, v in sorted((settings.get("env") or {}).items())]
    if "LEOFLOW_ZYGOTE" not in (settings.get("env") or {}):
        # a pod runs one try: a per-DAG-version zygote (agent/zygote_client) would only add
        # a process to it
        env.append({"name": "LEOFLOW_ZYGOTE", "value": "0"})
    env += [
        {"name": "LEOFLOW_AGENT_ADDRESS", "value": address},
        {"name": "LEOFLOW_TI_ID", "value": launch.ti_id},
        {"name": "LEOFLOW_TOKEN",
         "valueFrom": {"secretKeyRef": {"name": name, "key": TOKEN_KEY}}},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]
    container: dict[str, Any] = {"name": CONTAINER, "image": image,
                                 "command": list(AGENT_COMMAND), "env": env}
    resources = settings.get("resources")
    if resources:
        container["resources"] = {part: {k: str(v) for k, v in values.items()}
                                  for part, values in resources.items() if values}
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    account = settings.get("service_account_name")
    if account:
        spec["serviceAccountName"] = account
    else:
        # a task needs no access to the Kubernetes API unless its account says so
        spec["automountServiceAccountToken"] = False
    if settings.get("node_selector"):
        spec["nodeSelector"] = dict(settings["node_selector"])
    if settings.get("tolerations"):
        spec["tolerations"] = [_toleration(t) for t in settings["tolerations"]]
    if launch.execution_timeout:
        spec["activeDeadlineSeconds"] = max(1, math.ceil(launch.execution_timeout))
    annotations = {**(settings.get("annotations") or {}),
                   PREFIX + "dag-id": launch.dag_id, PREFIX + "run-id": launch.run_id,
                   PREFIX + "task-id": launch.task_id,
                   PREFIX + "map-index": str(launch.map_index)}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {**(settings.get("labels") or {}), **labels_of(launch)},
                     "annotations": annotations},
        "spec": spec,
    }


def _toleration(item: Mapping[str, Any]) -> dict[str, Any]:
    names = {"toleration_seconds": "tolerationSeconds"}
    return {names.get(k, k): v for k, v in item.items()}


@dataclass(frozen=True)
class Diagnosis:
    """What a pod's status means for its try.

    ``failure`` is the reason to fail the try with (None: nothing wrong, or not yet);
    ``ended`` says the pod will run nothing more (its phase is Succeeded or Failed);
    ``unschedulable`` says it waits for a node that the scheduler cannot find.
    """

    failure: str | None = None
    ended: bool = False
    unschedulable: bool = False


def diagnose(pod: Mapping[str, Any], *, unschedulable_for: float | None = None,
             unschedulable_limit: float = 300.0) -> Diagnosis:
    """Map a pod's status to a try's fate; ``unschedulable_for`` is how long (s) it has
    been seen unschedulable. Reasons are written for the person reading the task's log."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    ended = phase in ("Succeeded", "Failed")
    reason, message = status.get("reason"), (status.get("message") or "").strip()
    detail = f": {message}" if message else ""
    if reason == "Evicted":
        return Diagnosis(f"Kubernetes evicted the task's pod (Evicted){detail}", True)
    if reason == "DeadlineExceeded":
        deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        return Diagnosis(f"the task's pod ran past its deadline of {deadline} s "
                         f"(execution_timeout; DeadlineExceeded) and Kubernetes stopped it",
                         True)
    image = _image(pod)
    for state, last in _container_states(status):
        waiting = state.get("waiting") or {}
        why = waiting.get("reason")
        said = (waiting.get("message") or "").strip()
        if why in PULL_FAILURES:
            return Diagnosis(f"the image {image!r} could not be pulled ({why})"
                             + (f": {said}" if said else "")
                             + "; check the image name, that it was pushed, and the "
                               "registry's credentials", ended)
        if why == "CrashLoopBackOff":
            return Diagnosis("the task's container keeps crashing (CrashLoopBackOff)"
                             + (f": {said}" if said else ""), ended)
        for terminated in (state.get("terminated") or {}, last.get("terminated") or {}):
            if terminated.get("reason") == "OOMKilled":
                limit = _memory_limit(pod)
                return Diagnosis("the task's container was killed for using more memory than "
                                 f"its limit (OOMKilled; limits.memory={limit or 'none'}); "
                                 "raise resources.limits.memory in leoflow.yaml", True)
    if phase == "Failed":
        code = _exit_code(status)
        how = f"its container exited with code {code}" if code is not None else "it failed"
        return Diagnosis(f"the task's pod failed before the agent reported a result ({how}"
                         + (f"; {reason}" if reason else "") + f"){detail}", True)
    if phase == "Succeeded":
        return Diagnosis("the task's pod ended without the agent reporting a result", True)
    if phase == "Pending":
        condition = next((c for c in status.get("conditions") or ()
                          if c.get("type") == "PodScheduled"), None)
        if condition and condition.get("status") == "False" \
                and condition.get("reason") == "Unschedulable":
            if unschedulable_for is not None and unschedulable_for >= unschedulable_limit:
                said = (condition.get("message") or "").strip()
                return Diagnosis(f"the task's pod could not be scheduled on any node for "
                                 f"{unschedulable_limit:g} s (Unschedulable)"
                                 + (f": {said}" if said else "")
                                 + "; check its resources, node_selector and tolerations",
                                 False, True)
            return Diagnosis(unschedulable=True)
    return Diagnosis(ended=ended)


def _container_states(status: Mapping[str, Any]) -> list[tuple[dict[str, Any],
                                                                dict[str, Any]]]:
    found = [*(status.get("initContainerStatuses") or ()),
             *(status.get("containerStatuses") or ())]
    return [(c.get("state") or {}, c.get("lastState") or {}) for c in found]


def _exit_code(status: Mapping[str, Any]) -> int | None:
    for state, _ in _container_states(status):
        terminated = state.get("terminated")
        if terminated and terminated.get("exitCode") is not None:
            return int(terminated["exitCode"])
    return None


def _image(pod: Mapping[str, Any]) -> str | None:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return containers[0].get("image")


def _memory_limit(pod: Mapping[str, Any]) -> str | None:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return ((containers[0].get("resources") or {}).get("limits") or {}).get("memory")


def launch_key(pod: Mapping[str, Any]) -> tuple[str, int] | None:
    """``(ti_id, try_number)`` from a managed pod's labels; None for anything else."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    try:
        return labels[TI_LABEL], int(labels[TRY_LABEL])
    except (KeyError, ValueError):
        return None
