"""The old home of the hot reloader, kept only for ``leoflow/app/server.py``'s import.

The reloader lives in ``leoflow.engine.reload`` (``reloader.Reloader``, ``events``,
``errors``). ``server.py`` is left untouched until the composition root is typed (issue
17); that round imports ``leoflow.engine.reload.reloader`` there and removes this module.
"""

from leoflow.engine.reload.reloader import Reloader

__all__ = ["Reloader"]
