"""The run-time context a task sees (``ds``, ``logical_date``, ``params`` ...), as JSON.

Built by the control plane from the run row, so the agent and the user process need no
database access. Airflow 3 leaves ``ds`` undefined for runs without a logical date; Leoflow
falls back to the run's ``run_after`` so that templates such as ``{{ ds }}`` keep working in
manual runs (documented in docs/airflow-compat.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store.rows import DagRunRow, TaskInstanceRow


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_params(spec: DagSpec, run: DagRunRow) -> dict[str, Any]:
    """A run's params: each declared param's default, overridden by the run's conf.

    One rule for every executor: the agent's tasks see these in ``params`` and their
    ``{"param": ...}`` inputs, and the inline HTTP executor resolves its inputs with them.
    (The values were checked against their schemas when the run was triggered.)
    """
    params = {name: p.get("default") for name, p in spec.params.items()}
    params.update({k: v for k, v in (run.conf or {}).items() if k in spec.params})
    return params


def build_context(run: DagRunRow, ti: TaskInstanceRow, params: dict[str, Any]) -> dict[str, Any]:
    """The context of one try as plain JSON (datetimes as ISO 8601 strings)."""
    moment = run.logical_date or run.run_after
    return {
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "run_type": run.run_type,
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "try_number": ti.try_number,
        "max_tries": ti.max_tries,
        "logical_date": _iso(run.logical_date),
        "run_after": _iso(run.run_after),
        "data_interval_start": _iso(run.data_interval_start or run.logical_date),
        "data_interval_end": _iso(run.data_interval_end or run.logical_date),
        "ds": moment.strftime("%Y-%m-%d"),
        "ds_nodash": moment.strftime("%Y%m%d"),
        "ts": moment.isoformat(),
        "ts_nodash": moment.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": moment.strftime("%Y%m%dT%H%M%S%z"),
        "params": params,
        "conf": dict(run.conf or {}),
        "dag_run": {"run_id": run.run_id, "run_type": run.run_type,
                    "conf": dict(run.conf or {}), "logical_date": _iso(run.logical_date),
                    "run_after": _iso(run.run_after)},
    }


def prev_success_json(prev: DagRunRow | None) -> dict[str, Any] | None:
    """The DAG's previous successful run as the context's ``prev_success`` (Airflow's
    ``prev_data_interval_start_success``, ``prev_start_date_success``... come from it)."""
    if prev is None:
        return None
    return {"data_interval_start": _iso(prev.data_interval_start or prev.logical_date),
            "data_interval_end": _iso(prev.data_interval_end or prev.logical_date),
            "start_date": _iso(prev.start_date), "end_date": _iso(prev.end_date)}
