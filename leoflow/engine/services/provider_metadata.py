"""Which Airflow providers, and so which connection types, a tenant's DAG environments hold.

What the connection form needs (Airflow's UI asks ``GET /ui/connections/hook_meta``): the
connection types of the providers installed in the DAGs' environments, each with its hook
class, its hook name, which standard fields it hides or relabels, and its extra fields.
Read from the environments' files (environments/providers.py: no provider code runs in the
control plane), and cached per environment: an environment never changes once built (its
key is its contents and it is read-only), so its providers are read once per process.

Faces: ``environment_providers`` (one DAG), ``provider_connection_types`` (several DAGs,
merged: one entry per connection type, the first provider declaring it wins, as Airflow's
ProvidersManager keeps the first), ``tenant_connection_types`` (the current versions of a
tenant's DAGs, from the store) and ``hook_meta`` (Airflow's ``ConnectionHookMetaData``
shape, for ``/ui/connections/hook_meta``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from leoflow.engine.environments.manager import MARKER, EnvironmentManager
from leoflow.engine.environments.providers import (
    ConnectionType,
    Provider,
    airflow_core_types,
    read_providers,
)
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import Store, listings

_cache: dict[tuple[str, float], list[Provider]] = {}
_core_cache: dict[str, list[ConnectionType]] = {}  # env paths are content-addressed
STANDARD_FIELDS = (("description", "description"), ("url_schema", "schema"),
                   ("host", "host"), ("port", "port"), ("login", "login"),
                   ("password", "password"))


def providers_at(env_path: Path) -> list[Provider]:
    """The providers of the environment at ``env_path`` (read once per built environment)."""
    try:
        stamp = (Path(env_path) / MARKER).stat().st_mtime
    except OSError:
        stamp = -1.0  # not a finished environment: read, never cached
    key = (str(Path(env_path).resolve()), stamp)
    found = _cache.get(key)
    if found is None:
        found = read_providers(Path(env_path))
        if stamp >= 0:
            _cache[key] = found
    return found


def environment_providers(environments: EnvironmentManager, *, dag_id: str,
                          python_version: str | None,
                          dependencies: Iterable[str]) -> list[Provider] | None:
    """The providers in the environment of these contents; None when it is not built yet
    (nothing is built here: a DAG's environment is built when it is compiled)."""
    env = environments.find(dag_id, python_version, tuple(dependencies))
    return providers_at(env.path) if env is not None else None


def connection_types_at(env_path: Path) -> list[ConnectionType]:
    """Airflow's own connection types (when it is installed there) then the providers'."""
    core = _core_cache.get(str(env_path))
    if core is None:
        core = _core_cache[str(env_path)] = airflow_core_types(Path(env_path))
    return [*core, *(t for p in providers_at(env_path) for t in p.connection_types)]


def merge_connection_types(groups: Iterable[Iterable[ConnectionType]]) -> list[ConnectionType]:
    """One entry per connection type, by type; the first declaration wins (as Airflow's
    ProvidersManager keeps the first hook registered for a type)."""
    merged: dict[str, ConnectionType] = {}
    for types in groups:
        for conn_type in types:
            merged.setdefault(conn_type.connection_type, conn_type)
    return [merged[name] for name in sorted(merged)]


def provider_connection_types(environments: EnvironmentManager,
                              specs: Iterable[DagSpec]) -> list[ConnectionType]:
    """The merged connection types of the built environments of ``specs``."""
    groups = []
    for spec in specs:
        env = environments.find(spec.project or spec.dag_id, spec.python_version,
                                tuple(spec.dependencies))
        if env is not None:
            groups.append(connection_types_at(env.path))
    return merge_connection_types(groups)


async def tenant_specs(store: Store, *, tenant: str) -> list[DagSpec]:
    """The current specs of the tenant's DAGs that are not stale."""
    async with store.connect() as conn:
        page = await listings.list_dags(conn, tenant=tenant, exclude_stale=True, limit=None)
        versions = await listings.versions_by_id(
            conn, (d.current_version_id for d in page.items))
    specs = []
    for row in page.items:
        version = versions.get(row.current_version_id or "")
        if version is not None:
            specs.append(DagSpec.from_json(version.spec))
    return specs


async def tenant_connection_types(store: Store, environments: EnvironmentManager, *,
                                  tenant: str) -> list[ConnectionType]:
    """What a tenant's connection form offers: the connection types of the providers in
    its DAGs' environments (read off the event loop)."""
    specs = await tenant_specs(store, tenant=tenant)
    return await asyncio.to_thread(provider_connection_types, environments, specs)


def hook_meta(types: Iterable[ConnectionType]) -> list[dict[str, Any]]:
    """Airflow's ``ConnectionHookMetaData`` list (``GET /ui/connections/hook_meta``): the
    same fields and conversions as Airflow 3.3's ``HookMetaService.hook_meta_data``."""
    return [{"connection_type": t.connection_type, "hook_class_name": t.hook_class_name,
             "default_conn_name": None, "hook_name": t.hook_name,
             "standard_fields": _standard_fields(t.field_behaviour),
             "extra_fields": _extra_fields(t.conn_fields)} for t in types]


def _standard_fields(behaviour: dict[str, Any] | None) -> dict[str, Any] | None:
    if not behaviour:
        return None
    hidden = behaviour.get("hidden_fields") or []
    relabeling = behaviour.get("relabeling") or {}
    placeholders = behaviour.get("placeholders") or {}
    fields: dict[str, Any] = {}
    for key, name in STANDARD_FIELDS:
        title, placeholder = relabeling.get(name), placeholders.get(name)
        fields[key] = ({"hidden": name in hidden, "title": title, "placeholder": placeholder}
                       if name in hidden or title or placeholder else None)
    return fields


def _extra_fields(conn_fields: dict[str, Any]) -> dict[str, Any] | None:
    """``conn-fields`` as Airflow's API gives them: a param spec per field."""
    if not conn_fields:
        return None
    out = {}
    for name, definition in conn_fields.items():
        definition = definition if isinstance(definition, dict) else {}
        schema = dict(definition.get("schema") or {})
        if "label" in definition:
            schema["title"] = definition.get("label")
        out[name] = {"value": schema.get("default"), "schema": schema,
                     "description": definition.get("description"), "source": None}
    return out
