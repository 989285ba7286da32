"""What the control plane answers a task of the real Airflow about other DAG runs
(``TaskDagRuns``: the ``DagRuns`` agent call), on a real store and scheduler.

The rules checked: a triggered run is created with its conf and run id (a paused target's
too, as Airflow's API does), a second one with the same run id is "exists" unless
``reset_dag_run`` clears it; counts and task states follow Airflow's filters (run ids,
logical dates, states with ``null``, task groups); and a DAG of another tenant is answered
exactly as a DAG that does not exist, for every op.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leoflow.engine.services.cross_dag import CrossDagRuns
from leoflow.engine.services.task_dag_runs import BadRequest, TaskDagRuns
from tests.integration.scheduler.conftest import spec, task

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _setup(h, *, paused_target: bool = False) -> TaskDagRuns:
    await h.register(spec("controller", task("go")))
    await h.register(spec("target", task("first"), task("second", "first"),
                          task("inner", "first", group_id="grp.sub"),
                          task_groups=[{"group_id": "grp", "parent": None},
                                       {"group_id": "grp.sub", "parent": "grp"}]),
                     paused=paused_target)
    await h.ops.register_dag(spec("secret", task("hidden")), paused_on_create=False,
                             tenant="other")
    return TaskDagRuns(h.store, CrossDagRuns(h.store, h.scheduler, clock=h.clock))


async def _ask(service: TaskDagRuns, op: str, **args):
    return await service.serve(op, args, tenant="default", source_dag_id="controller")


async def test_trigger_creates_the_run_then_refuses_or_resets_the_same_run_id(any_harness):
    h = any_harness
    service = await _setup(h)
    answer = await _ask(service, "trigger", dag_id="target", run_id="from-controller",
                        conf={"message": "hi"}, logical_date=WHEN.isoformat())
    assert answer == {"status": "started", "run_id": "from-controller", "reset": False}
    await h.settle()
    run = await h.run("target", "from-controller")
    assert (run.conf, run.logical_date, run.triggered_by) == ({"message": "hi"}, WHEN,
                                                              "operator")
    await h.finish("first", run_id="from-controller")
    assert (await h.states("target", "from-controller"))["first"] == "success"

    again = await _ask(service, "trigger", dag_id="target", run_id="from-controller")
    assert again["status"] == "exists"
    assert "already exists" in again["message"]
    assert len(await h.runs("target")) == 1

    reset = await _ask(service, "trigger", dag_id="target", run_id="from-controller",
                       reset_dag_run=True)
    assert reset == {"status": "started", "run_id": "from-controller", "reset": True}
    await h.settle()
    assert (await h.states("target", "from-controller"))["first"] != "success"  # cleared
    assert len(await h.runs("target")) == 1


async def test_the_same_try_asking_again_is_told_its_run_started(harness):
    """An agent retries a call whose answer was lost (the control plane restarted after it
    committed): the try that created the run is not told it exists; another try is."""
    h = harness
    service = await _setup(h)
    args = {"dag_id": "target", "run_id": "once"}
    first = await service.serve("trigger", args, tenant="default", source_dag_id="controller",
                                requested_by="ti-1#1")
    again = await service.serve("trigger", args, tenant="default", source_dag_id="controller",
                                requested_by="ti-1#1")
    assert first == again == {"status": "started", "run_id": "once", "reset": False}
    later_try = await service.serve("trigger", args, tenant="default",
                                    source_dag_id="controller", requested_by="ti-1#2")
    assert later_try["status"] == "exists"
    assert len(await h.runs("target")) == 1


async def test_a_paused_target_gets_its_run_which_waits_queued(harness):
    h = harness
    service = await _setup(h, paused_target=True)
    assert (await _ask(service, "trigger", dag_id="target", run_id="r1"))["status"] == \
        "started"
    await h.settle()
    assert await h.run_state("target", "r1") == "queued"
    assert (await _ask(service, "dag", dag_id="target"))["dag"]["is_paused"] is True


async def test_counts_and_states_follow_airflows_filters(any_harness):
    h = any_harness
    service = await _setup(h)
    run_id = await h.trigger("target", logical_date=WHEN)
    await h.finish("first", run_id=run_id)
    other = await h.trigger("target", run_id="no-date")

    assert await _ask(service, "dr_count", dag_id="target") == {"count": 2}
    assert await _ask(service, "dr_count", dag_id="target",
                      logical_dates=[WHEN.isoformat()]) == {"count": 1}
    assert await _ask(service, "dr_count", dag_id="target", run_ids=[other],
                      states=["success"]) == {"count": 0}
    assert await _ask(service, "dag_run_state", dag_id="target", run_id=run_id) == {
        "state": "running"}

    # ExternalTaskSensor: the task at the logical date, in the allowed states
    assert await _ask(service, "ti_count", dag_id="target", task_ids=["first"],
                      logical_dates=[WHEN.isoformat()], states=["success"]) == {"count": 1}
    assert await _ask(service, "ti_count", dag_id="target", task_ids=["first"],
                      run_ids=[other], states=["success"]) == {"count": 0}
    # "null" is no state yet (second waits for first in the other run)
    assert await _ask(service, "ti_count", dag_id="target", task_ids=["second"],
                      run_ids=[other], states=["null"]) == {"count": 1}
    # a task group counts its tasks, nested groups included
    assert await _ask(service, "ti_count", dag_id="target", task_group_id="grp",
                      run_ids=[run_id]) == {"count": 1}
    states = await _ask(service, "task_states", dag_id="target", task_group_id="grp",
                        logical_dates=[WHEN.isoformat()])
    assert states == {"task_states": {run_id: {"inner": "queued"}}}
    both = await _ask(service, "task_states", dag_id="target", task_ids=["first"],
                      task_group_id="grp", run_ids=[run_id])
    assert both == {"task_states": {run_id: {"first": "success", "inner": "queued"}}}
    missing = await _ask(service, "task_states", dag_id="target", task_group_id="nope")
    assert missing["error"]["status_code"] == 404


async def test_another_tenants_dag_is_answered_as_a_dag_that_does_not_exist(harness):
    h = harness
    service = await _setup(h)
    await h.ops.trigger_run("secret", triggered_by="cli", logical_date=WHEN)
    await h.settle()
    before = await h.written()

    def same(dag_id: str, answer: dict) -> dict:
        return {k: (str(v).replace(dag_id, "X") if k == "error" else v)
                for k, v in answer.items()}

    for op, args in (("trigger", {"run_id": "r"}), ("dag_run_state", {"run_id": "r"}),
                     ("dr_count", {}), ("ti_count", {"task_ids": ["hidden"]}),
                     ("ti_count", {"task_group_id": "g"}), ("task_states", {}),
                     ("task_states", {"task_group_id": "g"}), ("dag", {})):
        hidden = await _ask(service, op, dag_id="secret", **args)
        absent = await _ask(service, op, dag_id="absent", **args)
        assert same("secret", hidden) == same("absent", absent), op
        if op in ("dr_count", "ti_count") and "task_group_id" not in args:
            assert hidden == {"count": 0}
    assert await h.written() == before  # nothing was created in the other tenant
    # the other tenant itself sees its run
    assert await service.serve("dr_count", {"dag_id": "secret"}, tenant="other",
                               source_dag_id="secret") == {"count": 1}


async def test_bad_requests_name_what_is_wrong(harness):
    service = await _setup(harness)
    for op, args, words in (
            ("nope", {"dag_id": "target"}, "op must be one of"),
            ("dr_count", {}, "dag_id is required"),
            ("ti_count", {"dag_id": "target", "run_ids": "r1"}, "run_ids must be a list"),
            ("ti_count", {"dag_id": "target", "logical_dates": ["soon"]}, "ISO 8601"),
            ("trigger", {"dag_id": "target"}, "run_id is required"),
            ("trigger", {"dag_id": "target", "run_id": "r", "conf": [1]}, "conf must be")):
        with pytest.raises(BadRequest, match=words):
            await _ask(service, op, **args)
