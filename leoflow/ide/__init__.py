"""Leoflow Lite's IDE: NiceGUI pages served by the control plane's own FastAPI app.

The composition root (``leoflow lite``) builds the app and the services and calls::

    from leoflow.ide import IdeServices, mount

    app = build_app(settings)                      # its lifespan starts the control plane
    mount(app, IdeServices(workspace=workspace, reloader=reloader,
                           copy_examples=copy_examples),
          storage_secret=secret)

``mount`` registers the pages and mounts NiceGUI on ``app`` (``ui.run_with``, which never
reloads: NiceGUI's own reload would restart the server on every saved DAG). It wraps the
app's lifespan so that, once the control plane is up, ``services.plane``/``services.auth``
are taken from ``app.state`` when they were not given, and the IDE's event hub listens to
the scheduler and the reloader. Pages then update by push.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from leoflow.engine.safe_files import write_file
from leoflow.ide.events import EventHub
from leoflow.ide.services import Authenticator, IdeServices, Reloader

__all__ = ["Authenticator", "EventHub", "IdeServices", "Reloader", "mount"]

TITLE = "Leoflow Lite"
STATE_DIR = ".leoflow"  # the IDE's private files in the workspace (never shown or served)
SECRET_FILE = Path(STATE_DIR) / "ide_secret"


def workspace_secret(workspace: Path) -> str:
    """The workspace's session-signing secret, made once (owner-only file)."""
    path = Path(workspace) / SECRET_FILE
    try:
        value = path.read_text("utf-8").strip()
        if len(value) >= 32:
            return value
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    write_file(path, value, root=workspace, mode=0o600)  # never through a planted link
    return value


def mount(app: Any, services: IdeServices, *, storage_secret: str | None = None,
          hub: EventHub | None = None, show_welcome_message: bool = False,
          lazy_pages: bool = False) -> EventHub:
    """Serve the IDE from ``app`` (a FastAPI app); returns the event hub of its pages.

    Call it once per process (NiceGUI's router is global), before the app starts.
    ``storage_secret`` signs the browser cookie that keys each user's session storage; pass
    a secret kept in the Leoflow home so that sessions survive a restart. Without one, a
    secret is generated once into ``<workspace>/.leoflow/ide_secret`` (mode 0600). The
    sessions themselves (they hold the user's token) are kept in
    ``<workspace>/.leoflow/ide-sessions``, not in NiceGUI's default ``./.nicegui``.
    ``lazy_pages`` imports the pages other than the login page on the first request for
    one of them instead of now (Lite's start: ``pages/__init__.py``).
    """
    from nicegui import app as nicegui_app
    from nicegui import core as nicegui_core
    from nicegui import ui
    from nicegui.storage import Storage

    from leoflow.ide.pages import PagesOnFirstRequest, register_pages
    from leoflow.ide.pages_first import put_pages_first

    private = Path(services.workspace) / STATE_DIR
    private.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not storage_secret:
        storage_secret = workspace_secret(services.workspace)
    Storage.path = (private / "ide-sessions").resolve()
    nicegui_app.storage = Storage()  # its general storage was made with the old path
    hub = hub or EventHub()
    load_others = register_pages(services, hub, lazy=lazy_pages)
    if lazy_pages:
        app.add_middleware(PagesOnFirstRequest, load=load_others)
    ui.run_with(app, title=TITLE, storage_secret=storage_secret, favicon="🍃",
                show_welcome_message=show_welcome_message, dark=False)
    put_pages_first(app, nicegui_core.app)  # IDE pages skip the API's routes (pages_first)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(running: Any) -> AsyncIterator[Any]:
        async with inner(running) as state:
            services.bind(running.state)
            if services.plane is not None:
                hub.attach_scheduler(services.plane.scheduler)
            unsubscribe: list[Any] = []
            if services.reloader is not None:
                unsubscribe.append(services.reloader.subscribe(hub.compile_listener))
                # files changed by another program: the editor checks its open file
                unsubscribe.append(services.reloader.subscribe_files(
                    lambda paths: hub.publish("files.disk", {"paths": paths})))
            try:
                yield state
            finally:
                hub.detach_scheduler()
                for stop in unsubscribe:
                    if callable(stop):
                        stop()

    app.router.lifespan_context = lifespan
    return hub
