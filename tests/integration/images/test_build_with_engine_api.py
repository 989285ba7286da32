"""``leoflow compile --build [--push]`` talking to the Docker Engine API.

No Docker engine can run on these machines, so the engine here is ``FakeDockerEngine``, an
in-test stand-in of the endpoints the ``docker`` package calls (see fake_engine.py). The
CLI, the ``docker`` package and the HTTP conversation are real.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from leoflow.engine.spec.canonical import content_hash

from .conftest import copy_example, default_context, leoflow, read_json
from .fake_engine import DIGEST, IMAGE_ID, FakeDockerEngine


@pytest.fixture
def engine() -> Iterator[FakeDockerEngine]:
    with FakeDockerEngine() as fake:
        yield fake


def test_build_and_push_record_the_pushed_reference(
        tmp_path: Path, cli_env: dict[str, str], engine: FakeDockerEngine) -> None:
    project = copy_example("hello", tmp_path)
    (project / ".env").write_text("TOKEN=secret\n")
    image = "registry.example:5000/team/hello:v1"
    done = leoflow("compile", str(project), "--build", "--push", "--image", image,
                   env={**cli_env, "DOCKER_HOST": engine.docker_host})
    assert done.returncode == 0, done.stderr

    paths = [path for _method, path in engine.recorded.requests]
    assert paths[:2] == ["/version", "/v1.44/_ping"]
    assert paths[2:] == ["/v1.44/build",
                         "/v1.44/images/registry.example:5000/team/hello/push"]
    assert engine.recorded.build_query["t"] == [image]
    # the context the engine received: the Dockerfile written on disk, the project, the agent
    context = default_context(cli_env, "hello")
    files = engine.recorded.context_files
    assert files["Dockerfile"] == (context / "Dockerfile").read_bytes()
    assert {"project/dag.py", "project/leoflow.yaml", "project/dag.json",
            "requirements-dag.txt"} <= set(files)
    assert any(name.startswith("wheels/leoflow-") for name in files)
    assert not [n for n in engine.recorded.context_members if ".leoflow/" in n or ".env" in n]
    assert engine.recorded.pushes == [("registry.example:5000/team/hello", {"tag": ["v1"]})]

    # dag.json records the pushed reference with its digest, under a consistent hash
    recorded = read_json(project / "dag.json")
    assert recorded["image"] == f"{image}@{DIGEST}"
    assert content_hash(recorded) == recorded["content_hash"]
    in_image = json.loads(files["project/dag.json"])
    assert in_image["image"] is None
    assert {k: v for k, v in recorded.items() if k not in ("image", "content_hash")} == {
        k: v for k, v in in_image.items() if k not in ("image", "content_hash")}
    # the engine's output streamed as progress
    assert "Step 1/" in done.stdout and "FROM python:3.11-slim" in done.stdout
    assert f"pushed as {image}@{DIGEST}" in done.stdout
    assert f"image {image}@{DIGEST}" in done.stdout


def test_build_without_push_records_the_default_tag(
        tmp_path: Path, cli_env: dict[str, str], engine: FakeDockerEngine) -> None:
    project = copy_example("taskflow_etl", tmp_path)
    done = leoflow("compile", str(project), "--build", "--json",
                   env={**cli_env, "DOCKER_HOST": engine.docker_host})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    spec_in_image = read_json(default_context(cli_env, "taskflow_etl") / "project" / "dag.json")
    tag = spec_in_image["content_hash"].split(":")[1][:12]
    expected = f"leoflow-dag-taskflow_etl:{tag}"
    assert report["image"]["reference"] == expected
    assert report["image"]["image_id"] == IMAGE_ID
    assert report["image"]["pushed"] is False
    assert engine.recorded.pushes == []
    recorded = read_json(project / "dag.json")
    assert recorded["image"] == expected
    assert content_hash(recorded) == recorded["content_hash"]
    assert report["written"][0]["image"] == expected
    assert "Successfully tagged" in done.stderr  # progress on stderr beside --json


def test_a_failed_build_says_why_and_records_nothing(
        tmp_path: Path, cli_env: dict[str, str], engine: FakeDockerEngine) -> None:
    project = copy_example("hello", tmp_path)
    engine.build_error = ("The command '/bin/sh -c python -m venv /opt/leoflow/dag-venv' "
                          "returned a non-zero code: 1")
    done = leoflow("compile", str(project), "--build", "--push",
                   env={**cli_env, "DOCKER_HOST": engine.docker_host})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: the image build failed: {engine.build_error}")
    assert engine.recorded.pushes == []
    assert read_json(project / "dag.json")["image"] is None


def test_a_refused_push_says_why(tmp_path: Path, cli_env: dict[str, str],
                                 engine: FakeDockerEngine) -> None:
    project = copy_example("hello", tmp_path)
    engine.push_error = "denied: requested access to the resource is denied"
    done = leoflow("compile", str(project), "--build", "--push", "--image",
                   "registry.example/team/hello:v2",
                   env={**cli_env, "DOCKER_HOST": engine.docker_host})
    assert done.returncode == 1
    assert "error: the image push failed: denied: requested access to the resource is denied" \
        in done.stderr
    assert read_json(project / "dag.json")["image"] is None
