"""Colours and styles shared by the pages: Airflow's state colours, so that a run looks the
same here as in the Airflow UI a user knows.
"""

from __future__ import annotations

from leoflow.engine.services.run_views import STATE_PRIORITY, summarize_states

__all__ = ["STATE_COLORS", "STATE_PRIORITY", "square_style", "state_color", "summarize_states",
           "text_color"]

# Airflow's STATE_COLORS (airflow.settings), as hex so that CSS and Mermaid both take them.
STATE_COLORS: dict[str, str] = {
    "deferred": "#9370db",          # mediumpurple
    "awaiting_input": "#9370db",    # waits like deferred, for a person (HITL)
    "failed": "#ff0000",            # red
    "queued": "#808080",            # gray
    "removed": "#d3d3d3",           # lightgrey
    "restarting": "#ee82ee",        # violet
    "running": "#00ff00",           # lime
    "scheduled": "#d2b48c",         # tan
    "skipped": "#ff69b4",           # hotpink
    "success": "#008000",           # green
    "up_for_reschedule": "#40e0d0",  # turquoise
    "up_for_retry": "#ffd700",      # gold
    "upstream_failed": "#ffa500",   # orange
}
NO_STATE_COLOR = "#ffffff"
# Text on a state colour: white on the dark ones, black on the light ones.
DARK_STATES = frozenset({"failed", "success", "queued", "deferred", "awaiting_input"})


def state_color(state: str | None) -> str:
    return STATE_COLORS.get(state or "", NO_STATE_COLOR)


def text_color(state: str | None) -> str:
    return "#ffffff" if state in DARK_STATES else "#000000"


def square_style(state: str | None, size: int = 14) -> str:
    """Inline CSS of one coloured square of a grid (a run or a task instance)."""
    border = "1px solid #9e9e9e" if state in (None, "removed") else "1px solid transparent"
    return (f"width:{size}px;height:{size}px;border-radius:3px;background:{state_color(state)};"
            f"border:{border};display:inline-block;")


GLOBAL_CSS = """
.leoflow-error-line { background: rgba(255, 0, 0, 0.14); }
.leoflow-lite-badge { letter-spacing: 0.08em; font-weight: 700; }
.leoflow-square { cursor: pointer; }
.leoflow-square:hover { outline: 2px solid #1976d2; }
.leoflow-grid td, .leoflow-grid th { padding: 1px 3px; }
.leoflow-log { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.leoflow-log .q-scrollarea__content { white-space: pre-wrap; overflow-wrap: anywhere;
                                      width: 100%; }
.leoflow-log-stderr { color: #c62828; }
.leoflow-log-agent { color: #6a1b9a; }
.body--dark .leoflow-log-stderr { color: #ff8a80; }
.body--dark .leoflow-log-agent { color: #ce93d8; }
.leoflow-log-reason { background: rgba(255, 152, 0, 0.12); border-left: 3px solid #fb8c00; }
.leoflow-file-link { text-decoration: underline; cursor: pointer; color: #1976d2; }
.body--dark .leoflow-file-link { color: #90caf9; }
.leoflow-mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.nicegui-codemirror { height: 100%; }
/* Mermaid's neutral theme draws light boxes: in dark mode its groups, edge labels and
   arrows take the page's colours (the state fills of the nodes stay as they are). */
.body--dark [data-testid=dag-graph] .cluster rect { fill: #262626 !important;
  stroke: #616161 !important; }
.body--dark [data-testid=dag-graph] .cluster text,
.body--dark [data-testid=dag-graph] .cluster-label text,
.body--dark [data-testid=dag-graph] .edgeLabel text { fill: #e0e0e0 !important; }
.body--dark [data-testid=dag-graph] .edgeLabel rect,
.body--dark [data-testid=dag-graph] .edgeLabel .background,
.body--dark [data-testid=dag-graph] .labelBkg { fill: #1d1d1d !important;
  background: #1d1d1d !important; opacity: 1 !important; }
.body--dark [data-testid=dag-graph] .flowchart-link { stroke: #9e9e9e !important; }
.body--dark [data-testid=dag-graph] marker path { fill: #9e9e9e !important;
  stroke: #9e9e9e !important; }
"""
