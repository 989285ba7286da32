"""The IDE's pages; ``register_pages`` adds them to NiceGUI's router.

Lite starts faster when only the login page (and ``/``, which leads to it) is imported at
start: ``register_pages(..., lazy=True)`` registers those and returns the loader of the
others, which ``PagesOnFirstRequest`` calls on the first request for any other page (one
import of the page modules, then never again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from leoflow.ide.events import EventHub
from leoflow.ide.services import IdeServices

# Served without the other pages: the login page, NiceGUI's assets and socket, and what is
# not an IDE page (the API, the auth routes, the Airflow UI and its /ui API, metrics).
EAGER_PATHS = frozenset({"/", "/login"})
NOT_PAGES = ("/_nicegui", "/api/", "/auth/", "/airflow", "/ui/", "/metrics", "/health",
             "/docs", "/openapi.json", "/favicon")


def register_pages(services: IdeServices, hub: EventHub, *, lazy: bool = False
                   ) -> Callable[[], None]:
    """Register the login page now and, unless ``lazy``, every other page too. Returns the
    function that registers the others (it does so once; later calls do nothing)."""
    from leoflow.ide.pages import login

    login.register(services)
    lock = threading.Lock()
    done = False

    def register_others() -> None:
        nonlocal done
        with lock:
            if done:
                return
            _register_others(services, hub)
            done = True

    if not lazy:
        register_others()
    return register_others


def _register_others(services: IdeServices, hub: EventHub) -> None:
    from leoflow.ide.pages import (
        admin_connections,
        admin_pools,
        admin_variables,
        assets,
        audit,
        dag,
        dags,
        editor,
        run,
        runs,
    )

    dags.register(services, hub)
    editor.register(services, hub)
    dag.register(services, hub)
    assets.register(services, hub)
    runs.register(services, hub)
    run.register(services, hub)
    admin_variables.register(services)
    admin_connections.register(services)
    admin_pools.register(services)
    audit.register(services, hub)


def needs_pages(path: str) -> bool:
    """Whether a request for ``path`` may be for a page other than the login page."""
    return path not in EAGER_PATHS and not path.startswith(NOT_PAGES)


class PagesOnFirstRequest:
    """ASGI middleware: registers the other pages before the first request that may need
    them is routed; after that, one attribute check per request."""

    def __init__(self, app: Any, load: Callable[[], None]) -> None:
        self.app = app
        self.load = load
        self.loaded = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not self.loaded and scope["type"] == "http" and needs_pages(scope["path"]):
            # on the loop's thread: NiceGUI's router is not meant to change from another
            # (a few hundred ms, once)
            self.load()
            self.loaded = True
        await self.app(scope, receive, send)
