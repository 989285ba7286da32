"""``leoflow compile --build`` where no Docker engine runs (the normal case on these
machines): exit 1, say exactly what is missing, and leave the context for another builder."""

from __future__ import annotations

import socket
from pathlib import Path

from .conftest import copy_example, default_context, leoflow, read_json


def _closed_port() -> int:
    """A 127.0.0.1 port that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_no_engine_reachable(tmp_path: Path, cli_env: dict[str, str]) -> None:
    project = copy_example("hello", tmp_path)
    port = _closed_port()
    done = leoflow("compile", str(project), "--build",
                   env={**cli_env, "DOCKER_HOST": f"tcp://127.0.0.1:{port}"})
    assert done.returncode == 1
    first = done.stderr.splitlines()[0]
    assert first == (f"error: cannot build: no Docker engine at tcp://127.0.0.1:{port} "
                     "(DOCKER_HOST): connection refused.")
    context = default_context(cli_env, "hello")
    assert f"The Dockerfile and build context are in {context}" in done.stderr
    tag = read_json(project / "dag.json")["content_hash"].split(":")[1][:12]
    image = f"leoflow-dag-hello:{tag}"
    assert f"docker build -t {image} {context}" in done.stderr
    assert f"buildah bud -t {image} {context}" in done.stderr
    assert f"--context dir://{context} --destination {image}" in done.stderr
    assert "Traceback" not in done.stderr
    # the context is left for any builder; dag.json was written but records no image
    assert (context / "Dockerfile").is_file()
    assert (context / "project" / "dag.json").is_file()
    assert read_json(project / "dag.json")["image"] is None
    assert not (project / ".leoflow").exists()  # the project gets no build output


def test_no_engine_with_docker_host_unset(tmp_path: Path, cli_env: dict[str, str]) -> None:
    project = copy_example("hello", tmp_path)
    done = leoflow("compile", str(project), "--build", "--json", env=cli_env)
    assert done.returncode == 1
    report = __import__("json").loads(done.stdout)
    assert report["ok"] is False
    assert report["error"]["kind"] == "image_engine"
    assert report["error"]["context"] == str(default_context(cli_env, "hello"))
    # whatever this machine has at the default socket, the message names it
    assert report["error"]["message"].startswith(
        "cannot build: no Docker engine at unix:///var/run/docker.sock (DOCKER_HOST unset)")
    # progress goes to stderr when stdout carries JSON
    assert "wrote " in done.stderr


def test_docker_package_missing(tmp_path: Path, cli_env: dict[str, str]) -> None:
    project = copy_example("hello", tmp_path)
    shadow = tmp_path / "shadow" / "docker"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named docker')\n")
    done = leoflow("compile", str(project), "--build",
                   env={**cli_env, "PYTHONPATH": str(tmp_path / "shadow")})
    assert done.returncode == 1
    assert done.stderr.startswith(
        "error: cannot build: the 'docker' Python package is not installed "
        "(pip install 'leoflow[pro]')")
    assert (default_context(cli_env, "hello") / "Dockerfile").is_file()


def test_push_without_build_names_the_flag(tmp_path: Path, cli_env: dict[str, str]) -> None:
    project = copy_example("hello", tmp_path)
    done = leoflow("compile", str(project), "--push", env=cli_env)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: --push needs --build: the image is pushed after it is built")
    assert not (project / "dag.json").exists()
    assert not (project / ".leoflow").exists()
    done = leoflow("compile", str(project), "--image", "x:1", env=cli_env)
    assert done.returncode == 1
    assert "--image names the image to build: add --build" in done.stderr


def test_compile_without_build_never_imports_docker(tmp_path: Path,
                                                    cli_env: dict[str, str]) -> None:
    project = copy_example("hello", tmp_path)
    shadow = tmp_path / "shadow" / "docker"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise SystemExit('docker was imported')\n")
    env = {**cli_env, "PYTHONPATH": str(tmp_path / "shadow")}
    for args in (["--help"], ["compile", "--help"], ["compile", str(project)],
                 ["compile", str(project), "--context", str(tmp_path / "ctx")]):
        done = leoflow(*args, env=env)
        assert done.returncode == 0, (args, done.stderr)
        assert "docker was imported" not in done.stderr
