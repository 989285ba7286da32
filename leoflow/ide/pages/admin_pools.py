"""Pools (``/admin/pools``): the slots that bound how many task instances of a kind run at
once, with what takes them now (running, queued, scheduled, deferred).

Pools are shared by every tenant, so only an Op of the operator's tenant changes them
(``engine.auth.pools_access``); ``default_pool`` cannot be deleted. The engine's
``services.pools`` does the writes (each with its audit row) and tells the scheduler.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from nicegui import ui

from leoflow.engine.auth.permissions import MANAGE_RESOURCES, READ, Principal
from leoflow.engine.auth.pools_access import check_may_change_pools
from leoflow.engine.services import pools
from leoflow.engine.services.errors import InvalidArgument
from leoflow.engine.workspace_tenants import DEFAULT_TENANT
from leoflow.ide.admin_form import Field, open_form
from leoflow.ide.admin_page import AdminPage
from leoflow.ide.services import IdeServices
from leoflow.ide.view_kit import columns


def slots_of(value: Any) -> int:
    try:
        slots = int(value)
    except (TypeError, ValueError):
        raise InvalidArgument("slots is a whole number", field="slots") from None
    if slots < -1:
        raise InvalidArgument("slots is 0 or more (-1: unlimited)", field="slots")
    return slots


class PoolsPage(AdminPage):
    noun = "pool"
    title = "Pools"
    subtitle = "how many task instances of a kind run at once, for every tenant"
    testid = "pools"

    def may_change(self, principal: Principal) -> bool:
        return super().may_change(principal) and principal.tenant == DEFAULT_TENANT

    async def changer(self) -> Principal:
        principal = await self.access.check(MANAGE_RESOURCES)
        check_may_change_pools(principal)
        return principal

    async def rows(self) -> list[dict[str, Any]]:
        await self.access.check(READ)
        plane = self.services.require_plane()
        page = await pools.list_pools(plane.store, order="name", limit=500, offset=0)
        usage = page.usage
        return [{"id": p.name, "name": p.name, "slots": p.slots,
                 **{s: usage.get(s, {}).get(p.name, 0) for s in pools.USAGE_STATES},
                 "description": p.description or ""} for p in page.items]

    def columns(self) -> list[dict[str, Any]]:
        return columns("name", "slots", *pools.USAGE_STATES, "description")

    async def add(self) -> None:
        plane = self.services.require_plane()

        async def save(values: dict[str, Any]) -> str:
            slots = slots_of(values["slots"])
            name = (values["name"] or "").strip()
            if not name or len(name) > pools.NAME_LENGTH:
                raise InvalidArgument(f"a pool's name has 1 to {pools.NAME_LENGTH} characters",
                                      field="name")
            principal = await self.changer()
            await pools.create_pool(plane.store, plane.operations.scheduler, name, slots,
                                    values["description"] or None, user=principal.username)
            return f"Pool {name} added with {slots} slots"

        await self.saved(await open_form("Add a pool", [
            Field("name", "Name", required=True), Field("slots", "Slots", "number", value=1,
                                                        required=True),
            Field("description", "Description")], save, testid="pool-form"))

    async def edit(self, row: dict[str, Any]) -> None:
        plane = self.services.require_plane()
        name = row["name"]

        async def save(values: dict[str, Any]) -> str:
            slots = slots_of(values["slots"])
            principal = await self.changer()
            fields = {"slots"} if name == pools.DEFAULT_POOL else {"slots", "description"}
            await pools.update_pool(plane.store, plane.operations.scheduler, name, slots=slots,
                                    description=values["description"] or None,
                                    fields=fields, user=principal.username)
            return f"Pool {name} saved: {slots} slots"

        await self.saved(await open_form(f"Edit pool {name}", [
            Field("name", "Name", value=name, readonly=True),
            Field("slots", "Slots", "number", value=row["slots"], required=True),
            Field("description", "Description", value=row["description"],
                  readonly=name == pools.DEFAULT_POOL)], save, testid="pool-form"))

    async def remove(self, row: dict[str, Any]) -> str:
        plane = self.services.require_plane()
        principal = await self.changer()
        await pools.delete_pool(plane.store, plane.operations.scheduler, row["name"],
                                user=principal.username)
        return f"Pool {row['name']} deleted"


def register(services: IdeServices) -> None:
    @ui.page("/admin/pools", title="Pools · Leoflow Lite")
    async def pools_page(request: Request) -> Any:
        return await PoolsPage.serve(services, request)
