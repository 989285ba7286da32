"""Serve the unmodified Airflow web UI from the assets ``leoflow ui install`` extracted.

The built UI ships inside the ``apache-airflow-core`` wheel; ``leoflow ui install`` copies
only its two ``dist`` folders into ``<root>/<version>/ui`` (the React app) and
``<root>/<version>/auth`` (the simple auth manager's login page), then writes
``<root>/<version>/leoflow-ui.json`` last, so a half-extracted version is never served.

Served the way Airflow's API server serves them: the app's files under ``<prefix>/static``,
every other page path answered with ``index.html`` whose ``<base href>`` placeholder is
replaced by the prefix (the SPA fallback), the login page at ``/auth/login`` with its files
under ``/auth/static``. The UI then calls ``<base>ui/...`` and ``<base>api/v2/...`` with the
``_token`` cookie that the login page's ``POST /auth/token`` set. Under a prefix (Lite serves
the UI at ``/airflow/`` beside its IDE) those calls are handed to the same app without it.

Without assets, every page of the UI answers 404 with an HTML page naming the command that
installs them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

MARKER = "leoflow-ui.json"
UI_DIR = "ui"
AUTH_DIR = "auth"
BASE_PLACEHOLDER = "{{ backend_server_base_url }}"
DEFAULT_VERSION = "3.3.2"
# Paths the UI calls on the API: under a prefix they go to the app without it; never the SPA.
API_PREFIXES = ("/ui/", "/api/", "/auth/")


@dataclass(frozen=True)
class UiAssets:
    """One installed version of the UI's files."""

    version: str
    root: Path

    @property
    def ui(self) -> Path:
        return self.root / UI_DIR

    @property
    def auth(self) -> Path:
        return self.root / AUTH_DIR

    def index(self, base: str) -> str:
        return _with_base(self.ui / "index.html", base)

    def login(self, base: str) -> str:
        return _with_base(self.auth / "index.html", base)


def _with_base(path: Path, base: str) -> str:
    return path.read_text("utf-8").replace(BASE_PLACEHOLDER, html.escape(base, quote=True))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in name.split("."))


def find_assets(roots: Sequence[Path], version: str | None = None) -> UiAssets | None:
    """The installed UI in the first root that has one (``version``, or the newest complete
    one there); None when none is installed."""
    for root in roots:
        try:
            names = [p.name for p in root.iterdir() if (p / MARKER).is_file()]
        except OSError:
            continue
        if version is not None:
            names = [n for n in names if n == version]
        if names:
            chosen = max(names, key=_version_key)
            return UiAssets(chosen, root / chosen)
    return None


def not_installed_page(roots: Sequence[Path]) -> str:
    """What a browser sees at the UI's address when no assets are installed."""
    where = "".join(f"<li><code>{html.escape(str(r))}</code></li>" for r in roots)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Airflow UI not installed</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46em;margin:8vh auto;
