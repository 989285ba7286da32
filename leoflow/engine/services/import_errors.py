"""Import errors: why a DAG file could not be compiled, recorded for every face to show.

The hot reloader (and any other compiler of workspace files) records a file's error here
instead of writing the store itself, so that the rule "one file, at most its latest error"
and the transaction around it live in one place. The error is recorded against the file,
without a ``dag_id``: the API refuses to trigger a DAG that has import errors (as Airflow 3
does), and Lite's promise is that the last good version of a broken project stays runnable
while it is being fixed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath

from leoflow.engine.store import Store, import_errors


class ImportErrors:
    """Record, clear and forget the import errors of DAG files (``filename``: the file as
    the DAGs' ``fileloc`` names it, relative to the workspace for Lite's files)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, filename: str, message: str, traceback: str = "") -> None:
        """Make ``message`` (``file:line: ...``) the file's only import error."""
        async with self.store.begin() as conn:
            await import_errors.replace_for_file(conn, filename, [(message, traceback)])

    async def clear(self, filename: str) -> None:
        """The file compiled, or left: it has no import error any more."""
        async with self.store.begin() as conn:
            await import_errors.clear_for_file(conn, filename)

    async def forget_missing(self, current: Iterable[str]) -> set[str]:
        """Clear the errors of relative filenames not in ``current`` (files that left the
        workspace while Lite was not running); absolute ones belong to other folders and
        are kept. Returns the filenames cleared."""
        keep = set(current)
        async with self.store.connect() as conn:
            page = await import_errors.list_import_errors(conn, limit=None)
        stale = {e.filename for e in page.items
                 if e.filename not in keep and not PurePath(e.filename).is_absolute()}
        if stale:
            async with self.store.begin() as conn:
                for filename in stale:
                    await import_errors.clear_for_file(conn, filename)
        return stale
