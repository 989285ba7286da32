"""``leoflow lite --executor k8s``: the kubeconfig's cluster is checked before Lite starts.

The cluster is the in-test ``KubernetesStandIn`` (no Kubernetes API server can run on these
machines); Lite runs as a real ``leoflow lite`` process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.integration.executors.k8s_api_standin import KubernetesStandIn


def _env(tmp_path: Path, kubeconfig: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env.update(LEOFLOW_HOME=str(tmp_path / "home"), KUBECONFIG=str(kubeconfig))
    return env


async def _lite(tmp_path: Path, kubeconfig: Path, *extra: str
                ) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "leoflow.app.cli", "lite", "--executor", "k8s", "--port", "0",
        "--no-browser", "--workspace", str(tmp_path / "ws"), *extra,
        env=_env(tmp_path, kubeconfig), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True)


async def test_without_kubeconfig_lite_says_what_is_missing(tmp_path: Path) -> None:
    process = await _lite(tmp_path, tmp_path / "absent")
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    text = out.decode()
    assert process.returncode == 1
    assert "error: no kubeconfig at" in text and "k3d cluster create" in text
    assert "Traceback" not in text


async def test_with_a_cluster_down_lite_says_it_is_unreachable(tmp_path: Path) -> None:
    standin = KubernetesStandIn()
    await standin.start()
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
    await standin.stop()
    process = await _lite(tmp_path, kubeconfig)
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    text = out.decode()
    assert process.returncode == 1
    assert f"the Kubernetes API at {standin.url} is unreachable" in text
    assert "Traceback" not in text


@pytest.mark.slow
async def test_with_a_cluster_lite_starts_with_pods_as_its_executor(tmp_path: Path) -> None:
    standin = KubernetesStandIn()
    await standin.start()
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig", namespace="dev")
    process = await _lite(tmp_path, kubeconfig)
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(90):
            while not any("is ready" in line for line in lines):
                raw = await process.stdout.readline()
                if not raw:
                    break
                lines.append(raw.decode().rstrip())
        assert any("is ready" in line for line in lines), lines
        assert any("tasks run as pods: context standin, namespace dev" in line
                   for line in lines), lines
        assert standin.watch_requests == 0  # no watch until there is a pod to follow
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
        await standin.stop()
