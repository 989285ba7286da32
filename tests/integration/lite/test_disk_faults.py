"""A read-only or full disk, a binary leoflow.yaml: one line naming the path and the cause
(issue 15, item 15). The faults are real: read-only and tiny tmpfs mounts (as root; the
tests are skipped where mounting is not allowed), real ``leoflow`` / ``leoflow-server``
processes, a real disk that fills up under a running server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.ha.servers import PASSWORD, start_server

CLI = [sys.executable, "-m", "leoflow.app.cli"]


def _mount(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "4m", *, read_only: bool = False,
          before: tuple[str, ...] = ()) -> Iterator[Path]:
    """A tmpfs at ``path`` (folders ``before`` made in it first, then remounted ro)."""
    if os.geteuid() != 0 or not _mount(path, f"size={size},mode=0755"):
        pytest.skip("needs root and tmpfs mounts (a real read-only or full disk)")
    try:
        for folder in before:
            (path / folder).mkdir(parents=True)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    env.update({"LEOFLOW_HOME": str(home), "LEOFLOW_BOOTSTRAP_PASSWORD": PASSWORD})
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The process's error output, which must be a single line without a traceback."""
    text = done.stderr.strip()
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_read_only_home_server_and_lite_refuse_in_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", read_only=True, before=("home",)) as mount:
        home = mount / "home"
        server = subprocess.run([sys.executable, "-m", "leoflow.app.server", "--port",
                                 str(free_port())], env=env_for(home), capture_output=True,
                                text=True, timeout=60)
        assert server.returncode == 2
        line = one_line(server)
        assert str(home) in line and "read-only file system" in line, line
        lite = subprocess.run([*CLI, "lite", "--no-browser", "--port", str(free_port()),
                               "--workspace", str(tmp_path / "ws")], env=env_for(home),
                              capture_output=True, text=True, timeout=60)
        assert lite.returncode == 1
        line = one_line(lite)
        assert str(home) in line and "read-only file system" in line, line


def test_read_only_workspace_lite_refuses_in_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", read_only=True, before=("ws",)) as mount:
        lite = subprocess.run([*CLI, "lite", "--no-browser", "--port", str(free_port()),
                               "--workspace", str(mount / "ws")],
                              env=env_for(tmp_path / "home"), capture_output=True, text=True,
                              timeout=60)
        assert lite.returncode == 1
        line = one_line(lite)
        assert f"the workspace {mount / 'ws'}" in line and "read-only" in line, line


def test_cli_write_to_a_read_only_folder_and_binary_yaml(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "dag.py").write_text(
        "from leoflow import DAG, task\n\nwith DAG('proj'):\n    @task\n    def t():\n"
        "        return 1\n    t()\n")
    (project / "leoflow.yaml").write_text("dag_id: proj\n")
    env = env_for(tmp_path / "home")
    with tmpfs(tmp_path / "ro", read_only=True) as mount:
        compiled = subprocess.run([*CLI, "compile", str(project), "-o",
                                   str(mount / "dag.json")], env=env, capture_output=True,
                                  text=True, timeout=120)
        assert compiled.returncode == 1
        line = one_line(compiled)
        assert str(mount / "dag.json") in line and "read-only file system" in line, line
    (project / "leoflow.yaml").write_bytes(b"dag_id: proj\n\xff\xfe\x00binary")
    validated = subprocess.run([*CLI, "validate", str(project)], env=env,
                               capture_output=True, text=True, timeout=120)
    assert validated.returncode == 1
    output = (validated.stdout + validated.stderr).strip()
    assert "Traceback" not in output and "UnicodeDecodeError" not in output, output
    assert "leoflow.yaml:2" in output and "not UTF-8" in output, output


def test_full_disk_is_named_in_the_api_answer(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", size="16m") as mount:
        home = mount / "home"
        server = start_server("full", tmp_path, home=home, env={})
        try:
            token = httpx.post(f"{server.url}/auth/token", json={
                "username": "admin", "password": PASSWORD}, timeout=10).json()["access_token"]
            api = httpx.Client(base_url=server.url, timeout=30,
                               headers={"Authorization": f"Bearer {token}"})
            assert api.post("/api/v2/variables", json={"key": "before", "value": "1"}
                            ).status_code in (200, 201)
            # Fill the disk, as a runaway task log or a copy would.
            with open(mount / "filler", "wb") as filler, contextlib.suppress(OSError):
                while True:
                    filler.write(b"\0" * (1 << 20))
                    filler.flush()
            answer = api.post("/api/v2/variables", json={"key": "after",
                                                          "value": "x" * 400_000})
            assert answer.status_code == 507, answer.text
            detail = answer.json()["detail"]
            assert "no space left on device" in detail and str(home) in detail, detail
            # Space freed: the server works again, no restart needed.
            (mount / "filler").unlink()
            try:
                later = api.post("/api/v2/variables", json={"key": "later", "value": "2"})
            except httpx.TransportError as exc:
                pytest.fail(f"the server stopped answering ({exc}):\n{server.log()[-30000:]}")
            assert later.status_code in (200, 201), later.text
        finally:
            server.stop()
