"""Unsaved edits never vanish on the way out of the editor, and the URL names the open file.

Every way out is guarded, as switching files in the tree already was:

- the header's buttons and any other navigation the server asks for (``ui.navigate.to``
  ends in the browser's ``window.open(url, "_self")``), and every link on the page (the
  logo, the DAG's link beside the graph): while the buffer differs from the text last
  loaded or saved, the browser does not leave but asks the page, which shows the "unsaved
  changes" dialog (keep editing, save and leave, leave without saving);
- reload, closing the tab, a typed address: ``beforeunload``, the browser's own question
  (browsers allow no other there).

Whether the buffer is modified is decided in the browser, from CodeMirror's document and
the saved text the server hands over (``set_saved``), so a click right after a keystroke is
guarded too. The open file and the cursor's line are kept in the address
(``/editor?file=examples/hello/dag.py&line=12``, updated as the cursor moves), so a reload
reopens the file at that line.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from nicegui import ui

from leoflow.ide.layout import transient_dialog

LEAVE_EVENT = "leoflow_leave"
FOCUS_EVENT = "leoflow_focus"

GUARD_JS = """
(() => {
  if (window.leoflowGuard) return;
  const guard = window.leoflowGuard = {editorId: null, saved: null};
  guard.view = () => {
    const el = guard.editorId === null ? null : getElement(guard.editorId);
    return el ? el.editor : null;
  };
  guard.dirty = () => {
    const view = guard.view();
    return !!view && guard.saved !== null && view.state.doc.toString() !== guard.saved;
  };
  guard.ask = (url) => emitEvent('__LEAVE__', {url: String(url)});
  window.addEventListener('beforeunload', (event) => {
    if (guard.dirty()) { event.preventDefault(); event.returnValue = ''; }
  });
  const open = window.open.bind(window);
  window.open = (url, target, ...rest) => {
    if ((target === undefined || target === '_self') && guard.dirty()) {
      guard.ask(url);
      return null;
    }
    return open(url, target, ...rest);
  };
  document.addEventListener('click', (event) => {
    const link = event.target.closest ? event.target.closest('a[href]') : null;
    if (!link || link.target === '_blank' || event.button !== 0 || event.ctrlKey
        || event.metaKey || event.shiftKey || !guard.dirty()) return;
    event.preventDefault();
    event.stopPropagation();
    guard.ask(link.href);
  }, true);
  guard.leave = (url) => { guard.saved = null; open(url, '_self'); };
  let lastLine = 0;
  guard.trackLine = () => {
    const view = guard.view();
    if (!view) return;
    const line = view.state.doc.lineAt(view.state.selection.main.head).number;
    if (line === lastLine) return;
    lastLine = line;
    const address = new URL(window.location.href);
    if (!address.searchParams.get('file')) return;
    address.searchParams.set('line', String(line));
    address.search = address.searchParams.toString().replace(/%2F/gi, '/');  // readable
    window.history.replaceState(window.history.state, '', address.toString());
  };
  for (const kind of ['keyup', 'mouseup']) {
    document.addEventListener(kind, () => setTimeout(guard.trackLine, 0), true);
  }
  window.addEventListener('focus', () => emitEvent('__FOCUS__', {}));
  // the editor's view exists once CodeMirror has loaded: run fn(view) then (5 s at most)
  guard.whenReady = (fn, tries = 100) => {
    const view = guard.view();
    if (view && view.state.doc.length > 0) fn(view);
    else if (tries > 0) setTimeout(() => guard.whenReady(fn, tries - 1), 50);
  };
})();
""".replace("__LEAVE__", LEAVE_EVENT).replace("__FOCUS__", FOCUS_EVENT)


def editor_address(path: str | None, line: int | None = None) -> str:
    """The editor's own address for ``path`` (and ``line``)."""
    if path is None:
        return "/editor"
    query: dict[str, Any] = {"file": path}
    if line:
        query["line"] = line
    return "/editor?" + urlencode(query, safe="/")


class UnsavedGuard:
    """Install the guard in the page and keep it told what is saved and what is open."""

    def __init__(self, editor: ui.codemirror, *, save: Callable[[], Awaitable[bool]],
                 path: Callable[[], str | None],
                 on_focus: Callable[[], Awaitable[None]]) -> None:
        self.editor = editor
        self.save = save
        self.path = path
        self.asking = False
        ui.add_body_html(f"<script>{GUARD_JS}\nwindow.leoflowGuard.editorId = {editor.id};"
                         "</script>")
        ui.on(LEAVE_EVENT, self._leave)
        ui.on(FOCUS_EVENT, lambda _e: on_focus(), throttle=1.0)

    def set_saved(self, text: str | None) -> None:
        """The text the buffer is compared with (None: nothing open, nothing to guard)."""
        ui.run_javascript(f"if (window.leoflowGuard) window.leoflowGuard.saved = "
                          f"{json.dumps(text)};")

    def show_file(self, path: str | None, line: int | None = None) -> None:
        """Put the open file (and line) in the address bar, without reloading."""
        address = json.dumps(editor_address(path, line))
        ui.run_javascript(f"window.history.replaceState(window.history.state, '', {address});")

    def go_to_line(self, line: int) -> None:
        """Put the cursor at the start of ``line`` and show it (a reload's ``line=``, the
        diagnostics' line chip, a log's link)."""
        ui.run_javascript(f"""window.leoflowGuard.whenReady((view) => {{
            const line = view.state.doc.line(Math.max(1, Math.min({int(line)},
                                                                   view.state.doc.lines)));
            view.dispatch({{selection: {{anchor: line.from}}, scrollIntoView: true}});
            view.focus();
            window.leoflowGuard.trackLine();  // the address names the new line too
        }});""")

    async def _leave(self, event: Any) -> None:
        url = str((event.args or {}).get("url") or "/")
        if self.asking:
            return
        self.asking = True  # the browser asks only while the buffer differs from the disk
        try:
            choice = await ask_leave(self.path() or "The open file")
        finally:
            self.asking = False
        if choice == "save":
            if not await self.save():
                return  # not saved (refused, a conflict): stay
        elif choice != "discard":
            return
        self._go(url)

    def _go(self, url: str) -> None:
        ui.run_javascript(f"window.leoflowGuard.leave({json.dumps(url)});")


async def ask_leave(path: str) -> str | None:
    """"save", "discard" or None (keep editing)."""
    with transient_dialog().props('data-testid="leave-dialog"') as dialog, ui.card():
        ui.label(f"{path} has unsaved changes.").classes("text-body1")
        ui.label("Leave the editor anyway?").classes("text-body2")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Keep editing", on_click=lambda: dialog.submit(None)).props(
                'flat data-testid="leave-stay"')
            ui.button("Leave without saving", on_click=lambda: dialog.submit("discard")).props(
                'flat color=negative data-testid="leave-discard"')
            ui.button("Save and leave", icon="save", on_click=lambda: dialog.submit("save")
                      ).props('color=primary data-testid="leave-save"')
    result = await dialog
    return result if result in ("save", "discard") else None
