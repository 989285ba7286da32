"""Why a backup cannot be written or restored, in a line the user can act on."""

from __future__ import annotations

from leoflow.errors import LeoflowError


class BackupError(LeoflowError):
    """A backup that cannot be made (a PostgreSQL store, no store) or restored (not a
    backup, an unsafe entry, an unknown format)."""
