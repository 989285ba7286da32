"""The IDE's addresses of a run and of a task instance (quoted: run ids hold ``+`` and
``:``), in one place for every page that links to them."""

from __future__ import annotations

from urllib.parse import quote


def run_url(dag_id: str, run_id: str) -> str:
    return f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def task_url(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    return (f"/dags/{quote(dag_id, safe='')}?run_id={quote(run_id, safe='')}"
            f"&task_id={quote(task_id, safe='')}&map_index={map_index}")
