"""The old home of the hot reloader, kept only for importers outside this move.

The reloader lives in ``leoflow.engine.reload`` (``reloader.Reloader``, ``events``,
``errors``). ``server.py`` is left untouched until the composition root is typed (issue
17), and ``tests/integration/ide/test_pure.py`` was being edited by another engineer; once
they import from ``leoflow.engine.reload``, this module goes.
"""

from leoflow.engine.reload.errors import ReloadError
from leoflow.engine.reload.events import ProjectStatus, ReloadEvent
from leoflow.engine.reload.reloader import Reloader

__all__ = ["ProjectStatus", "ReloadError", "ReloadEvent", "Reloader"]
