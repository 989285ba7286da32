"""A run's Gantt chart: one row per task instance, one bar per try from its start to its end
(a try still running ends now; the time it spent queued is a lighter stretch before it),
coloured by the try's state, on a time axis from the run's first start to its last end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from nicegui import ui

from leoflow.engine.services.run_pages import TryBar
from leoflow.ide.layout import format_duration
from leoflow.ide.theme import state_color

MIN_WIDTH = 0.6  # percent: a try of a few milliseconds stays visible


def _now(sample: datetime | None) -> datetime:
    return datetime.now(sample.tzinfo if sample is not None and sample.tzinfo else UTC)


def span(bars: Sequence[TryBar]) -> tuple[datetime, datetime] | None:
    starts = [b.queued or b.start for b in bars if (b.queued or b.start) is not None]
    if not starts:
        return None
    first = min(s for s in starts if s is not None)
    ends = [b.end or _now(first) for b in bars if b.start is not None or b.queued is not None]
    last = max([*ends, first])
    return first, last


def draw(bars: Sequence[TryBar], *, on_click: Callable[[str, int], Awaitable[None]]) -> None:
    """The chart, in the current container."""
    window = span(bars)
    if window is None:
        ui.label("No try has started yet.").classes("text-grey-7").props(
            'data-testid="gantt-empty"')
        return
    first, last = window
    total = max((last - first).total_seconds(), 0.001)

    def pct(moment: datetime) -> float:
        return max(0.0, min(100.0, (moment - first).total_seconds() / total * 100))

    rows: dict[tuple[str, int], list[TryBar]] = {}
    for bar in bars:
        rows.setdefault((bar.task_id, bar.map_index), []).append(bar)
    with ui.element("div").classes("w-full leoflow-gantt").props('data-testid="gantt"'):
        with ui.row().classes("w-full no-wrap text-caption text-grey-7"):
            ui.label("").classes("leoflow-gantt-label")
            with ui.row().classes("grow justify-between no-wrap"):
                ui.label(first.strftime("%H:%M:%S"))
                ui.label(f"total {format_duration(total)}")
                ui.label(last.strftime("%H:%M:%S"))
        for (task_id, map_index), tries in rows.items():
            name = task_id + (f" [{map_index}]" if map_index >= 0 else "")
            with ui.row().classes("w-full no-wrap items-center").props(
                    f'data-testid="gantt-row" data-task="{task_id}" '
                    f'data-map-index="{map_index}"'):
                ui.label(name).classes("leoflow-gantt-label text-caption leoflow-mono "
                                       "ellipsis").tooltip(name)
                with ui.element("div").classes("grow leoflow-gantt-track"):
                    for bar in tries:
                        _bar(bar, pct, on_click)


def _bar(bar: TryBar, pct: Callable[[datetime], float],
         on_click: Callable[[str, int], Awaitable[None]]) -> None:
    start = bar.start or bar.queued
    if start is None:
        return
    end = bar.end or _now(start)
    if bar.queued is not None and bar.start is not None and bar.start > bar.queued:
        left, right = pct(bar.queued), pct(bar.start)
        ui.element("div").classes("leoflow-gantt-queued").style(
            f"left:{left:.3f}%;width:{max(right - left, 0.0):.3f}%")
    left = pct(start)
    width = max(pct(end) - left, MIN_WIDTH)
    seconds = max((end - start).total_seconds(), 0.0)
    element = ui.element("div").classes("leoflow-gantt-bar").style(
        f"left:{left:.3f}%;width:{width:.3f}%;background:{state_color(bar.state)}")
    element.props(f'data-testid="gantt-bar" data-task="{bar.task_id}" '
                  f'data-try="{bar.try_number}" data-state="{bar.state or "none"}"')
    element.tooltip(f"{bar.task_id} try {bar.try_number} · {bar.state or 'no status'}\n"
                    f"{start.strftime('%H:%M:%S')} → "
                    f"{bar.end.strftime('%H:%M:%S') if bar.end else 'now'} "
                    f"({format_duration(seconds)})")
    element.on("click", lambda _e: on_click(bar.task_id, bar.map_index))


GANTT_CSS = """
.leoflow-gantt-label { width: 14rem; min-width: 14rem; overflow: hidden; }
.leoflow-gantt-track { position: relative; height: 18px; border-radius: 3px;
  background: rgba(127, 127, 127, 0.08); }
.leoflow-gantt-bar { position: absolute; top: 2px; height: 14px; border-radius: 3px;
  cursor: pointer; border: 1px solid rgba(0, 0, 0, 0.25); }
.leoflow-gantt-bar:hover { outline: 2px solid #1976d2; }
.leoflow-gantt-queued { position: absolute; top: 6px; height: 6px; border-radius: 3px;
  background: rgba(128, 128, 128, 0.45); }
"""
