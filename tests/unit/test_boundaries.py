"""The import arrows of DESIGN.md, checked rather than hoped for.

The SDK runs inside every DAG's own environment, so it may import the standard library
only; the engine reads dag.json and never imports user-side code (sdk, agent) or the layers
above it (app, ide).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "leoflow"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def files_of(*parts: str) -> list[Path]:
    root = PACKAGE.joinpath(*parts)
    return sorted(root.rglob("*.py")) if root.is_dir() else [root]


# The SDK's adapters of the real Airflow run only in DAG environments that hold it: they may
# import ``airflow``, inside their functions (never at module level, so importing them
# elsewhere costs nothing and fails nowhere).
REAL_AIRFLOW = (PACKAGE / "sdk" / "real_airflow", PACKAGE / "sdk" / "real_airflow_runtime")


def module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", [*files_of("sdk"), PACKAGE / "__init__.py",
                                  PACKAGE / "errors.py"], ids=lambda p: p.name)
def test_sdk_imports_only_the_standard_library(path):
    adapter = any(path.is_relative_to(root) for root in REAL_AIRFLOW)
    for name in imported_modules(path):
        top = name.split(".")[0]
        if top == "leoflow":
            assert name.startswith(("leoflow.sdk", "leoflow.errors")), (path, name)
        elif adapter and top == "airflow":
            assert name not in module_level_imports(path), (path, name, "at module level")
        else:
            assert top in sys.stdlib_module_names or top == "__future__", (path, name)


@pytest.mark.parametrize("path", files_of("engine"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_engine_never_imports_sdk_agent_app_or_ide(path):
    forbidden = ("leoflow.sdk", "leoflow.agent", "leoflow.app", "leoflow.ide")
    for name in imported_modules(path):
        assert not name.startswith(forbidden), (path, name)
        assert name != "leoflow", (path, "'import leoflow' loads the SDK")


def store_sessions(path: Path) -> list[str]:
    """``<x>.store.connect()`` / ``<x>.store.begin()`` calls: a connection or a transaction
    opened on the store."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in ("connect", "begin")
                and isinstance(node.value, ast.Attribute) and node.value.attr == "store"):
            found.append(f"line {node.lineno}: .store.{node.attr}()")
    return found


STORE_ONLY_THROUGH_SERVICES = [*files_of("ide"), *files_of("engine", "api")]


@pytest.mark.parametrize("path", STORE_ONLY_THROUGH_SERVICES,
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_faces_reach_the_store_only_through_services(path):
    """DESIGN.md: neither the IDE nor the API touches the store directly; its rules and
    transactions live in ``leoflow.engine.services``, which every face calls. No module
    of theirs imports ``leoflow.engine.store`` or opens a connection on it."""
    for name in imported_modules(path):
        assert not name.startswith("leoflow.engine.store"), (path, name)
    assert store_sessions(path) == [], path


@pytest.mark.parametrize("path", files_of("engine", "api"),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_api_opens_no_transaction_of_its_own(path):
    """Every write of the API goes through a service, which owns its transaction and its
    rules (and every read too: ``test_faces_reach_the_store_only_through_services``)."""
    assert [s for s in store_sessions(path) if s.endswith(".begin()")] == [], path


def test_import_leoflow_loads_no_third_party_module():
    code = ("import json, sys; import leoflow; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules}"
            " - set(sys.stdlib_module_names) - {'leoflow', '__main__'})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    # "_"-prefixed names are the interpreter's own (e.g. _distutils_hack, editable finders)
    extra = [m for m in json.loads(out) if not m.startswith("_")]
    assert extra == []


@pytest.mark.parametrize("path", files_of("remote"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_remote_client_is_a_plain_http_client(path):
    """leoflow.remote speaks HTTP to a server's API; it never reaches into the engine, the
    IDE or the CLI that uses it."""
    for name in imported_modules(path):
        top = name.split(".")[0]
        if top == "leoflow":
            assert name.startswith(("leoflow.remote", "leoflow.errors")), (path, name)
        else:
            assert top in sys.stdlib_module_names or top in ("__future__", "httpx"), (path, name)


@pytest.mark.parametrize("path", files_of("engine", "triggers"),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_triggers_never_import_the_scheduler(path):
    """The scheduler owns the trigger runner and the asset watchers and feeds them through
    callbacks (on_event, wake_run, emit); they import nothing of it, so there is no cycle
    (the clock they share is leoflow.engine.clock)."""
    for name in imported_modules(path):
        assert not name.startswith("leoflow.engine.scheduler"), (path, name)


@pytest.mark.parametrize("path", files_of("engine", "scheduler"),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_scheduler_modules_stay_small(path):
    """loop.py is a façade over modules with one job each (issue 17): none grows back."""
    lines = len(path.read_text("utf-8").splitlines())
    assert lines <= (400 if path.name == "loop.py" else 500), (path.name, lines)
