"""The store's errors that the API maps to HTTP statuses, as the faces name them.

``api/errors.py`` installs a handler per error class; it imports them from here so that no
module of ``leoflow.engine.api`` imports ``leoflow.engine.store`` (DESIGN.md: the faces
reach the store only through services). These are the store's own classes.
"""

from __future__ import annotations

from leoflow.engine.store.errors import (
    DagNotFoundError,
    DagRunNotFoundError,
    DuplicateRunError,
    StoreError,
)

__all__ = ["DagNotFoundError", "DagRunNotFoundError", "DuplicateRunError", "StoreError"]
