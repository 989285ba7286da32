"""Download examples: copy the bundled examples into the workspace, asking before
overwriting a file the user changed.

The copying is the lite command's ``copy_examples(workspace, overwrite)`` (handed in as
``IdeServices.copy_examples``; the IDE does not import ``leoflow.app``). ``overwrite`` is
asked about each changed file. The IDE calls it twice: first answering "no" to every
question while writing the questions down (new files and files the user never touched are
copied), then, once the user has chosen in a dialog, with "yes" for the chosen files only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leoflow.errors import LeoflowError
from leoflow.ide.events import EventHub
from leoflow.ide.services import IdeServices


@dataclass
class ExamplesOutcome:
    written: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # changed by the user, kept so far


def _written(report: Any) -> list[str]:
    written = getattr(report, "written", None)
    if written is not None:
        return list(written)
    return [*getattr(report, "copied", []), *getattr(report, "updated", []),
            *getattr(report, "replaced", [])]


def first_pass(copy_examples: Callable[..., Any], workspace: Path) -> ExamplesOutcome:
    """Copy everything that needs no question; return what would need one."""
    conflicts: list[str] = []

    def ask(relative: str) -> bool:
        conflicts.append(relative)
        return False

    report = copy_examples(workspace, ask)
    return ExamplesOutcome(written=_written(report), conflicts=conflicts)


def overwrite_pass(copy_examples: Callable[..., Any], workspace: Path,
                   chosen: Collection[str]) -> ExamplesOutcome:
    """Overwrite exactly the files the user chose (others stay as the user left them)."""
    chosen = set(chosen)
    kept: list[str] = []

    def ask(relative: str) -> bool:
        if relative in chosen:
            return True
        kept.append(relative)
        return False

    report = copy_examples(workspace, ask)
    return ExamplesOutcome(written=_written(report), conflicts=kept)


async def download_examples(services: IdeServices, hub: EventHub, workspace: Path | None = None,
                            recheck: Callable[[], Awaitable[Any]] | None = None) -> None:
    """The button's action: copy into ``workspace`` (the user's tenant's folder; the whole
    workspace by default), then ask about the user's changed files, if any. ``recheck``
    (the page's access check) runs again before the files the user chose are replaced."""
    from nicegui import run, ui

    from leoflow.ide.layout import notifier, transient_dialog

    notify = notifier()
    copy = services.copy_examples
    if copy is None:
        notify("Examples are not available in this IDE (start it with `leoflow lite`).",
                  type="warning")
        return
    target = Path(workspace or services.workspace)
    try:
        outcome = await run.io_bound(first_pass, copy, target)
    except (OSError, ValueError) as exc:
        notify(f"Could not copy the examples: {exc}", type="negative", multi_line=True)
        return
    if outcome is None:  # the app is stopping
        return
    hub.publish("files.changed", {})
    if not outcome.conflicts:
        notify(f"Examples are in {target / 'examples'} "
                  f"({len(outcome.written)} files written)", type="positive")
        return
    with transient_dialog() as dialog, ui.card().classes("w-[32rem] max-w-full"):
        ui.label("You changed some example files").classes("text-h6")
        ui.label("New and untouched files were copied. Replace these with the bundled "
                 "version? Unticked files are kept as they are.").classes("text-body2")
        boxes = {name: ui.checkbox(f"examples/{name}", value=False).props(
            f'data-file="{name}"') for name in outcome.conflicts}

        async def apply() -> None:
            chosen = [name for name, box in boxes.items() if box.value]
            dialog.close()
            if not chosen:
                notify("Your changed files were kept", type="info")
                return
            if recheck is not None:
                try:
                    await recheck()
                except LeoflowError as exc:
                    notify(str(exc), type="negative")
                    return
            result = await run.io_bound(overwrite_pass, copy, target, chosen)
            hub.publish("files.changed", {})
            if result is None:  # the app is stopping
                return
            notify(f"Replaced {len(chosen)} file(s); kept {len(result.conflicts)}",
                      type="positive")

        def keep_all() -> None:
            dialog.close()
            notify(f"Your {len(boxes)} changed file(s) were kept; the others are restored",
                   type="info")

        with ui.row().classes("w-full justify-end"):
            ui.button("Keep all mine", on_click=keep_all).props(
                'flat data-testid="examples-keep"')
            ui.button("Replace ticked", on_click=apply).props(
                'color=primary data-testid="examples-replace"')
    dialog.open()
