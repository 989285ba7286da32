"""Other DAG runs as a running task asks for them: what Airflow's Task Execution API answers
to the real task runner (``TriggerDagRun``, ``GetDagRunState``, ``GetDRCount``,
``GetTICount``, ``GetTaskStates``, ``GetDag``).

The rule of every answer: the DAGs that exist are those of the asking DAG's tenant (the
caller passes the tenant of the try's own DAG, never one the request names). A DAG of
another tenant is "not found" exactly as a DAG that does not exist: a count is 0, a run
state or a task group is "not found" with the same message, a trigger fails with
``Dag id ... not found``. Nothing tells the two apart.

Answers are plain JSON-able dicts (the agent service sends them as they are); a missing
DAG, run or task group is ``{"error": {"status_code": 404, "reason": "not_found",
"message"}}``, as Airflow's API answers 404.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from leoflow.engine.services.cross_dag import CrossDagRuns
from leoflow.engine.spec.model import DagSpec
from leoflow.engine.store import Store, dags, runs
from leoflow.engine.store import cross_dag_reads as reads
from leoflow.engine.store.rows import DagRow

OPS = ("trigger", "dag_run_state", "dr_count", "ti_count", "task_states", "dag")


class BadRequest(ValueError):
    """Arguments that do not make a request (wrong types, an unknown op)."""


def not_found(message: str) -> dict[str, Any]:
    return {"error": {"status_code": 404, "reason": "not_found", "message": message}}


def _texts(args: Mapping[str, Any], name: str) -> list[str]:
    value = args.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a list of strings, got {value!r}")
    return list(value)


def _instants(args: Mapping[str, Any]) -> list[datetime]:
    found = []
    for text in _texts(args, "logical_dates"):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"logical_dates: {text!r} is not an ISO 8601 instant") from None
        found.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return found


def _states(args: Mapping[str, Any]) -> list[str | None]:
    # Airflow's "null" (and None) is "no state yet"
    return [None if s in ("null", "none") else s for s in _texts(args, "states")]


def _map_index(args: Mapping[str, Any]) -> int | None:
    value = args.get("map_index")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"map_index must be an integer, got {value!r}")
    return value if value >= 0 else None  # Airflow's client drops a negative index


def _dag_id(args: Mapping[str, Any]) -> str:
    value = args.get("dag_id")
    if not isinstance(value, str) or not value:
        raise BadRequest("dag_id is required")
    return value


def group_members(spec: DagSpec, group_id: str) -> list[str] | None:
    """The task ids inside ``group_id`` (nested groups included), or ``None`` when the DAG
    has no such group."""
    parents = {str(g.get("group_id")): g.get("parent") for g in spec.task_groups}
    if group_id not in parents:
        return None

    def inside(group: str | None) -> bool:
        seen: set[str] = set()
        while group is not None and group not in seen:
            if group == group_id:
                return True
            seen.add(group)
            group = parents.get(group)
        return False

    return [t.task_id for t in spec.tasks if inside(t.group_id)]


class TaskDagRuns:
    """Serves one request of a task (see the module docstring); ``dag_runs`` creates the
    runs ``trigger`` asks for (the same service the shim's ``dag_run`` trigger uses)."""

    def __init__(self, store: Store, dag_runs: CrossDagRuns | None) -> None:
        self.store = store
        self.dag_runs = dag_runs

    async def serve(self, op: str, args: Mapping[str, Any], *, tenant: str,
                    source_dag_id: str, requested_by: str | None = None) -> dict[str, Any]:
        """The answer to ``op`` for a try of ``source_dag_id`` (in ``tenant``);
        ``requested_by`` names the try (a trigger it asks for twice is created once);
        ``BadRequest`` for arguments that make no request."""
        if op not in OPS:
            raise BadRequest(f"op must be one of {', '.join(OPS)}, not {op!r}")
        if op == "trigger":
            return await self._trigger(args, source_dag_id, requested_by)
        dag_id = _dag_id(args)
        async with self.store.connect() as conn:
            dag = await dags.get_dag(conn, dag_id)
            visible: DagRow | None = dag if dag is not None and dag.tenant == tenant else None
            if op == "dag_run_state":
                run_id = str(args.get("run_id") or "")
                run = await runs.get_run(conn, dag_id, run_id) if visible else None
                if run is None:
                    return not_found(f"Dag run with dag_id '{dag_id}' and run_id "
                                     f"'{run_id}' was not found")
                return {"state": str(run.state)}
            if op == "dag":
                if visible is None:
                    return not_found(f"Dag with dag_id: '{dag_id}' not found")
                # no file location: it is a path of the control plane's, not the task's
                return {"dag": {"dag_id": dag_id, "is_paused": visible.is_paused,
                                "next_dagrun": visible.next_dagrun_logical_date.isoformat()
                                if visible.next_dagrun_logical_date else None}}
            if op == "dr_count":
                if visible is None:
                    return {"count": 0}
                states = [s for s in _states(args) if s is not None]
                return {"count": await reads.count_runs(
                    conn, dag_id, logical_dates=_instants(args),
                    run_ids=_texts(args, "run_ids"), states=states)}
            where = reads.TaskInstanceFilter(
                dag_id=dag_id, task_ids=_texts(args, "task_ids"), map_index=_map_index(args),
                logical_dates=_instants(args), run_ids=_texts(args, "run_ids"),
                states=_states(args) if op == "ti_count" else ())
            group = args.get("task_group_id")
            members: Sequence[str] | None = None
            if group:
                members = await self._members(conn, visible, str(group))
                if members is None:
                    return not_found(f"Task group {group} not found in DAG {dag_id}")
            if op == "ti_count":
                if visible is None:
                    return {"count": 0}
                return {"count": await reads.count_task_instances(conn, where, among=members)}
            return {"task_states": await self._task_states(conn, visible, where, members)}

    async def _members(self, conn: Any, dag: DagRow | None, group: str) -> list[str] | None:
        if dag is None:
            return None
        version = await dags.current_version(conn, dag.dag_id)
        return group_members(DagSpec.from_json(version.spec), group) if version else None

    @staticmethod
    async def _task_states(conn: Any, dag: DagRow | None, where: reads.TaskInstanceFilter,
                           members: Sequence[str] | None) -> dict[str, dict[str, Any]]:
        """Airflow's ``{run_id: {task_id or task_id_mapindex: state}}``: the instances
        ``where`` names, plus (or, without ``task_ids``, only) the group's."""
        if dag is None:
            return {}
        rows = []
        if members is None or where.task_ids:
            rows += await reads.task_states(conn, where)
        if members is not None:
            everyone = reads.TaskInstanceFilter(
                dag_id=where.dag_id, map_index=where.map_index,
                logical_dates=where.logical_dates, run_ids=where.run_ids)
            rows += await reads.task_states(conn, everyone, among=members)
        found: dict[str, dict[str, Any]] = {}
        for run_id, task_id, map_index, state in rows:
            key = task_id if map_index < 0 else f"{task_id}_{map_index}"
            found.setdefault(run_id, {})[key] = state
        return found

    async def _trigger(self, args: Mapping[str, Any], source_dag_id: str,
                       requested_by: str | None) -> dict[str, Any]:
        if self.dag_runs is None:
            raise BadRequest("this control plane does not create runs for tasks")
        dag_id = _dag_id(args)
        run_id = args.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise BadRequest("run_id is required")
        conf = args.get("conf")
        if conf is not None and not isinstance(conf, dict):
            raise BadRequest(f"conf must be a JSON object, got {conf!r}")
        outcome = await self.dag_runs.trigger(source_dag_id, {
            "trigger_dag_id": dag_id, "run_id": run_id, "conf": conf or {},
            "logical_date": args.get("logical_date"), "run_after": args.get("run_after"),
            "reset_dag_run": bool(args.get("reset_dag_run")), "note": args.get("note")},
            requested_by=requested_by)
        if outcome.get("status") == "started":
            return {"status": "started", "run_id": outcome.get("run_id"),
                    "reset": bool(outcome.get("reset"))}
        if outcome.get("already_exists"):
            return {"status": "exists", "message": str(outcome.get("reason") or "")}
        if outcome.get("not_found"):
            return not_found(f"Dag with dag_id: '{dag_id}' not found")
        return {"error": {"status_code": 400, "reason": "refused",
                          "message": str(outcome.get("reason") or "")}}
