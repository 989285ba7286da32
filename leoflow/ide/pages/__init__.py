"""The IDE's pages; ``register_pages`` adds them all to NiceGUI's router."""

from __future__ import annotations

from typing import Any

from leoflow.ide.events import EventHub


def register_pages(services: Any, hub: EventHub) -> None:
    from leoflow.ide.pages import assets, dag, dags, editor, login

    login.register(services)
    dags.register(services, hub)
    editor.register(services, hub)
    dag.register(services, hub)
    assets.register(services, hub)
