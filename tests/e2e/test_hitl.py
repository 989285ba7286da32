"""Human-in-the-loop tasks through the real path: compile, scheduler, agent, user process,
the trigger runner and the HITL service that people answer through.

A HITL task runs its ``execute`` (notifiers, rendered subject and body), then waits in
``awaiting_input`` with no process; an answer resumes the same try in ``execute_complete``,
whose result is the XCom. The DAGs are in ``projects/hitl/dag.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leoflow.engine.services.errors import InvalidArgument
from leoflow.engine.services.hitl import (
    AlreadyAnswered,
    HitlNotFound,
    HitlService,
    Responder,
    scheduler_nudge,
)
from tests.e2e.harness import Harness, Prepared, Projects, open_plane

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "projects" / "hitl"
ADMIN = Responder(id="admin", name="admin", role="admin")


@pytest.fixture
async def hitl(projects: Projects) -> Prepared:
    return await projects.prepare(PROJECT)


def service_of(harness: Harness) -> HitlService:
    return HitlService(harness.plane.store, nudge=scheduler_nudge(harness.plane.relay))


async def awaiting(harness: Harness, run, task_id: str, timeout: float = 60.0) -> None:
    await harness.wait_event(
        lambda k, d: k == "ti.deferred" and d.get("run_id") == run.run_id
        and d.get("task_id") == task_id and d.get("state") == "awaiting_input", timeout)


async def answer(harness: Harness, run, task_id: str, options: list[str],
                 params: dict | None = None, responder: Responder = ADMIN) -> None:
    await service_of(harness).answer(
        tenant="default", responder=responder, dag_id=run.dag_id, run_id=run.run_id,
        task_id=task_id, map_index=-1, chosen_options=options, params_input=params)


async def test_answers_resume_the_tasks_with_their_xcom_and_branches(
        hitl: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        await harness.register(hitl, "hitl_flow")
        run = await harness.trigger("hitl_flow")
        await awaiting(harness, run, "entry")
        await awaiting(harness, run, "pick")
        service = service_of(harness)
        waiting, total = await service.list_details(tenant="default", run_id=run.run_id)
        assert total == 2
        assert {d.task_instance.task_id: d.task_instance.state for d in waiting} == {
            "entry": "awaiting_input", "pick": "awaiting_input"}
        entry = next(d.request for d in waiting if d.task_instance.task_id == "entry")
        assert entry.options == ["OK"] and entry.defaults == ["OK"]
        assert entry.params["name"]["value"] == "nobody"
        assert entry.params["name"]["schema"] == {"type": "string"}
        # bad answers are refused before anything is written
        with pytest.raises(InvalidArgument, match="not in"):
            await answer(harness, run, "pick", ["z"])
        with pytest.raises(InvalidArgument, match=r"params_input\.name"):
            await answer(harness, run, "entry", ["OK"], {"name": 5})
        await answer(harness, run, "entry", ["OK"], {"name": "Ada"})
        await answer(harness, run, "pick", ["a", "c"])
        with pytest.raises(AlreadyAnswered):
            await answer(harness, run, "pick", ["b"])

        await awaiting(harness, run, "approve")
        approval = await service.get_detail(tenant="default", dag_id="hitl_flow",
                                            run_id=run.run_id, task_id="approve")
        assert approval.request.body == "name=Ada", "the body is rendered with upstream XCom"
        assert approval.request.assigned_users == [{"id": "admin", "name": "admin"}]
        await answer(harness, run, "approve", ["Approve"])
        await awaiting(harness, run, "branch")
        await answer(harness, run, "branch", ["right way"])
        assert await harness.wait(run, 60) == "success"
        result = await harness.result(run)
    assert result.states() == {"entry": "success", "pick": "success", "approve": "success",
                               "branch": "success", "left": "skipped", "right": "success"}
    assert {n: t.try_number for n, t in result.tasks.items() if n != "left"} == dict.fromkeys(
        ["entry", "pick", "approve", "branch", "right"], 1), "each waited in its own try"
    entry_xcom = result.xcom["entry"]
    assert entry_xcom["chosen_options"] == ["OK"]
    assert entry_xcom["params_input"] == {"name": "Ada"}
    assert entry_xcom["responded_by_user"] == {"id": "admin", "name": "admin"}
    assert result.xcom["pick"]["chosen_options"] == ["a", "c"]
    assert result.xcom["approve"]["chosen_options"] == ["Approve"]
    assert result.xcom["branch"] == ["right"]
    assert result.xcom["right"] == "went right"
    assert any("NOTIFY asked Your name?" in line for line in result.lines("entry", 1))
    assert any("Waiting for response" in line for line in result.lines("pick", 1))


async def test_a_timeout_applies_the_defaults_or_fails(hitl: Prepared, sqlite_url: str,
                                                       e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        result = await harness.run(hitl, dag_id="hitl_timeouts", timeout=60)
        detail = await service_of(harness).get_detail(
            tenant="default", dag_id="hitl_timeouts", run_id=result.run_id,
            task_id="with_defaults")
    assert result.state == "failed"
    assert result.states() == {"with_defaults": "success", "without_defaults": "failed"}
    assert result.xcom["with_defaults"]["chosen_options"] == ["y"]
    assert result.xcom["with_defaults"]["params_input"] == {"n": 3}
    assert result.xcom["with_defaults"]["responded_by_user"] is None
    assert detail.request.response_received and detail.request.responded_by_user_id is None
    assert "HITLTimeoutError" in (result.tasks["without_defaults"].error or "")


async def test_reject_skips_downstream_and_other_tenants_cannot_answer(
        hitl: Prepared, sqlite_url: str, e2e_home: Path) -> None:
    async with open_plane(e2e_home, sqlite_url) as harness:
        await harness.register(hitl, "hitl_reject")
        run = await harness.trigger("hitl_reject")
        await awaiting(harness, run, "gate")
        service = service_of(harness)
        stranger = Responder(id="mallory", name="mallory", role="admin")
        with pytest.raises(HitlNotFound):
            await service.answer(tenant="other", responder=stranger, dag_id="hitl_reject",
                                 run_id=run.run_id, task_id="gate", map_index=-1,
                                 chosen_options=["Approve"])
        assert (await service.list_details(tenant="other"))[1] == 0
        await answer(harness, run, "gate", ["Reject"])
        assert await harness.wait(run, 60) == "success"
        result = await harness.result(run)
    assert result.states() == {"gate": "success", "ship": "skipped", "after_ship": "skipped"}
    assert result.xcom["gate"]["chosen_options"] == ["Reject"]
