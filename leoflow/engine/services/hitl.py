"""Human-in-the-loop requests: list them, read one, answer one (every face calls this).

A request exists while (and after) a HITL task waits in ``awaiting_input``. Answering
checks, in this order, before writing anything: the task instance belongs to the caller's
tenant (otherwise it does not exist for them: 404), it has a request, the request has no
answer yet and the task still waits (409), the caller is one of its ``assigned_users`` when
it names any (403; admins may answer any), the chosen options are options of the request
(one unless ``multiple``) and ``params_input`` fits the form (400). Then it writes the
answer with an audit row and asks the trigger runner to poll now, so the task resumes
with the answer at once (``nudge``; without it the runner's next poll finds the answer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leoflow.engine.clock import Clock, SystemClock
from leoflow.engine.services.errors import InvalidArgument, InvalidOperation, ServiceError
from leoflow.engine.store import Store, audit, dags, runs, task_instances
from leoflow.engine.store import hitl as hitl_rows
from leoflow.engine.store.hitl import HitlRow
from leoflow.engine.store.rows import TaskInstanceRow
from leoflow.errors import InvariantError

ADMIN_ROLE = "admin"


class HitlNotFound(ServiceError):
    status = 404

    def __init__(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        super().__init__(f"Human-in-the-loop detail does not exist for Task Instance with "
                         f"dag_id: `{dag_id}`, run_id: `{run_id}`, task_id: `{task_id}` and "
                         f"map_index: `{map_index}`")


class AlreadyAnswered(InvalidOperation):
    """Someone (or the timeout's defaults) answered first; Airflow answers 409."""


class NotARespondent(ServiceError):
    status = 403


@dataclass(frozen=True)
class Responder:
    """Who answers: ``id`` and ``name`` as Airflow's ``HITLUser`` (a username here)."""

    id: str
    name: str
    role: str = ""


@dataclass(frozen=True)
class HitlDetail:
    """A request with its task instance (what the API's ``HITLDetail`` shows)."""

    request: HitlRow
    task_instance: TaskInstanceRow


class HitlService:
    """See the module docstring."""

    def __init__(self, store: Store, *, nudge: Callable[[str], Any] | None = None,
                 clock: Clock | None = None) -> None:
        self.store = store
        self.nudge = nudge
        self.clock = clock or SystemClock()

    async def list_details(self, *, tenant: str, dag_id: str | None = None,
                           run_id: str | None = None, task_id: str | None = None,
                           map_index: int | None = None,
                           response_received: bool | None = None,
                           states: Sequence[str] | None = None, limit: int | None = 50,
                           offset: int = 0) -> tuple[list[HitlDetail], int]:
        """The tenant's requests, newest first (``None`` filters match anything)."""
        async with self.store.connect() as conn:
            found, total = await hitl_rows.list_requests(
                conn, tenant=tenant, dag_id=dag_id, run_id=run_id, task_id=task_id,
                map_index=map_index, response_received=response_received, states=states,
                limit=limit, offset=offset)
        return [HitlDetail(r, ti) for r, ti in found], total

    async def get_detail(self, *, tenant: str, dag_id: str, run_id: str, task_id: str,
                         map_index: int = -1) -> HitlDetail:
        async with self.store.connect() as conn:
            ti = await self._task_instance(conn, tenant, dag_id, run_id, task_id, map_index)
            row = await hitl_rows.get_request(conn, ti.id)
        if row is None:
            raise HitlNotFound(dag_id, run_id, task_id, map_index)
        return HitlDetail(row, ti)

    async def answer(self, *, tenant: str, responder: Responder, dag_id: str, run_id: str,
                     task_id: str, map_index: int, chosen_options: Sequence[str],
                     params_input: Mapping[str, Any] | None = None) -> HitlRow:
        """Record ``responder``'s answer and resume the task; returns the answered row."""
        chosen = list(chosen_options or [])
        given = dict(params_input or {})
        now = self.clock.now()
        async with self.store.begin() as conn:
            ti = await self._task_instance(conn, tenant, dag_id, run_id, task_id, map_index)
            row = await hitl_rows.get_request(conn, ti.id)
            if row is None:
                raise HitlNotFound(dag_id, run_id, task_id, map_index)
            if row.response_received or ti.state != "awaiting_input" \
                    or row.try_number != ti.try_number:
                raise AlreadyAnswered(
                    f"Human-in-the-loop detail has already been updated for Task Instance "
                    f"with id {ti.id} and is not allowed to write again.")
            check_respondent(row, responder)
            check_answer(row, chosen, given)
            if not await hitl_rows.record_answer(
                    conn, ti.id, try_number=row.try_number, chosen_options=chosen,
                    params_input=given, now=now, user_id=responder.id,
                    user_name=responder.name):
                raise AlreadyAnswered(f"Human-in-the-loop detail of Task Instance {ti.id} "
                                      "was answered meanwhile")
            await audit.record_event(conn, "hitl_response", username=responder.name,
                                     dag_id=dag_id, run_id=run_id, task_id=task_id,
                                     map_index=map_index, occurred_at=now,
                                     extra={"chosen_options": chosen})
            answered = await hitl_rows.get_request(conn, ti.id)
        if answered is None:  # answered by this very transaction
            raise InvariantError(f"the Human-in-the-loop request of {ti.id} was just answered "
                                 "but cannot be read back")
        if self.nudge is not None:
            self.nudge(ti.id)
        return answered

    async def _task_instance(self, conn: Any, tenant: str, dag_id: str, run_id: str,
                             task_id: str, map_index: int) -> TaskInstanceRow:
        dag = await dags.get_dag(conn, dag_id)
        run = None if dag is None or dag.tenant != tenant else await runs.get_run(
            conn, dag_id, run_id)
        ti = None if run is None else await task_instances.get_task_instance(
            conn, run.id, task_id, map_index)
        if ti is None:  # absent, or another tenant's: the same answer
            raise HitlNotFound(dag_id, run_id, task_id, map_index)
        return ti


def check_respondent(row: HitlRow, responder: Responder) -> None:
    """A request naming ``assigned_users`` may be answered by them (by id or name) only;
    an admin may answer any."""
    if not row.assigned_users or responder.role.lower() == ADMIN_ROLE:
        return
    for user in row.assigned_users:
        if responder.id == user.get("id") or responder.name == user.get("name"):
            return
    raise NotARespondent(f"User={responder.name} is not a respondent for the task")


def check_answer(row: HitlRow, chosen: list[str], params_input: Mapping[str, Any]) -> None:
    """The chosen options and the form's values fit the request (``InvalidArgument``)."""
    if not chosen:
        raise InvalidArgument("chosen_options must name at least one option",
                              field="chosen_options")
    unknown = [c for c in chosen if c not in row.options]
    if unknown:
        raise InvalidArgument(f"Responses {unknown} not in {row.options}",
                              field="chosen_options")
    if not row.multiple and len(chosen) > 1:
        raise InvalidArgument(f"this request takes one option, got {len(chosen)}: {chosen}",
                              field="chosen_options")
    extra = sorted(set(params_input) - set(row.params))
    if extra:
        raise InvalidArgument(f"params_input has unknown field(s) {extra}; the form has "
                              f"{sorted(row.params)}", field="params_input")
    from jsonschema import Draft202012Validator

    for name, spec in row.params.items():
        if name not in params_input:
            continue
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not schema:
            continue
        error = next(iter(Draft202012Validator(schema).iter_errors(params_input[name])), None)
        if error is not None:
            raise InvalidArgument(f"params_input.{name}: {error.message}",
                                  field=f"params_input.{name}")


def scheduler_nudge(handle: Any) -> Callable[[str], None]:
    """``nudge`` for a ``SchedulerHandle`` (the HA relay or the scheduler): poll the answered
    task's trigger now when this process runs the trigger runner (the leader); elsewhere the
    leader's next poll (``poke_interval``) finds the answer."""
    def nudge(ti_id: str) -> None:
        is_leader = getattr(handle, "is_leader", None)
        if callable(is_leader) and not is_leader():
            return
        triggers = getattr(handle, "triggers", None)
        poll_now = getattr(triggers, "poll_now", None)
        if callable(poll_now):
            poll_now(ti_id)

    return nudge
