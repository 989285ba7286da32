"""The agent's wheel put into every DAG image's context."""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.metadata
import re
import sys
import zipfile
from pathlib import Path

from leoflow.engine.images.wheel import AGENT_REQUIREMENTS, agent_requirements, write_agent_wheel

PACKAGE = Path(__file__).resolve().parents[3] / "leoflow"
# what runs in an image: the agent, its gRPC contract, and the SDK the user process imports
AGENT_SIDE = [PACKAGE / "__init__.py", PACKAGE / "errors.py",
              *sorted((PACKAGE / "agent").rglob("*.py")), *sorted((PACKAGE / "rpc").rglob("*.py")),
              *sorted((PACKAGE / "sdk").rglob("*.py"))]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_wheel_declares_only_the_agents_requirements_and_script(tmp_path: Path) -> None:
    wheel = write_agent_wheel(tmp_path)
    assert wheel.path.name == f"leoflow-{wheel.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel.path) as archive:
        names = archive.namelist()
        dist = f"leoflow-{wheel.version}.dist-info"
        metadata = archive.read(f"{dist}/METADATA").decode()
        scripts = archive.read(f"{dist}/entry_points.txt").decode()
        record = archive.read(f"{dist}/RECORD").decode().splitlines()
        for line in record:
            name, digest, size = line.rsplit(",", 2)
            if name.endswith("/RECORD"):
                continue
            data = archive.read(name)
            assert digest == "sha256=" + base64.urlsafe_b64encode(
                hashlib.sha256(data).digest()).rstrip(b"=").decode(), name
            assert int(size) == len(data)
    requires = [line.split(": ", 1)[1] for line in metadata.splitlines()
                if line.startswith("Requires-Dist: ")]
    assert [_normal(re.match(r"[A-Za-z0-9._-]+", r).group(0)) for r in requires] == list(
        AGENT_REQUIREMENTS)
    assert scripts == "[console_scripts]\nleoflow-agent = leoflow.agent.main:main\n"
    assert {"leoflow/agent/main.py", "leoflow/rpc/agent_pb2.py", "leoflow/sdk/task_runner.py",
            "leoflow/__init__.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert len(record) == len(names)


def test_the_wheel_is_the_same_bytes_for_the_same_sources(tmp_path: Path) -> None:
    first = write_agent_wheel(tmp_path / "a").path.read_bytes()
    second = write_agent_wheel(tmp_path / "b").path.read_bytes()
    assert first == second  # an unchanged Leoflow keeps the builder's cached agent layer


def test_requirements_keep_the_distributions_version_bounds() -> None:
    declared = {_normal(re.match(r"[A-Za-z0-9._-]+", r).group(0)): r
                for r in importlib.metadata.requires("leoflow") or [] if ";" not in r}
    assert agent_requirements() == tuple(declared[name] for name in AGENT_REQUIREMENTS)


# The real Airflow comes with the DAG's own environment when a DAG asks for it (a provider
# depends on apache-airflow); the SDK's adapters (sdk/real_airflow*) import it only there.
FROM_THE_DAGS_ENVIRONMENT = {"airflow"}


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _distributions_of(module: str, by_top: dict[str, list[str]]) -> list[str]:
    """The distributions that provide ``module``: for a namespace package shared by several
    (``google``: protobuf, googleapis-common-protos...), only those holding its subpackage."""
    top = module.split(".")[0]
    candidates = by_top.get(top, [top])
    if len(candidates) < 2 or "." not in module:
        return candidates
    prefix = "/".join(module.split(".")[:2])
    holding = [dist for dist in candidates
               if any(str(f).startswith(prefix) for f in importlib.metadata.files(dist) or [])]
    return holding or candidates


def test_agent_requirements_cover_every_third_party_import_of_the_agent_side() -> None:
    """If the agent, its stubs or the SDK start importing another package, the image's
    agent environment would lack it: this fails until AGENT_REQUIREMENTS names it."""
    distributions = importlib.metadata.packages_distributions()
    needed: dict[str, str] = {}
    for path in AGENT_SIDE:
        for module in _imported_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in ("leoflow", "__future__"):
                continue
            if top in FROM_THE_DAGS_ENVIRONMENT:
                continue
            for dist in _distributions_of(module, distributions):
                needed[_normal(dist)] = f"{path.relative_to(PACKAGE.parent)} imports {module}"
    missing = {dist: where for dist, where in needed.items() if dist not in AGENT_REQUIREMENTS}
    assert not missing
    assert set(AGENT_REQUIREMENTS) <= set(needed)  # and none is listed for nothing
