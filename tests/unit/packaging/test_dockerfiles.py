"""``packaging/controlplane.Dockerfile`` and ``packaging/python-runtime.Dockerfile``.

No Docker engine (nor buildah or kaniko) runs on the machines the suite runs on, so the
images are never built here. What is checked is what a build would rely on and what the
Helm chart assumes of the image: the stages and bases, the files copied in exist in the
repository and are not ignored, the user is not root and is the chart's uid, the ports are
the chart's, the entrypoint is a console script of this distribution and its default
arguments parse with leoflow-server's own parser, the health check asks a real route.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.packaging.chart import default_values

ROOT = Path(__file__).resolve().parents[3]
PACKAGING = ROOT / "packaging"
CONTROL_PLANE = PACKAGING / "controlplane.Dockerfile"
RUNTIME = PACKAGING / "python-runtime.Dockerfile"


@dataclass
class Instruction:
    command: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        assert self.args.startswith("["), f"line {self.line}: {self.command} in shell form"
        return json.loads(self.args)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, command: str) -> list[Instruction]:
        return [i for i in self.instructions if i.command == command]

    def last(self, command: str) -> Instruction:
        found = self.all(command)
        assert found, f"no {command} in the stage FROM {self.base}"
        return found[-1]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.args):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages): instructions with continuation lines joined and
    comments dropped, as Docker reads them."""
    lines = path.read_text("utf-8").splitlines()
    instructions: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        command, _, args = buffer.partition(" ")
        instructions.append(Instruction(command.upper(), args.strip(), start))
        buffer = ""
    assert not buffer, f"{path.name}: the last instruction ends with a continuation"
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.command == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", instruction.args, re.I)
            assert match, f"{path.name}:{instruction.line}: FROM {instruction.args}"
            stages.append(Stage(match.group(1), match.group(2), []))
        elif not stages:
            assert instruction.command == "ARG", f"{path.name}: {instruction.command} first"
            name, _, default = instruction.args.partition("=")
            arguments[name] = default
        else:
            stages[-1].instructions.append(instruction)
    return arguments, stages


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def minimum_python() -> tuple[int, ...]:
    spec = pyproject()["project"]["requires-python"]
    return tuple(int(p) for p in re.fullmatch(r">=\s*([\d.]+)", spec).group(1).split("."))


def check_python_base(arguments: dict[str, str], stage: Stage) -> None:
    assert stage.base == "python:${PYTHON_VERSION}-slim"
    version = tuple(int(p) for p in arguments["PYTHON_VERSION"].split("."))
    assert version >= minimum_python()


def check_user(stage: Stage) -> None:
    """The final user is the chart's unprivileged uid, set after every RUN (a RUN after
    USER would need root again)."""
    user = stage.last("USER")
    uid = user.args.split(":")[0]
    assert uid not in ("root", "0")
    security = default_values()["podSecurityContext"]
    assert user.args == f"{security['runAsUser']}:{security['runAsGroup']}"
    runs = [i.line for i in stage.all("RUN")]
    assert all(line < user.line for line in runs)
    created = " ".join(i.args for i in stage.all("RUN"))
    assert f"--uid {uid}" in created and f"--gid {security['runAsGroup']}" in created


# -- the control plane ---------------------------------------------------------------------
def test_the_control_plane_image_builds_in_two_stages_onto_a_slim_python():
    arguments, stages = parse(CONTROL_PLANE)
    assert [s.name for s in stages] == ["build", None]
    for stage in stages:
        check_python_base(arguments, stage)
    final = stages[-1]
    copied = [i.args for i in final.all("COPY")]
    assert copied == ["--from=build /opt/leoflow/venv /opt/leoflow/venv",
                      "--from=build /opt/leoflow/airflow-ui /opt/leoflow/airflow-ui"]
    assert final.env()["PATH"].startswith("/opt/leoflow/venv/bin:")
    assert not [i for i in final.all("RUN") if "pip install" in i.args], \
        "the final stage installs nothing: the venv comes built"


