"""What the rules read from a run besides its states: mapped lengths and params.

``decisions.evaluate_run`` is pure; before calling it the loop reads what a mapped task maps
over (its upstreams' XComs, the run's params) to know how many instances to expand, once
those upstreams succeeded. A run's params (the DAG's defaults, overridden by the run's conf)
are also what a time trigger's moment may name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.scheduler.decisions import TIKey
from leoflow.engine.scheduler.mapping import UnmappableValue, expansion_length
from leoflow.engine.scheduler.run_views import RunView
from leoflow.engine.spec.model import DagSpec, XComRef, iter_xcom_refs
from leoflow.engine.store import xcom
from leoflow.engine.store.rows import DagRunRow

log = logging.getLogger("leoflow.scheduler")


async def mapped_lengths(conn: AsyncConnection, view: RunView,
                         states: Mapping[TIKey, str | None]) -> dict[str, int | None]:
    """Lengths of what unexpanded mapped tasks map over, once their upstreams succeeded."""
    lengths: dict[str, int | None] = {}
    for task_id, deps in view.graph.map_deps.items():
        if not deps or (task_id, -1) not in states:
            continue
        if any(st != "success" for (tid, _), st in states.items() if tid in deps):
            lengths[task_id] = None
            continue
        task = view.graph.tasks[task_id]
        if task.expand is None:  # map_deps names mapped tasks only
            raise ValueError(f"task {task_id!r} has map dependencies but no expand")
        values: dict[XComRef, Any] = {}
        for value in task.expand.values.values():
            for ref in iter_xcom_refs(value):
                values[ref] = await _xcom_value(conn, view, ref)
        params = run_params(view.spec, view.run)

        def xcom_length(ref: XComRef, found: dict[XComRef, Any] = values) -> int | None:
            return _length(found.get(ref))

        def param_value(name: str, given: dict[str, Any] = params) -> Any:
            return given.get(name)

        try:
            lengths[task_id] = expansion_length(task.expand, task_id=task_id,
                                                xcom_length=xcom_length,
                                                param_value=param_value)
        except UnmappableValue as exc:
            log.warning("%s", exc)
            lengths[task_id] = None
    return lengths


async def _xcom_value(conn: AsyncConnection, view: RunView, ref: XComRef) -> Any:
    if view.spec.task(ref.task_id).is_mapped:
        values = await xcom.get_mapped_values(conn, view.run.id, ref.task_id, ref.key)
        return [values.get(i) for i in range(len(values))] if values else []
    row = await xcom.get_xcom(conn, view.run.id, ref.task_id, ref.key)
    return None if row is None else row.value


def _length(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, (list, dict)):
        return len(value)
    raise UnmappableValue(None, "expand", value)


def run_params(spec: DagSpec, run: DagRunRow) -> dict[str, Any]:
    """The run's params: the DAG's defaults, overridden by the run's conf."""
    params = {name: p.get("default") for name, p in spec.params.items()}
    params.update({k: v for k, v in (run.conf or {}).items() if k in spec.params})
    return params
