"""Reaching a cluster: the kubeconfig (or in-cluster account), a reachability check, and
where task pods find the agent service. Apart from the executor so that ``leoflow lite``
can check a cluster before it starts anything; ``kubernetes_asyncio`` is imported lazily.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leoflow.errors import LeoflowError

log = logging.getLogger("leoflow.executor.kubernetes")


class KubernetesUnavailable(LeoflowError):
    """No kubeconfig (or context) to use, or the cluster does not answer."""


async def load_api_client(*, context: str | None = None,
                          config_file: str | Path | None = None) -> Any:
    """An ``ApiClient`` for the kubeconfig context (default: the current one), else the
    in-cluster service account; ``KubernetesUnavailable`` says which is missing."""
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    path = str(config_file) if config_file else os.environ.get("KUBECONFIG",
                                                              "~/.kube/config")
    path = path.split(os.pathsep)[0]
    if not Path(path).expanduser().exists():
        if context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        raise KubernetesUnavailable(
            f"no kubeconfig at {path}: the Kubernetes executor needs one (create a local "
            "cluster with 'k3d cluster create leoflow', or set KUBECONFIG), or use the "
            "subprocess executor")
    try:
        await config.load_kube_config(config_file=str(Path(path).expanduser()),
                                      context=context, client_configuration=configuration,
                                      persist_config=False)
    except config.ConfigException as exc:
        raise KubernetesUnavailable(
            f"kubeconfig {path}: {exc} (contexts: 'kubectl config get-contexts'; choose one "
            "with LEOFLOW_K8S_CONTEXT)") from None
    return client.ApiClient(configuration)


def kubeconfig_context(context: str | None = None, config_file: str | Path | None = None
                       ) -> tuple[str | None, str | None]:
    """``(name, namespace)`` of ``context`` (default: the current one) in the kubeconfig;
    ``(None, None)`` without a readable kubeconfig. Used to pick defaults only."""
    import yaml

    path = str(config_file) if config_file else os.environ.get("KUBECONFIG", "~/.kube/config")
    try:
        text = Path(path.split(os.pathsep)[0]).expanduser().read_text("utf-8")
        data = yaml.safe_load(text) or {}
        name = context or data.get("current-context")
        found = next((c.get("context") or {} for c in data.get("contexts") or ()
                      if c.get("name") == name), {})
        return name, found.get("namespace")
    except (OSError, yaml.YAMLError, AttributeError):
        return None, None


IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class ClusterTarget:
    """A reachable cluster and where its pods find the agent service.

    ``listen_host`` is where the agent service must listen so pods can dial it: all
    interfaces when pods reach this machine from outside its loopback (a k3d cluster, an
    advertised address), else what the caller chose.
    """

    api_client: Any
    namespace: str
    context: str | None
    advertised: str | None
    listen_host: str

    def address(self, port: int) -> str:
        """``LEOFLOW_AGENT_ADDRESS`` for the pods: the advertised ``host[:port]`` list
        (a missing port is the agent service's), else this host and port."""
        if not self.advertised:
            return f"{self.listen_host}:{port}"
        return ",".join(a if a.rsplit(":", 1)[-1].isdigit() and ":" in a else f"{a}:{port}"
                        for a in (x.strip() for x in self.advertised.split(",")) if a)


async def connect_cluster(*, context: str | None, namespace: str | None,
                          advertised: str | None, grpc_host: str,
                          config_file: str | Path | None = None) -> ClusterTarget:
    """Load the kubeconfig (or the in-cluster account), check the API answers, and work out
    the namespace and the address pods dial; ``KubernetesUnavailable`` says what is wrong.

    Defaults: the namespace of the context, else the server's own (in a cluster), else
    ``default``; for a k3d context (``k3d-*``) without an advertised address, pods dial
    ``host.k3d.internal``, k3d's name for the machine running the cluster.
    """
    client = await load_api_client(context=context, config_file=config_file)
    name, context_namespace = kubeconfig_context(context, config_file)
    if namespace is None:
        namespace = context_namespace
    if namespace is None and IN_CLUSTER_NAMESPACE.exists():
        namespace = IN_CLUSTER_NAMESPACE.read_text().strip() or None
    namespace = namespace or "default"
    try:
        await check_reachable(client, namespace)
    except BaseException:
        await client.close()
        raise
    if not advertised and name and name.startswith("k3d-") and grpc_host in LOOPBACK:
        advertised = "host.k3d.internal"
    listen = grpc_host
    if advertised and grpc_host in LOOPBACK and not all(
            a.strip().rsplit(":", 1)[0].strip("[]") in LOOPBACK
            for a in advertised.split(",") if a.strip()):
        listen = "0.0.0.0"
    if not advertised and grpc_host in LOOPBACK:
        log.warning("pods will dial the agent service at %s, which only works when the "
                    "cluster runs on this machine's network; set LEOFLOW_GRPC_ADVERTISE_ADDRESS "
                    "to an address pods can reach", grpc_host)
    log.info("Kubernetes executor: context %s, namespace %s", name or "(in cluster)",
             namespace)
    return ClusterTarget(client, namespace, name, advertised, listen)


async def check_reachable(api_client: Any, namespace: str, timeout: float = 10.0) -> None:
    """List one pod of the namespace: fail fast with a clear error when the cluster is
    unreachable or the account may not list pods, instead of failing the first task."""
    from kubernetes_asyncio import client

    host = api_client.configuration.host
    try:
        # raw (not models): only the answer's status matters here, and the client's
        # signatures, typed for models, do not describe the HTTP response it returns then
        v1: Any = client.CoreV1Api(api_client)
        response = await asyncio.wait_for(v1.list_namespaced_pod(
            namespace, limit=1, _request_timeout=timeout, _preload_content=False), timeout + 1)
        status, reason = response.status, response.reason
        response.release()
    except Exception as exc:
        raise KubernetesUnavailable(
            f"the Kubernetes API at {host} is unreachable ({type(exc).__name__}: {exc}); "
            "is the cluster running ('k3d cluster list')?") from None
    if not 200 <= status <= 299:
        raise KubernetesUnavailable(
            f"the Kubernetes API at {host} refused to list pods in namespace "
            f"{namespace!r}: {status} {reason}")
