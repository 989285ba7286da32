"""The Dockerfile and build context generated for every example project.

No Docker engine runs on these machines, so these tests check what any builder would be
given (the text of the Dockerfile and the files of the context), not a built image.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from leoflow.engine.spec.canonical import content_hash

from .conftest import EXAMPLE_NAMES, copy_example, default_context, leoflow, read_json

KNOWN_INSTRUCTIONS = {"FROM", "USER", "ENV", "RUN", "COPY", "LABEL", "WORKDIR", "ENTRYPOINT"}


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` per logical line (comments dropped, '\\' joined)."""
    logical = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split()[0], line.split(None, 1)[1]) for line in logical.splitlines()
            if line.strip()]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_gets_a_complete_context(name: str, tmp_path: Path,
                                               cli_env: dict[str, str]) -> None:
    project = copy_example(name, tmp_path)
    # local state and secrets the image must never carry
    (project / ".leoflow" / "venv").mkdir(parents=True)
    (project / ".leoflow" / "venv" / "state").write_text("local")
    (project / ".env").write_text("API_KEY=secret\n")
    (project / "keys").mkdir()
    (project / "keys" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (project / "keys" / "server.pem").write_text("cert")
    (project / "__pycache__").mkdir()
    (project / "__pycache__" / "dag.cpython-311.pyc").write_bytes(b"\0")
    (project / "helpers.py").write_text("VALUE = 1\n")
    config = yaml.safe_load((project / "leoflow.yaml").read_text())

    done = leoflow("compile", str(project), "--context", str(tmp_path / "ctx"), env=cli_env)
    assert done.returncode == 0, done.stderr
    context = tmp_path / "ctx"
    dockerfile = (context / "Dockerfile").read_text()
    version = config["python_version"]
    compiled = read_json(project / "dag.json")
    tag = compiled["content_hash"].split(":")[1][:12]

    # base image, environments, user, entrypoint
    assert f"\nFROM python:{version}-slim\n" in dockerfile
    assert "RUN python -m venv /opt/leoflow/dag-venv" in dockerfile
    assert "RUN python -m venv /opt/leoflow/agent-venv" in dockerfile
    assert "/opt/leoflow/agent-venv/bin/pip install /opt/leoflow/wheels/leoflow-" in dockerfile
    assert "LEOFLOW_TASK_PYTHON=/opt/leoflow/dag-venv/bin/python" in dockerfile
    assert "LEOFLOW_PROJECT_DIR=/opt/leoflow/project" in dockerfile
    assert "ENV PATH=/opt/leoflow/agent-venv/bin:$PATH" in dockerfile
    assert dockerfile.rstrip().endswith('USER 10001:10001\nENTRYPOINT ["leoflow-agent"]')
    assert f'dev.leoflow.dag-id="{config["dag_id"]}"' in dockerfile
    assert f'dev.leoflow.content-hash="{compiled["content_hash"]}"' in dockerfile
    assert f"docker build -t leoflow-dag-{name}:{tag} ." in dockerfile
    assert re.search(r'org\.opencontainers\.image\.revision="[0-9a-f]{64}"', dockerfile)

    # the DAG's dependencies: one requirements line per leoflow.yaml item, pip-installed
    deps = list(config.get("dependencies") or [])
    lines = [line for line in (context / "requirements-dag.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines == deps
    installs = "/opt/leoflow/dag-venv/bin/pip install -r" in dockerfile
    assert installs == bool(deps)

    files = sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file())
    assert {"Dockerfile", ".dockerignore", "requirements-dag.txt", "project/dag.py",
            "project/leoflow.yaml", "project/dag.json", "project/helpers.py"} <= set(files)
    wheels = [f for f in files if f.startswith("wheels/")]
    assert len(wheels) == 1 and wheels[0].endswith("-py3-none-any.whl")
    assert f"COPY {wheels[0]} /opt/leoflow/{wheels[0]}" in dockerfile
    for banned in (".leoflow/", ".env", "id_rsa", ".pem", "__pycache__", ".pyc"):
        assert not [f for f in files if banned in f], (banned, files)
    assert ".leoflow/" in (context / ".dockerignore").read_text().splitlines()

    # what a builder reads: known instructions only, and every COPY source in the context
    for instruction, rest in dockerfile_instructions(dockerfile):
        assert instruction in KNOWN_INSTRUCTIONS, instruction
        if instruction == "COPY":
            source = rest.split()[-2]
            assert (context / source).exists(), source

    # the dag.json in the image is the compiled one, and parses with a valid hash
    in_image = read_json(context / "project" / "dag.json")
    assert in_image == compiled
    assert content_hash(in_image) == in_image["content_hash"]


def test_base_image_and_image_name_flags(tmp_path: Path, cli_env: dict[str, str]) -> None:
    project = copy_example("hello", tmp_path)
    done = leoflow("compile", str(project), "--context", str(tmp_path / "ctx"),
                   "--base-image", "leoflow-python-runtime:3.11",
                   "--image", "registry.example:5000/team/hello", "--json", env=cli_env)
    assert done.returncode == 0, done.stderr
    dockerfile = (tmp_path / "ctx" / "Dockerfile").read_text()
    assert "\nFROM leoflow-python-runtime:3.11\n" in dockerfile
    # the base's Python is checked at build time against python_version
    assert "but the DAG declares python_version 3.11" in dockerfile
    report = __import__("json").loads(done.stdout)
    tag = report["written"][0]["content_hash"].split(":")[1][:12]
    assert report["image"]["image"] == f"registry.example:5000/team/hello:{tag}"
    assert report["image"]["built"] is False
    # without a build, dag.json records no image
    assert read_json(project / "dag.json")["image"] is None


def test_default_context_is_under_leoflow_home_and_is_replaced(
        tmp_path: Path, cli_env: dict[str, str]) -> None:
    project = copy_example("hello", tmp_path)
    assert leoflow("compile", str(project), "--build", env={
        **cli_env, "DOCKER_HOST": "tcp://127.0.0.1:1"}).returncode == 1  # no engine here
    context = default_context(cli_env, "hello")
    assert (context / "Dockerfile").is_file()
    (context / "stale.txt").write_text("from an earlier build")
    (project / "extra.py").write_text("X = 2\n")
    done = leoflow("compile", str(project), "--build", env={
        **cli_env, "DOCKER_HOST": "tcp://127.0.0.1:1"})
    assert done.returncode == 1
    assert not (context / "stale.txt").exists()
    assert (context / "project" / "extra.py").exists()
    assert not (project / ".leoflow").exists()


def test_a_context_inside_the_project_is_not_copied_into_itself(
        tmp_path: Path, cli_env: dict[str, str]) -> None:
    project = copy_example("hello", tmp_path)
    context = project / "build" / "image"
    done = leoflow("compile", str(project), "--context", str(context), env=cli_env)
    assert done.returncode == 0, done.stderr
    assert (context / "project" / "dag.py").is_file()
    assert not (context / "project" / "build").exists()
    done = leoflow("compile", str(project), "--context", str(project), env=cli_env)
    assert done.returncode == 1
    assert "the build context cannot be the project folder" in done.stderr


def test_a_foreign_folder_is_not_overwritten(tmp_path: Path, cli_env: dict[str, str]) -> None:
    project = copy_example("hello", tmp_path)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    done = leoflow("compile", str(project), "--context", str(foreign), env=cli_env)
    assert done.returncode == 1
    assert "is not empty and was not written by leoflow compile" in done.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"
