"""The IDE's pages; ``register_pages`` adds them all to NiceGUI's router."""

from __future__ import annotations

from leoflow.ide.events import EventHub
from leoflow.ide.services import IdeServices


def register_pages(services: IdeServices, hub: EventHub) -> None:
    from leoflow.ide.pages import assets, dag, dags, editor, login

    login.register(services)
    dags.register(services, hub)
    editor.register(services, hub)
    dag.register(services, hub)
    assets.register(services, hub)
