"""Push to cluster: compile a DAG and register its dag.json on a Pro control plane.

The server URL and the API token are remembered per workspace and tenant, in
``<workspace>/.leoflow/push.json`` for the default tenant and ``push-<tenant>.json`` for
another (readable by the owner only; the editor's file tree never shows or serves
``.leoflow``): a user never sees another tenant's token. Opening the dialog and pushing both
need MANAGE_DAGS on the DAG, asked of ``Access`` at that moment. The push is
``POST {server}/api/leoflow/dags`` with the document and its source code and
``Authorization: Bearer <token>``: the server answers 201 (a new version) or 200 (this
content is already a version) with the version, or an error whose ``detail`` is shown as it is
(a 422 lists the offending field paths).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from leoflow.engine.safe_files import write_file
from leoflow.engine.services.container import Services
from leoflow.engine.workspace_tenants import DEFAULT_TENANT, tenant_folder
from leoflow.errors import LeoflowError
from leoflow.ide.access import Access
from leoflow.ide.services import IdeServices

SETTINGS_DIR = ".leoflow"
SETTINGS_FILE = "push.json"
TIMEOUT = 30.0
TOKEN_HELP = (
    "A token of a user of that server who may manage DAGs: ask its admin for one made with "
    "`leoflow auth create-token --username YOU` on the server's host, or get your own "
    "with `curl -X POST SERVER/auth/token -H 'Content-Type: application/json' -d "
    "'{\"username\": \"YOU\", \"password\": \"...\"}'` (its `access_token`). "
    "It is kept in this workspace, readable by you only.")


@dataclass(frozen=True)
class PushSettings:
    server: str = ""
    token: str = ""


def settings_path(workspace: Path, tenant: str = DEFAULT_TENANT) -> Path:
    if tenant == DEFAULT_TENANT:
        return Path(workspace) / SETTINGS_DIR / SETTINGS_FILE
    tenant_folder(tenant)  # a tenant name that is a safe file name, or NoWorkspaceFolder
    return Path(workspace) / SETTINGS_DIR / f"push-{tenant}.json"


def load_settings(workspace: Path, tenant: str = DEFAULT_TENANT) -> PushSettings:
    try:
        data = json.loads(settings_path(workspace, tenant).read_text("utf-8"))
    except (OSError, ValueError):
        return PushSettings()
    if not isinstance(data, dict):
        return PushSettings()
    return PushSettings(server=str(data.get("server") or ""), token=str(data.get("token") or ""))


def save_settings(workspace: Path, settings: PushSettings,
                  tenant: str = DEFAULT_TENANT) -> None:
    path = settings_path(workspace, tenant)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, json.dumps({"server": settings.server, "token": settings.token},
                                indent=2), root=workspace, mode=0o600)


@dataclass(frozen=True)
class PushResult:
    ok: bool
    message: str
    version_number: int | None = None
    created: bool = False
    status: int | None = None


def check_server(server: str) -> str:
    server = server.strip().rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise LeoflowError("the server URL must start with http:// or https://")
    return server


def describe_error(status: int, body: Any) -> str:
    """The server's ``detail`` as one readable message."""
    detail = body.get("detail") if isinstance(body, Mapping) else None
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, Mapping):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
        return f"{status}: " + "; ".join(parts)
    if detail:
        return f"{status}: {detail}"
    return f"{status}: the server refused the push"


async def push_document(server: str, token: str, document: Mapping[str, Any],
                        source_code: str | None = None, *,
                        transport: httpx.AsyncBaseTransport | None = None) -> PushResult:
    """POST one dag.json; never raises for what the server or the network says."""
    try:
        base = check_server(server)
    except LeoflowError as exc:
        return PushResult(False, str(exc))
    body = dict(document)
    if source_code is not None:
        body["source_code"] = source_code
    headers = {"Authorization": f"Bearer {token.strip()}"} if token.strip() else {}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, transport=transport) as client:
            response = await client.post(f"{base}/api/leoflow/dags", json=body, headers=headers)
    except httpx.HTTPError as exc:
        return PushResult(False, f"cannot reach {base}: {exc}")
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code in (200, 201) and isinstance(payload, Mapping):
        number = payload.get("version_number")
        created = response.status_code == 201
        what = "registered as" if created else "unchanged: already"
        dag_id = document.get("dag_id")
        message = f"{dag_id} {what} version {number} on {base}"
        if payload.get("is_paused"):
            message += (f". It is paused there, as every new DAG on a server: unpause it in "
                        f"the server's UI, or with `leoflow dags unpause {dag_id} --server "
                        f"{base}`")
        return PushResult(True, message, version_number=number, created=created,
                          status=response.status_code)
    return PushResult(False, describe_error(response.status_code, payload),
                      status=response.status_code)


