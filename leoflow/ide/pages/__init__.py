"""The IDE's pages; ``register_pages`` adds them all to NiceGUI's router."""

from __future__ import annotations

from leoflow.ide.events import EventHub
from leoflow.ide.services import IdeServices


def register_pages(services: IdeServices, hub: EventHub) -> None:
    from leoflow.ide.pages import (
        admin_connections,
        admin_pools,
        admin_variables,
        assets,
        audit,
        dag,
        dags,
        editor,
        login,
        run,
        runs,
    )

    login.register(services)
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
