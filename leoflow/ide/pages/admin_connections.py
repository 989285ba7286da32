"""Connections (``/admin/connections``): the tenant's connections, to add, edit and delete.

The type field offers the connection types of the providers installed in the tenant's DAG
environments (engine/services/provider_metadata.py, the same list as Airflow's
``/ui/connections/hook_meta``) and, once a type is chosen, hides, relabels and fills the
placeholders of the fields as that type's hook declares (PostgreSQL's schema is its
"Database"; a filesystem connection has no host), as Airflow's connection form does.

The password is never sent to the browser: the engine's ``SecretsService`` answers ``***``
for it, and masks the secret entries of the extra. The edit form leaves the password empty
("unchanged"); typing one replaces it. An extra sent back with its ``***`` entries keeps
the stored secrets. Writes need the Op role (MANAGE_RESOURCES), checked at each one.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from nicegui import ui

from leoflow.engine.auth.permissions import MANAGE_RESOURCES, READ
from leoflow.engine.auth.secrets import ConnectionView
from leoflow.engine.environments.providers import ConnectionType
from leoflow.engine.services import provider_metadata
from leoflow.engine.services.errors import InvalidArgument
from leoflow.ide.admin_form import Field, open_form
from leoflow.ide.admin_page import AdminPage, secrets_of
from leoflow.ide.services import IdeServices
from leoflow.ide.view_kit import columns

TEXT_FIELDS = ("conn_type", "description", "host", "schema", "login", "extra")


def form_changes(values: dict[str, Any]) -> dict[str, Any]:
    """The service's fields from the form's: empty text is None, the port a number, and an
    empty password is left out (unchanged)."""
    out: dict[str, Any] = {k: (values.get(k) or None) for k in TEXT_FIELDS}
    port = values.get("port")
    if port in (None, ""):
        out["port"] = None
    else:
        try:
            out["port"] = int(port)
        except (TypeError, ValueError):
            raise InvalidArgument("the port is a whole number", field="port") from None
        if not 0 < out["port"] < 65536:
            raise InvalidArgument("the port is between 1 and 65535", field="port")
    if values.get("password"):
        out["password"] = values["password"]
    return out


LABELS = {"description": "Description", "host": "Host", "schema": "Schema",
          "login": "Login", "password": "Password", "port": "Port",
          "extra": "Extra (JSON object)"}


def shaped_by(types: list[ConnectionType]) -> Any:
    """What the type field does on a change: the chosen type's hook says which fields its
    form hides, relabels and what placeholders they show (the others as by default)."""
    by_type = {t.connection_type: t for t in types}

    def shape(value: Any, inputs: dict[str, Any]) -> None:
        chosen = by_type.get(str(value or "").strip())
        behaviour = (chosen.field_behaviour if chosen else None) or {}
        hidden = set(behaviour.get("hidden_fields") or ())
        relabeling = behaviour.get("relabeling") or {}
        placeholders = behaviour.get("placeholders") or {}
        for name, label in LABELS.items():
            element = inputs.get(name)
            if element is None:
                continue
            element.set_visibility(name not in hidden)
            element.props["label"] = relabeling.get(name) or label
            element.props["placeholder"] = placeholders.get(name) or ""
            element.update()
    return shape


def fields(view: ConnectionView | None, types: list[ConnectionType] | None = None
           ) -> list[Field]:
    v = view
    offered = types or []
    return [
        Field("connection_id", "Connection id", value=v.connection_id if v else "",
              readonly=v is not None, required=True, hint="letters, digits, _ . -"),
        Field("conn_type", "Type", value=v.conn_type if v else "", required=True,
              hint="types of your DAGs' providers below; any other may be typed"
              if offered else "postgres, http, aws, ...",
              choices=tuple((t.connection_type, f"{t.hook_name}: "
                             f"{t.hook_class_name or 'Airflow'} ({t.package_name})")
                            for t in offered),
              on_change=shaped_by(offered) if offered else None),
        Field("description", "Description", value=v.description if v else ""),
        Field("host", "Host", value=v.host if v else ""),
        Field("schema", "Schema", value=v.schema if v else ""),
        Field("login", "Login", value=v.login if v else ""),
        Field("password", "Password", "password",
              hint="stored encrypted, never shown: leave empty to keep it" if v and v.password
              else "stored encrypted, never shown"),
        Field("port", "Port", "number", value=v.port if v else None),
        Field("extra", "Extra (JSON object)", "textarea", value=v.extra if v else "",
              hint="*** entries keep the stored secrets")]


class ConnectionsPage(AdminPage):
    noun = "connection"
    title = "Connections"
    subtitle = "handed to tasks as BaseHook.get_connection(id) and AIRFLOW_CONN_<ID>"
    testid = "connections"

    async def rows(self) -> list[dict[str, Any]]:
        principal = await self.access.check(READ)
        page = await secrets_of(self.services).list_connections(principal, limit=500)
        self.views = {c.connection_id: c for c in page.items}
        return [{"id": c.connection_id, "connection_id": c.connection_id,
                 "conn_type": c.conn_type, "host": c.host or "", "port": c.port or "",
                 "login": c.login or "", "password": c.password or "",
                 "description": c.description or ""} for c in page.items]

    def columns(self) -> list[dict[str, Any]]:
        return columns("connection_id", "conn_type", "host", "port", "login", "password",
                       "description", labels={"connection_id": "Id", "conn_type": "Type"})

    async def connection_types(self) -> list[ConnectionType]:
        """The connection types of the providers in the tenant's DAG environments."""
        plane = self.services.plane
        if plane is None:
            return []
        return await provider_metadata.tenant_connection_types(
            plane.store, plane.environments, tenant=self.access.principal.tenant)

    async def add(self) -> None:
        async def save(values: dict[str, Any]) -> str:
            changes = form_changes(values)
            principal = await self.access.check(MANAGE_RESOURCES)
            await secrets_of(self.services).create_connection(
                principal, values["connection_id"] or "", changes)
            return f"Connection {values['connection_id']} added"

        await self.saved(await open_form("Add a connection",
                                         fields(None, await self.connection_types()), save,
                                         testid="connection-form"))

    async def edit(self, row: dict[str, Any]) -> None:
        view = getattr(self, "views", {}).get(row["id"])
        if view is None:
            return

        async def save(values: dict[str, Any]) -> str:
            changes = form_changes(values)
            principal = await self.access.check(MANAGE_RESOURCES)
            await secrets_of(self.services).update_connection(principal, view.connection_id,
                                                              changes)
            return f"Connection {view.connection_id} saved"

        await self.saved(await open_form(f"Edit connection {view.connection_id}",
                                         fields(view, await self.connection_types()), save,
                                         testid="connection-form"))

    async def remove(self, row: dict[str, Any]) -> str:
        principal = await self.access.check(MANAGE_RESOURCES)
        await secrets_of(self.services).delete_connection(principal, row["id"])
        return f"Connection {row['id']} deleted"


def register(services: IdeServices) -> None:
    @ui.page("/admin/connections", title="Connections · Leoflow Lite")
    async def connections_page(request: Request) -> Any:
        return await ConnectionsPage.serve(services, request)
