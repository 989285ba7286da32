"""What the IDE's pages need, handed in by the composition root (``leoflow lite``).

The IDE never builds engine parts itself and never imports ``leoflow.app``: the lite
command builds the control plane, the hot reloader and the auth service and passes them
here. ``plane`` and ``auth`` may be left ``None`` when ``mount`` is called before the app's
lifespan has started the control plane (``build_app`` sets ``app.state.services`` and
``app.state.context``); ``mount`` then takes them from there once the app has started.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from leoflow.engine.auth.permissions import Principal
from leoflow.engine.services.container import Services


class Authenticator(Protocol):
    """engine/auth's AuthService as the login page uses it.

    ``login`` raises ``InvalidCredentials`` or ``RateLimited``; ``principal`` raises when the
    token is missing, invalid or expired (``leoflow.engine.api.errors``).
    """

    async def login(self, username: str, password: str, *, client: str,
                    long_lived: bool = False) -> str: ...

    async def principal(self, token: str) -> Principal: ...


class Reloader(Protocol):
    """The hot reloader of ``leoflow lite`` (``leoflow.engine.reload``).

    ``subscribe(callback)`` calls ``callback(event)`` after each compile of a project (the
    IDE reads ``project``/``project_dir``, ``ok``, ``dag_ids`` and ``error`` from it, see
    ``compile_events.py``) and may return a function that unsubscribes. ``reload_now``
    compiles a project at once (a save from the IDE should not wait for the watcher's
    debounce); ``status(project)`` says how the last compile of a project went.
    ``subscribe_files(callback)`` calls ``callback(paths)`` with each batch of workspace
    files that changed on disk, whoever changed them (the editor's outside-edit check).
    """

    def subscribe(self, callback: Callable[[Any], Any]) -> Any: ...

    def subscribe_files(self, callback: Callable[[tuple[Path, ...]], Any]) -> Any: ...

    async def reload_now(self, project_dir: Path) -> Any: ...

    def status(self, project: Path | str) -> Any: ...


@dataclass
class IdeServices:
    """The IDE's dependencies.

    ``plane`` is the running control plane's ``Services`` (store, operations, scheduler,
    xcom, logs, environments...: ``leoflow.engine.services.container``).
    ``workspace`` is the folder the editor shows (``~/leoflow``); ``lite_badge`` shows the
    LITE badge in the header. ``copy_examples(workspace, overwrite=...)`` is the lite
    command's ``leoflow.app.workspace.copy_examples`` (see ``examples.py`` for how the IDE
    calls it); ``examples_dir`` is the bundled examples folder, which the IDE compares with
    the workspace to ask before overwriting a changed file. Either may be ``None``: the
    Download examples button then says where examples come from instead.
    """

    workspace: Path
    plane: Services | None = None
    reloader: Reloader | None = None
    auth: Authenticator | None = None
    lite_badge: bool = True
    examples_dir: Path | None = None
    copy_examples: Callable[..., Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def bind(self, state: Any) -> None:
        """Fill ``plane`` and ``auth`` from an app's state (set by ``build_app``'s lifespan)."""
        if self.plane is None:
            self.plane = getattr(state, "services", None)
        if self.auth is None:
            context = getattr(state, "context", None)
            self.auth = getattr(context, "auth", None)

    @property
    def ready(self) -> bool:
        return self.plane is not None and self.auth is not None

    def require_plane(self) -> Services:
        if self.plane is None:
            raise RuntimeError("the control plane has not started yet")
        return self.plane
