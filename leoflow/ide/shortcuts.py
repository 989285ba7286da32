"""Keyboard shortcuts of every page, and the "?" dialog that lists them.

A key typed into a field, the code editor or a dialog is the user's text, never a
shortcut: the listener ignores keys whose target is an input, a textarea, a select or
anything editable, and keys with Ctrl, Alt or Meta (the editor's own Ctrl+S stays its own).
Navigation keys go through ``location`` so that a page's unsaved-changes guard
(``beforeunload``) still asks.
"""

from __future__ import annotations

import json

from nicegui import ui

# key → (where it goes, what the dialog says)
GO_TO: dict[str, tuple[str, str]] = {
    "d": ("/dags", "DAGs"),
    "r": ("/runs", "Runs of every DAG"),
    "e": ("/editor", "Editor"),
    "a": ("/assets", "Assets"),
    "v": ("/admin/variables", "Variables"),
    "c": ("/admin/connections", "Connections"),
    "p": ("/admin/pools", "Pools"),
    "l": ("/audit", "Audit log"),
}
OTHER: tuple[tuple[str, str], ...] = (
    ("?", "This list of shortcuts"),
    ("Esc", "Close a dialog"),
    ("Ctrl+S", "Save the open file (editor)"),
)
EVENT = "leoflow_shortcuts"

SCRIPT = """
<script>
(() => {
  if (window.leoflowShortcuts) return;
  window.leoflowShortcuts = true;
  const goTo = %s;
  document.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) return;
    const target = event.target;
    if (target && (target.isContentEditable ||
        ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName) ||
        target.closest('.q-dialog, .cm-editor'))) return;
    if (event.key === '?') {
      event.preventDefault();
      emitEvent('%s');
    } else if (goTo[event.key]) {
      event.preventDefault();
      window.location.href = goTo[event.key];
    }
  });
})();
</script>
"""


def install() -> ui.dialog:
    """Listen for the shortcuts on the page being built (once per page); the dialog that
    lists them (the header's "?" button opens it too)."""
    ui.add_css(KBD_CSS)
    ui.add_body_html(SCRIPT % (json.dumps({k: v[0] for k, v in GO_TO.items()}), EVENT))
    dialog = make_dialog()
    ui.on(EVENT, dialog.open)
    return dialog


def make_dialog() -> ui.dialog:
    with ui.dialog() as dialog, ui.card().classes("w-[26rem] max-w-full gap-2").props(
            'data-testid="shortcuts-dialog"'):
        with ui.row().classes("w-full items-center"):
            ui.label("Keyboard shortcuts").classes("text-h6")
            ui.space()
            ui.button(icon="close", on_click=dialog.close).props("flat round dense")
        ui.label("Not while typing in a field or the editor.").classes(
            "text-caption text-grey-7")
        with ui.grid(columns="4rem 1fr").classes("w-full gap-y-1 items-center"):
            for key, (_, what) in GO_TO.items():
                ui.html(f"<kbd>{key}</kbd>", sanitize=False)
                ui.label(f"Go to {what}")
            for key, what in OTHER:
                ui.html(f"<kbd>{key}</kbd>", sanitize=False)
                ui.label(what)
    return dialog


KBD_CSS = """
@media (max-width: 1279px) {  /* the header keeps its buttons on one line at 1024 px */
  .q-header .row:has(> [data-testid=workspace-path]) { display: none; }
  .q-header .q-btn .q-icon.on-left { display: none; }
}
kbd { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px;
  padding: 1px 6px; border-radius: 4px; border: 1px solid rgba(127,127,127,.5);
  background: rgba(127,127,127,.12); }
"""