line-height:1.5}}code,pre{{background:#f3f3f3;padding:.1em .3em}}</style></head><body>
<h1>The Airflow UI is not installed</h1>
<p>Leoflow serves Apache Airflow's own web UI, taken from the <code>apache-airflow-core</code>
wheel at install time (it is not shipped with Leoflow). Install it on this machine, then
reload this page (no restart needed):</p>
<pre>leoflow ui install --version {DEFAULT_VERSION}</pre>
<p>It was looked for in:</p><ul>{where}</ul>
<p>Offline? Download the wheel elsewhere (<code>pip download --no-deps
apache-airflow-core=={DEFAULT_VERSION}</code>) and run
<code>leoflow ui install --wheel PATH</code>. The API stays at <code>/api/v2</code>.</p>
</body></html>"""


class AirflowUi:
    """The UI's pages and files for one app: its asset roots, looked up at each request so
    that ``leoflow ui install`` takes effect without a restart."""

    def __init__(self, roots: Sequence[Path], prefix: str = "") -> None:
        self.roots = tuple(roots)
        self.prefix = prefix.rstrip("/")

    @property
    def base(self) -> str:
        return self.prefix + "/"

    def assets(self) -> UiAssets | None:
        return find_assets(self.roots)

    def missing(self) -> HTMLResponse:
        return HTMLResponse(not_installed_page(self.roots), status_code=404)

    def page(self) -> HTMLResponse:
        """The SPA's ``index.html`` for any page path (the client-side router takes it)."""
        found = self.assets()
        if found is None:
            return self.missing()
        return HTMLResponse(found.index(self.base), headers={"Cache-Control": "no-store"})

    def login_page(self) -> HTMLResponse | None:
        """Airflow's login page (base ``/``: it lives at ``/auth/login`` on every app), or
        None when no assets are installed (the caller serves Leoflow's own)."""
        found = self.assets()
        if found is None or not (found.auth / "index.html").is_file():
            return None
        return HTMLResponse(found.login("/"), headers={"Cache-Control": "no-store"})


class _Files:
    """Static files of the installed version's ``ui`` or ``auth`` folder."""

    def __init__(self, ui: AirflowUi, folder: str) -> None:
        self.ui = ui
        self.folder = folder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.ui.assets()
        if found is None:
            await JSONResponse({"detail": "the Airflow UI is not installed: run "
                                "`leoflow ui install`"}, status_code=404)(scope, receive, send)
            return
        files = StaticFiles(directory=found.root / self.folder, check_dir=False)
        await files(scope, receive, send)


class _Prefixed:
    """The UI under a prefix (``/airflow``): files, API calls handed to the app without the
    prefix, and the SPA fallback for every other path."""

    def __init__(self, app: ASGIApp, ui: AirflowUi) -> None:
        self.app = app
        self.ui = ui
        self.files = _Files(ui, UI_DIR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _inner_path(scope)
        if path.startswith("/static/"):
            await self.files(_rebase(scope, path[len("/static"):], "/static"), receive, send)
        elif path.startswith(API_PREFIXES):
            await self.app(_rebase(scope, path, None), receive, send)
        elif scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            await self.ui.page()(scope, receive, send)
        else:
            await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)


def _inner_path(scope: Scope) -> str:
    """The path below the mount point (Starlette keeps the full path and a root_path)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    inner = path[len(root):] if root and path.startswith(root) else path
    return inner or "/"


def _rebase(scope: Scope, path: str, mounted: str | None) -> Scope:
    """A scope for ``path``: relative to a mounted files app, or at the app's top."""
    new = dict(scope)
    if mounted is None:
        new.update(path=path, raw_path=path.encode("utf-8"), root_path="")
    else:
        root = str(scope.get("root_path", "")) + mounted
        new.update(path=root + path, raw_path=(root + path).encode("utf-8"), root_path=root)
    return new


def install(app: FastAPI, roots: Sequence[Path], *, prefix: str = "") -> AirflowUi:
    """Serve the UI from ``app``, at the top (``prefix=""``, as leoflow-server does: call it
    after every other route) or under ``prefix`` (Lite: ``/airflow``). The login page at
    ``/auth/login`` and its files at ``/auth/static`` are served in both cases."""
    ui = AirflowUi(roots, prefix)
    app.state.airflow_ui = ui
    app.router.routes.append(Mount("/auth/static", app=_Files(ui, AUTH_DIR)))
    if prefix:
        inner: ASGIApp = app
        app.router.routes.append(Mount(ui.prefix, app=_Prefixed(inner, ui)))
        app.add_api_route(ui.prefix, lambda: ui.page(), methods=["GET"],
                          include_in_schema=False)
        return ui
    app.router.routes.append(Mount("/static", app=_Files(ui, UI_DIR)))
    app.router.default = _Fallback(ui, app.router.default)
    return ui


class _Fallback:
    """The router's answer when no route matched: the SPA for a page path (GET or HEAD
    outside the API's prefixes), the router's own 404 otherwise. As the router's default
    rather than a catch-all route, it leaves every route's 405 for a wrong method as is."""

    def __init__(self, ui: AirflowUi, not_found: ASGIApp) -> None:
        self.ui = ui
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "/")
        page = (scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
                and not (path + "/").startswith(API_PREFIXES))
        if page:
            await self.ui.page()(scope, receive, send)
        else:
            await self.not_found(scope, receive, send)


def login_override(app: Any) -> HTMLResponse | None:
    """Airflow's login page when the UI is served by ``app`` and installed, else None."""
    ui = getattr(getattr(app, "state", None), "airflow_ui", None)
    return ui.login_page() if isinstance(ui, AirflowUi) else None
