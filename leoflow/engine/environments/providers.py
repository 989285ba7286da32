"""The Airflow providers installed in a DAG environment, read without running their code.

An Airflow provider declares itself with an entry point in the group
``apache_airflow_provider`` whose function, ``get_provider_info()``, returns a dict: its
package name, its name, and ``connection-types`` (each with ``connection-type``,
``hook-class-name``, ``hook-name``, and, since the 3.x providers, ``ui-field-behaviour`` and
``conn-fields``: what Airflow's connection form shows). Airflow's ``ProvidersManager`` calls
that function; the control plane must not, since a package a DAG lists is user code.

So the environment's ``site-packages`` is read as data: the entry points through
``importlib.metadata`` pointed at that folder (metadata files, no import), the function's
source parsed with ``ast`` and its returned literal evaluated with ``ast.literal_eval``
(which evaluates literals and nothing else). Every generated ``get_provider_info.py`` is one
such literal. A provider whose function is not one is listed with a ``problem`` saying so.
When a connection type carries no ``ui-field-behaviour`` (older providers), the hook
class's ``get_ui_field_behaviour`` is read the same way, when it returns a literal.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ENTRY_POINT_GROUP = "apache_airflow_provider"
MAX_SOURCE_BYTES = 2_000_000  # a get_provider_info module larger than this is not read


@dataclass(frozen=True)
class ConnectionType:
    """One connection type a provider's hook handles, as Airflow's connection form needs it."""

    connection_type: str
    hook_class_name: str | None
    hook_name: str
    package_name: str
    # Airflow's python-style behaviour: hidden_fields, relabeling, placeholders (or None)
    field_behaviour: dict[str, Any] | None = None
    # the provider's ``conn-fields``: {field: {"label", "schema", "description"}}
    conn_fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Provider:
    """An installed provider distribution and what its ``get_provider_info`` declares."""

    package_name: str
    version: str
    name: str
    description: str
    connection_types: tuple[ConnectionType, ...] = ()
    problem: str | None = None  # why its info could not be read (then it lists nothing)


def site_packages(env_path: Path) -> list[Path]:
    """The ``site-packages`` folders of a virtual environment."""
    return sorted(p for p in (Path(env_path) / "lib").glob("python*/site-packages")
                  if p.is_dir())


def read_providers(env_path: Path) -> list[Provider]:
    """The providers installed in the environment at ``env_path``, by package name."""
    found: dict[str, Provider] = {}
    for site in site_packages(env_path):
        for dist in metadata.distributions(path=[str(site)]):
            for entry in dist.entry_points:
                if entry.group != ENTRY_POINT_GROUP:
                    continue
                provider = _provider(site, dist, entry.value)
                found.setdefault(provider.package_name, provider)
    return [found[name] for name in sorted(found)]


# Connection types Airflow's ProvidersManager adds itself, without a hook class
# (``_init_airflow_core_hooks``), whenever Airflow is installed.
AIRFLOW_CORE_TYPES = (("generic", "Generic"), ("email", "Email"))
AIRFLOW_CORE = "apache-airflow-core"


def airflow_core_types(env_path: Path) -> list[ConnectionType]:
    """Airflow's own connection types, when the environment holds Airflow (its core)."""
    for site in site_packages(env_path):
        for dist in metadata.distributions(path=[str(site)], name=AIRFLOW_CORE):
            return [ConnectionType(connection_type=kind, hook_class_name=None, hook_name=name,
                                   package_name=AIRFLOW_CORE + " " + str(dist.version))
                    for kind, name in AIRFLOW_CORE_TYPES]
    return []


def _provider(site: Path, dist: metadata.Distribution, target: str) -> Provider:
    name = str(dist.metadata["Name"] or "?")
    version = str(dist.version or "?")
    module, _, function = target.partition(":")
    try:
        info = _literal_return(_module_file(site, module), function.strip() or "get_provider_info",
                               None)
    except (OSError, SyntaxError, ValueError, TypeError, LookupError) as exc:
        return Provider(name, version, name, "", problem=f"{target}: {exc}")
    if not isinstance(info, dict):
        return Provider(name, version, name, "", problem=f"{target} returns no dict")
    package = str(info.get("package-name") or name)
    types = []
    for raw in info.get("connection-types") or ():
        if isinstance(raw, dict) and raw.get("connection-type"):
            types.append(_connection_type(site, package, raw))
    return Provider(package_name=package, version=version,
                    name=str(info.get("name") or package),
                    description=str(info.get("description") or "").strip(),
                    connection_types=tuple(types))


def _connection_type(site: Path, package: str, raw: dict[str, Any]) -> ConnectionType:
    conn_type = str(raw["connection-type"])
    hook_class = raw.get("hook-class-name")
    behaviour = raw.get("ui-field-behaviour")
    field_behaviour: dict[str, Any] | None = None
    if isinstance(behaviour, dict):  # kebab-case in provider info, as Airflow converts it
        field_behaviour = {"hidden_fields": list(behaviour.get("hidden-fields") or []),
                           "relabeling": dict(behaviour.get("relabeling") or {}),
                           "placeholders": dict(behaviour.get("placeholders") or {})}
    elif isinstance(hook_class, str):
        field_behaviour = _hook_field_behaviour(site, hook_class)
    fields = raw.get("conn-fields")
    return ConnectionType(
        connection_type=conn_type,
        hook_class_name=str(hook_class) if hook_class else None,
        hook_name=str(raw.get("hook-name") or conn_type), package_name=package,
        field_behaviour=field_behaviour,
        conn_fields=dict(fields) if isinstance(fields, dict) else {})


def _hook_field_behaviour(site: Path, hook_class: str) -> dict[str, Any] | None:
    """``HookClass.get_ui_field_behaviour()``'s literal, when it is one (else None)."""
    module, _, class_name = hook_class.rpartition(".")
    try:
        found = _literal_return(_module_file(site, module), "get_ui_field_behaviour",
                                class_name)
    except (OSError, SyntaxError, ValueError, TypeError, LookupError):
        return None
    if not isinstance(found, dict):
        return None
    return {"hidden_fields": list(found.get("hidden_fields") or []),
            "relabeling": dict(found.get("relabeling") or {}),
            "placeholders": dict(found.get("placeholders") or {})}


def _module_file(site: Path, module: str) -> Path:
    """The source file of ``module`` under ``site`` (never outside it)."""
    parts = module.strip().split(".")
    if not parts or not all(p.isidentifier() for p in parts):
        raise ValueError(f"not a module name: {module!r}")
    base = site.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file() and candidate.resolve().is_relative_to(site.resolve()):
            return candidate
    raise LookupError(f"module {module} is not in {site}")


def _literal_return(path: Path, function: str, class_name: str | None) -> Any:
    """The literal that ``function`` (a method of ``class_name`` when given) returns."""
    if path.stat().st_size > MAX_SOURCE_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_SOURCE_BYTES} bytes")
    tree = ast.parse(path.read_bytes(), filename=str(path))
    scope: list[ast.stmt] = tree.body
    if class_name is not None:
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name]
        if not classes:
            raise LookupError(f"no class {class_name} in {path.name}")
        scope = classes[0].body
    for node in scope:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
            returns = [n for n in ast.walk(node) if isinstance(n, ast.Return) and n.value]
            if len(returns) != 1 or returns[0].value is None:
                raise ValueError(f"{function} in {path.name} does not return one literal")
            try:
                return ast.literal_eval(returns[0].value)
            except ValueError:
                raise ValueError(f"{function} in {path.name} returns something computed, "
                                 "not a literal") from None
    raise LookupError(f"no function {function} in {path.name}")