def test_the_build_stage_copies_files_that_exist_and_are_not_ignored():
    _, stages = parse(CONTROL_PLANE)
    ignore = [line.strip() for line in
              (PACKAGING / "controlplane.Dockerfile.dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    for instruction in stages[0].all("COPY"):
        *sources, _ = instruction.args.split()
        for source in sources:
            assert (ROOT / source).exists(), f"line {instruction.line}: {source} is missing"
            assert not any(fnmatch.fnmatch(source, pattern.removeprefix("**/"))
                           for pattern in ignore), f"{source} is ignored"
    # What must stay out of the context: virtualenvs, caches, DAG state.
    for pattern in ("**/.venv", "**/__pycache__", "**/.leoflow", ".git", "tests"):
        assert pattern in ignore
    install = " ".join(i.args for i in stages[0].all("RUN"))
    extra = re.search(r"leoflow-\*\.whl\)\[(\w+)\]", install).group(1)
    assert extra in pyproject()["project"]["optional-dependencies"]
    extras = " ".join(pyproject()["project"]["optional-dependencies"][extra])
    for package in ("kubernetes-asyncio", "redis"):
        assert package in extras  # the executor and the datastores of Pro


def test_the_build_bakes_in_the_airflow_ui_where_the_chart_points_the_server():
    """``leoflow ui install`` of the version Leoflow is tested with, into the folder the
    chart's ``airflowUi.path`` names; the command line parses with leoflow's own parser."""
    from leoflow.app.cli import build_parser as cli_parser
    from leoflow.app.cmd_ui import DEFAULT_VERSION, PINNED_SHA256

    arguments, stages = parse(CONTROL_PLANE)
    assert arguments["AIRFLOW_UI_VERSION"] == DEFAULT_VERSION
    assert DEFAULT_VERSION in PINNED_SHA256  # the image's wheel is checked against a pin
    build = stages[0]
    assert [i.args for i in build.all("ARG")] == ["AIRFLOW_UI_VERSION"]
    command = next(i.args for i in build.all("RUN") if " ui install " in i.args)
    call = re.search(r"/opt/leoflow/venv/bin/(leoflow ui install [^;]+);", command)
    assert call, command
    words = shlex.split(call.group(1).replace('"$AIRFLOW_UI_VERSION"', DEFAULT_VERSION))
    args = cli_parser().parse_args(words[1:])
    path = default_values()["airflowUi"]["path"]
    assert (args.version, str(args.dir)) == (DEFAULT_VERSION, path)
    assert f"mkdir -p {path}" in command  # the final stage's COPY finds it either way
    assert 'if [ -n "$AIRFLOW_UI_VERSION" ]' in command


def test_the_control_plane_runs_leoflow_server_as_the_charts_user_on_its_ports():
    from leoflow.app.server import build_parser

    _, stages = parse(CONTROL_PLANE)
    final = stages[-1]
    check_user(final)
    assert final.last("ENTRYPOINT").exec_form() == ["leoflow-server"]
    assert "leoflow-server" in pyproject()["project"]["scripts"]
    args = build_parser().parse_args(final.last("CMD").exec_form())
    values = default_values()
    exposed = sorted(int(p) for p in final.last("EXPOSE").args.split())
    assert exposed == sorted([values["server"]["httpPort"], values["server"]["grpcPort"]])
    assert (args.host, args.port, args.grpc_host, args.grpc_port) == (
        "0.0.0.0", values["server"]["httpPort"], "0.0.0.0", values["server"]["grpcPort"])
    assert final.env()["LEOFLOW_HOME"] == values["home"]["path"]
    assert final.last("WORKDIR").args == values["home"]["path"]


def test_the_health_check_asks_the_health_route_and_fails_when_nothing_answers():
    from leoflow.engine.api import create_api

    _, stages = parse(CONTROL_PLANE)
    check = stages[-1].last("HEALTHCHECK")
    options, _, command = check.args.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]+)", argv[2])
    assert int(url.group(1)) == default_values()["server"]["httpPort"]
    assert "get" in create_api(version="test").openapi()["paths"][url.group(2)]
    # Run the probe's own code against a port where nothing listens: it must fail, quickly.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    code = argv[2].replace(f"127.0.0.1:{url.group(1)}", f"127.0.0.1:{closed}")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert result.returncode != 0 and b"Connection refused" in result.stderr


# -- the python runtime --------------------------------------------------------------------
def test_the_python_runtime_is_a_slim_python_with_uv_and_an_unprivileged_user():
    arguments, stages = parse(RUNTIME)
    assert len(stages) == 1
    stage = stages[0]
    check_python_base(arguments, stage)
    check_user(stage)
    assert not stage.all("COPY") and not stage.all("ADD"), "it needs no build context"
    pinned = stage.last("ARG").args
    assert pinned.startswith("UV_VERSION=")
    uv = tuple(int(p) for p in pinned.split("=")[1].split("."))
    wanted = next(d for d in pyproject()["project"]["dependencies"] if d.startswith("uv"))
    assert uv >= tuple(int(p) for p in wanted.split(">=")[1].split("."))
    assert 'pip install "uv==${UV_VERSION}"' in stage.last("RUN").args
    env = stage.env()
    assert env["UV_PYTHON_DOWNLOADS"] == "never"  # the image's Python, never a download
    assert stage.last("WORKDIR").args == "/opt/leoflow/project"
    assert stage.last("CMD").exec_form() == ["python"]
    assert not stage.all("ENTRYPOINT"), "DAG images set leoflow-agent as their entrypoint"


@pytest.mark.parametrize("path", [CONTROL_PLANE, RUNTIME], ids=lambda p: p.name)
def test_dockerfiles_carry_image_labels_and_no_secrets(path: Path):
    _, stages = parse(path)
    labels = " ".join(i.args for i in stages[-1].all("LABEL"))
    for key in ("org.opencontainers.image.title", "org.opencontainers.image.licenses"):
        assert key in labels
    text = path.read_text("utf-8")
    assert not re.search(r"(?i)(password|secret|token)\s*=", text)
    # Nothing fetched from outside the package index while building.
    for stage in stages:
        assert not stage.all("ADD")
        assert not [i for i in stage.all("RUN") if re.search(r"\b(curl|wget)\b", i.args)]
