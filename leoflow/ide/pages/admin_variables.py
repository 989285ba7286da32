"""Variables (``/admin/variables``): the tenant's variables, to add, edit and delete.

Values are encrypted at rest and read through the engine's ``SecretsService``, which masks
the value of a variable whose key names a secret (``password``, ``token``...) and the
secret entries of a JSON value: the browser never receives them. Editing such a variable
shows ``***``; saving ``***`` back keeps the stored secret. Writes need the Op role
(MANAGE_RESOURCES), checked at the moment of each one.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from nicegui import ui

from leoflow.engine.auth.permissions import MANAGE_RESOURCES, READ
from leoflow.ide.admin_form import Field, open_form
from leoflow.ide.admin_page import AdminPage, secrets_of
from leoflow.ide.services import IdeServices
from leoflow.ide.view_kit import columns


class VariablesPage(AdminPage):
    noun = "variable"
    title = "Variables"
    subtitle = "handed to tasks as Variable.get(key) and AIRFLOW_VAR_<KEY>"
    testid = "variables"

    async def rows(self) -> list[dict[str, Any]]:
        principal = await self.access.check(READ)
        page = await secrets_of(self.services).list_variables(principal, limit=500)
        return [{"key": v.key, "value": v.value if v.value is not None else "",
                 "description": v.description or "", "id": v.key} for v in page.items]

    def columns(self) -> list[dict[str, Any]]:
        return columns("key", "value", "description")

    async def add(self) -> None:
        async def save(values: dict[str, Any]) -> str:
            principal = await self.access.check(MANAGE_RESOURCES)
            await secrets_of(self.services).create_variable(
                principal, values["key"], values["value"] or "",
                description=values["description"] or None)
            return f"Variable {values['key']} added"

        await self.saved(await open_form("Add a variable", [
            Field("key", "Key", required=True, hint="letters, digits, _ . -"),
            Field("value", "Value", "textarea", hint="stored as text (JSON stays JSON text)"),
            Field("description", "Description")], save, testid="variable-form"))

    async def edit(self, row: dict[str, Any]) -> None:
        key = row["key"]

        async def save(values: dict[str, Any]) -> str:
            principal = await self.access.check(MANAGE_RESOURCES)
            changes: dict[str, Any] = {"description": values["description"] or None}
            if (values["value"] or "") != row["value"]:  # as shown (masked): kept
                changes["value"] = values["value"] or ""
            await secrets_of(self.services).update_variable(principal, key, changes)
            return f"Variable {key} saved"

        await self.saved(await open_form(f"Edit variable {key}", [
            Field("key", "Key", value=key, readonly=True),
            Field("value", "Value", "textarea", value=row["value"],
                  hint="*** keeps the stored secret"),
            Field("description", "Description", value=row["description"])], save,
            testid="variable-form"))

    async def remove(self, row: dict[str, Any]) -> str:
        principal = await self.access.check(MANAGE_RESOURCES)
        await secrets_of(self.services).delete_variable(principal, row["key"])
        return f"Variable {row['key']} deleted"


def register(services: IdeServices) -> None:
    @ui.page("/admin/variables", title="Variables · Leoflow Lite")
    async def variables_page(request: Request) -> Any:
        return await VariablesPage.serve(services, request)

