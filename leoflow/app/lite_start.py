"""What keeps ``leoflow lite``'s start short: the cyclic garbage collector paused while it
imports and builds, then its objects frozen; and packages that are imported but never used
by a server left unexecuted until something uses them (``deferred_imports``), or not
imported at all where the importer does without them (``withheld_imports``).

A start imports about 1,900 modules and builds hundreds of routes and models: millions of
objects, none of them garbage. The collector's full passes over them cost a sixth of the
start (0.26 to 0.38 s of CPU measured on 2 cores). So the collector is paused from the
start until the app is built, and then ``gc.freeze()`` moves everything alive into the
permanent generation (as ``leoflow.engine.long_lived`` does for the scheduler's state):
later collections no longer walk the start's objects. Reference counting frees objects as
usual meanwhile; only cyclic garbage made during the start waits, and what the start makes
is kept anyway. Freezing before the uvicorn server object exists also makes NiceGUI's
search for it (a walk over ``gc.get_objects()``, which leaves frozen objects out) short,
and keeps it from touching the deferred packages below.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.abc
import importlib.util
import sys
from collections.abc import Iterable, Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class StartCollector:
    """Pause the cyclic collector for a start; ``resume`` (idempotent) freezes what the
    start made and turns the collector back on, as it was before."""

    def __init__(self) -> None:
        self._paused = False

    def pause(self) -> None:
        if gc.isenabled():
            gc.disable()
            self._paused = True

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            gc.freeze()
            gc.enable()


# NiceGUI imports python-socketio, whose package imports its *client* side too: engineio's
# clients import aiohttp and requests (0.13 s together) although Lite only serves.
CLIENT_ONLY_PACKAGES = ("aiohttp", "requests")
# ... and its message-queue managers, which import redis (with OpenTelemetry's SDK and psutil
# when they are installed: about 0.05 s) only to share events between several socketio
# servers, something NiceGUI never asks of them. They look for redis inside a
# ``try: ... except ImportError``: withheld while NiceGUI is imported, they are left without
# it, and redis itself is imported as usual by whatever needs it later.
MANAGER_ONLY_PACKAGES = ("redis", "valkey")


@contextlib.contextmanager
def _first_finder(finder: importlib.abc.MetaPathFinder) -> Iterator[None]:
    """``finder`` asked first by every import made within the block."""
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


@contextlib.contextmanager
def deferred_imports(names: Iterable[str]) -> Iterator[None]:
    """Within the block, importing one of ``names`` (top-level packages not imported yet)
    gives a module whose code runs at its first attribute access (the standard library's
    ``importlib.util.LazyLoader``). A package that is used runs then, unchanged; one that
    is only imported in passing costs nothing. ``from name import x`` loads it at once, as
    before."""
    with _first_finder(_LazyFinder({name for name in names if name not in sys.modules})):
        yield


@contextlib.contextmanager
def withheld_imports(names: Iterable[str]) -> Iterator[None]:
    """Within the block, importing one of ``names`` (top-level packages not imported yet)
    raises ``ModuleNotFoundError``, as if it were not installed; after it, nothing of them
    was imported and they import as usual. For imports made inside ``try/except
    ImportError`` by code that works without them."""
    with _first_finder(_Withheld({name for name in names if name not in sys.modules})):
        yield


class _Withheld(importlib.abc.MetaPathFinder):
    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"{fullname} is withheld while Lite starts",
                                      name=fullname)
        return None


class _LazyFinder(importlib.abc.MetaPathFinder):
    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname not in self.names:
            return None
        self.names.discard(fullname)  # once; and find_spec below must not come back here
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec
