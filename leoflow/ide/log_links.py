"""What stands beside a task's log: why there is none, and links to the user's code.

A try that never ran has no log; where the log would be, the panel says why
(``missing_log_reason``): the instance has not started (the reason it waits), or the try
ended without running, or without writing a line (its error, e.g. Lite was stopped before
it started), rather than leaving it in the collapsed list of tries.

Links from a task's log to the user's code: a traceback names ``File "…/dag.py", line 12``;
the panel shows each such place of the user's own files once, as a link that opens the
editor at that line (``/editor?file=…&line=…``). Files outside the user's folder (libraries,
Leoflow itself) are not linked: there is nothing of theirs to edit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from nicegui import ui

from leoflow.engine.services.run_views import TaskInstanceDetail

TRACEBACK_FILE = re.compile(r'File "([^"]+)", line (\d+)')
# A run executes its pinned version's DAG file, written out under the home as
# code/<dag_id>/<16 hex digits of the version>/<file name> (engine.agent_service.task_fetch);
# such a frame is the DAG's own file in the user's folder.
SNAPSHOT = re.compile(r"[/\\]code[/\\](?P<dag>[^/\\]+)[/\\][0-9a-f]{16}[/\\](?P<name>[^/\\]+)$")
MAX_LINKS = 8  # the innermost frames are the last ones; a long traceback keeps those


def user_places(text: str, root: Path,
                dag_files: Mapping[str, Path] | None = None) -> list[tuple[str, int]]:
    """(path relative to ``root``, line) of each traceback frame in ``text`` that is a file
    of ``root`` (in order, without repeats). ``dag_files`` (DAG id → its file) maps the
    pinned copy a run executes back to the DAG's file."""
    base = Path(root).resolve()
    found: list[tuple[str, int]] = []
    for match in TRACEBACK_FILE.finditer(text):
        raw = match.group(1)
        if raw.startswith("<"):
            continue
        path = Path(raw)
        copy = SNAPSHOT.search(raw)
        if copy is not None and dag_files and copy.group("dag") in dag_files:
            original = dag_files[copy.group("dag")]
            if original.name == copy.group("name"):
                path = original
        if not path.is_absolute():
            continue
        try:
            relative = path.resolve().relative_to(base).as_posix()
        except (ValueError, OSError):
            continue
        if "site-packages" in relative.split("/") or relative.startswith("."):
            continue
        place = (relative, int(match.group(2)))
        if place not in found:
            found.append(place)
    return found


def missing_log_reason(detail: TaskInstanceDetail | None, number: int | None,
                       lines: int) -> str | None:
    """Why try ``number`` shows no log (None: it has lines, or no reason is known)."""
    if detail is None or lines:
        return None
    ti = detail.instance
    if number is None or (number == ti.try_number and ti.start_date is None and detail.reason):
        return f"Not started: {detail.reason}" if detail.reason else None
    attempt = next((t for t in detail.tries if t.try_number == number), None)
    if attempt is None or not attempt.error:
        return None
    if attempt.start_date is None:
        return f"Try {number} did not run: {attempt.error}"
    return f"Try {number} ended without a log line: {attempt.error}"


def editor_link(relative: str, line: int) -> str:
    return f"/editor?file={quote(relative)}&line={line}"


class SourceLinks:
    """A row of links under a log: call ``scan`` with each new text, ``clear`` for a new
    try."""

    def __init__(self, root: Path | None, dag_files: Mapping[str, Path] | None = None) -> None:
        self.root = root
        self.dag_files = dict(dag_files or {})
        self.places: list[tuple[str, int]] = []
        self.row = ui.row().classes("items-center gap-2 text-caption").props(
            'data-testid="log-links"')
        self.row.set_visibility(False)

    def clear(self) -> None:
        self.places = []
        if not self.row.is_deleted:
            self.row.clear()
            self.row.set_visibility(False)

    def scan(self, text: str) -> None:
        if self.root is None or self.row.is_deleted or "line " not in text:
            return
        new = [p for p in user_places(text, self.root, self.dag_files)
               if p not in self.places]
        if not new:
            return
        self.places = (self.places + new)[-MAX_LINKS:]
        self.row.clear()
        with self.row:
            ui.icon("code", size="xs")
            ui.label("In your code:")
            for relative, line in self.places:
                ui.link(f"{relative}:{line}", editor_link(relative, line)).classes(
                    "leoflow-mono leoflow-file-link").props(
                    f'data-testid="log-link" data-file="{relative}" data-line="{line}"')
        self.row.set_visibility(True)