async def compile_for_push(plane: Services, project_dir: Path, dag_id: str, *,
                           tenant: str = "default", workspace: Path | None = None
                           ) -> tuple[dict[str, Any], str]:
    """(document, source) of ``dag_id`` compiled now from its project folder, as the user
    of ``tenant`` (the pushing user's: its project is in its folder of ``workspace``)."""
    from leoflow.engine.compiler.compile import compile_project
    from leoflow.engine.compiler.tenant_user import compile_as

    project = await asyncio.to_thread(compile_project, project_dir, home=plane.home,
                                      run_as=compile_as(plane, tenant, workspace))
    return project.document(dag_id), project.source


async def open_push_dialog(services: IdeServices, access: Access, dag_id: str) -> None:
    """``access``: the page's ``leoflow.ide.access.Access``."""
    from nicegui import run, ui

    from leoflow.engine.auth.permissions import MANAGE_DAGS
    from leoflow.engine.compiler.errors import CompileError
    from leoflow.ide import queries
    from leoflow.ide.layout import notifier, transient_dialog
    from leoflow.ide.project import dag_file

    plane = services.require_plane()
    notify = notifier()
    try:
        principal = await access.dag(dag_id, MANAGE_DAGS)
    except LeoflowError as exc:
        notify(str(exc), type="negative")
        return
    tenant = principal.tenant
    saved = await run.io_bound(load_settings, services.workspace, tenant)
    if saved is None:  # the app is stopping
        return
    detail = await queries.dag_detail(plane, dag_id, tenant=tenant, grid_runs=0)
    path = dag_file(services.workspace, detail.dag.fileloc if detail else None)
    with transient_dialog() as dialog, ui.card().classes("w-[32rem] max-w-full"):
        ui.label(f"Push {dag_id} to a cluster").classes("text-h6")
        ui.label("Compiles the DAG now and registers its dag.json on a Leoflow Pro server."
                 ).classes("text-caption")
        server = ui.input("Server URL", value=saved.server,
                          placeholder="https://leoflow.example.com").classes("w-full").props(
            'data-testid="push-server"')
        token = ui.input("API token", value=saved.token, password=True,
                         password_toggle_button=True).classes("w-full").props(
            'data-testid="push-token"')
        with ui.row().classes("items-start gap-1 text-caption text-grey-7 no-wrap").props(
                'data-testid="push-token-help"'):
            ui.icon("help_outline", size="xs")
            ui.markdown(TOKEN_HELP).classes("leoflow-help")
        result = ui.label().classes("text-body2").props('data-testid="push-result"')

        async def push() -> None:
            result.classes(remove="text-negative text-positive")
            if path is None:
                result.text = "this DAG has no file to compile"
                result.classes("text-negative")
                return
            try:
                now = await access.dag(dag_id, MANAGE_DAGS)
            except LeoflowError as exc:
                result.text = str(exc)
                result.classes("text-negative")
                return
            settings = PushSettings(server=(server.value or "").strip(),
                                    token=(token.value or "").strip())
            await run.io_bound(save_settings, services.workspace, settings, now.tenant)
            result.text = "compiling…"
            try:
                document, source = await compile_for_push(  # as the pushing tenant's user
                    plane, path.parent, dag_id, tenant=now.tenant,
                    workspace=services.workspace)
            except (CompileError, KeyError) as exc:
                result.text = f"does not compile: {exc}"
                result.classes("text-negative")
                return
            result.text = "pushing…"
            outcome = await push_document(settings.server, settings.token, document, source)
            result.text = outcome.message
            result.classes("text-positive" if outcome.ok else "text-negative")

        with ui.row().classes("w-full justify-end"):
            ui.button("Close", on_click=dialog.close).props("flat")
            ui.button("Push", icon="cloud_upload", on_click=push).props(
                'color=primary data-testid="push-submit"')
    dialog.open()
