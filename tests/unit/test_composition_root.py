"""The composition root stays one typed wiring (issue 17): the faces receive a frozen
``Services``, never an untyped control plane; nothing is forwarded by ``__getattr__``; the
HA package holds no HTTP route; the agents' fork server is a module, not a string."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
from pathlib import Path

import pytest

from leoflow.engine.services.container import Services

PACKAGE = Path(__file__).resolve().parents[2] / "leoflow"
INJECTED = {"plane", "services", "access", "hub", "ctx", "context", "store", "operations",
            "xcom", "logs", "scheduler", "reloader", "auth"}


def modules(*parts: str) -> list[Path]:
    return sorted(PACKAGE.joinpath(*parts).rglob("*.py"))


def is_any(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    text = ast.unparse(annotation).strip("'\"")
    return text in ("Any", "typing.Any")


@pytest.mark.parametrize("path", [*modules("ide"), *modules("engine", "api")],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_injected_service_is_typed_any(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"))
    untyped = [f"{path.name}:{node.lineno} {arg.arg}"
               for node in ast.walk(tree)
               if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
               for arg in (*node.args.args, *node.args.kwonlyargs)
               if arg.arg in INJECTED and is_any(arg.annotation)]
    assert untyped == []


@pytest.mark.parametrize("path", [*modules("app"), *modules("engine", "xcom"),
                                  *modules("engine", "executors"),
                                  *modules("engine", "services")],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_is_forwarded_by_getattr(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"))
    proxies = [node.lineno for node in ast.walk(tree)
               if isinstance(node, ast.FunctionDef) and node.name == "__getattr__"]
    assert proxies == [], f"{path.name}: __getattr__ at lines {proxies}"


def test_services_are_frozen() -> None:
    assert dataclasses.is_dataclass(Services)
    fields = {f.name: None for f in dataclasses.fields(Services)}
    services = Services(**fields)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        services.store = None  # type: ignore[misc]


@pytest.mark.parametrize("path", modules("engine", "ha"),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_ha_package_holds_no_http_route(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] in ("fastapi", "starlette")}


def test_the_fork_server_is_a_module_of_the_agent() -> None:
    from leoflow.engine.executors.fork_client import FORK_SERVER_MODULE

    assert FORK_SERVER_MODULE == "leoflow.agent.fork_server"
    assert importlib.util.find_spec(FORK_SERVER_MODULE) is not None
    client = (PACKAGE / "engine" / "executors" / "fork_client.py").read_text("utf-8")
    assert '"-c"' not in client
