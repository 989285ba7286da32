"""Bad input: each a typed error with a clear message, and nothing written."""

from __future__ import annotations

import pytest

from leoflow.engine.services import (
    DagNotFound,
    DagPausedError,
    InvalidArgument,
    InvalidConf,
    InvalidParams,
    RunNotFound,
    ServiceError,
    TaskNotFound,
)
from leoflow.engine.services.limits import FieldTooLarge
from tests.integration.scheduler.conftest import spec, task

PARAMS = {
    "n": {"default": 3, "schema": {"type": "integer", "minimum": 1}},
    "name": {"schema": {"type": "string"}},  # required: no default
}


@pytest.fixture
async def h(any_harness):
    """A harness with DAG ``ok`` (one finished run) and DAG ``asleep`` (paused)."""
    h = any_harness
    await h.register(spec("ok", task("a"), task("b", "a"), params=PARAMS))
    await h.register(spec("asleep", task("a")), paused=True)
    run = await h.ops.trigger_run("ok", conf={"name": "x"})
    await h.settle()
    await h.finish("a")
    await h.finish("b")
    h.run_id = run.run_id
    return h


async def refused(h, error: type[ServiceError], call, *, status: int,
                  contains: str) -> ServiceError:
    before = await h.written()
    with pytest.raises(error) as exc:
        await call()
    await h.settle()
    assert await h.written() == before, "a refused operation wrote something"
    assert exc.value.status == status
    assert contains in str(exc.value), str(exc.value)
    return exc.value


async def test_triggering_a_paused_dag(h):
    await refused(h, DagPausedError, lambda: h.ops.trigger_run("asleep"), status=409,
                  contains="DAG 'asleep' is paused; unpause it to trigger a run")


async def test_triggering_an_unknown_dag(h):
    await refused(h, DagNotFound, lambda: h.ops.trigger_run("nope"), status=404,
                  contains="The Dag with ID: `nope` was not found")


@pytest.mark.parametrize("conf", [[1, 2], "n=3", 7])
async def test_a_conf_that_is_not_an_object(h, conf):
    error = await refused(h, InvalidConf, lambda: h.ops.trigger_run("ok", conf=conf),
                          status=422, contains="conf must be a JSON object, got")
    assert error.field == "conf"


async def test_a_conf_too_large_is_refused_by_the_service_every_face_calls(h):
    """The IDE's trigger form and the CLI call the service, not the API route: the bound
    on a run's conf (256 KiB of JSON) is the service's."""
    big = {"name": "x", "blob": "x" * (300 * 1024)}
    error = await refused(h, FieldTooLarge, lambda: h.ops.trigger_run("ok", conf=big),
                          status=422, contains="conf is 307")
    assert error.field == "conf"


async def test_a_param_of_the_wrong_type(h):
    error = await refused(
        h, InvalidParams, lambda: h.ops.trigger_run("ok", conf={"n": "three", "name": "x"}),
        status=422, contains="param 'n': 'three' is not of type 'integer'")
    assert error.field == "conf.n"


async def test_a_param_out_of_its_schema_s_range(h):
    await refused(h, InvalidParams,
                  lambda: h.ops.trigger_run("ok", conf={"n": 0, "name": "x"}), status=422,
                  contains="param 'n': 0 is less than the minimum of 1")


async def test_a_missing_required_param(h):
    error = await refused(h, InvalidParams, lambda: h.ops.trigger_run("ok", conf={"n": 2}),
                          status=422,
                          contains="Invalid input for param name: No value passed")
    assert error.field == "conf.name"


async def test_a_naive_logical_date(h):
    from datetime import datetime

    error = await refused(h, InvalidArgument,
                          lambda: h.ops.trigger_run("ok", conf={"name": "x"},
                                                    logical_date=datetime(2026, 1, 1)),
                          status=400, contains="logical_date must be timezone-aware")
    assert error.field == "logical_date"


async def test_clearing_a_task_that_does_not_exist(h):
    error = await refused(
        h, TaskNotFound, lambda: h.ops.clear_task_instances("ok", h.run_id, ["a", "ghost"]),
        status=404, contains="DAG 'ok' has no task 'ghost'")
    assert error.task_ids == ["ghost"]
    assert await h.run_state("ok", h.run_id) == "success"


async def test_clearing_in_an_unknown_run_or_dag(h):
    await refused(h, RunNotFound, lambda: h.ops.clear_task_instances("ok", "nope", ["a"]),
                  status=404, contains="run_id: `nope` was not found")
    await refused(h, DagNotFound, lambda: h.ops.clear_task_instances("nope", h.run_id),
                  status=404, contains="`nope` was not found")


async def test_marking_with_a_state_that_cannot_be_set_by_hand(h):
    await refused(h, InvalidArgument,
                  lambda: h.ops.mark_task_instance("ok", h.run_id, "a", "running"),
                  status=400, contains="can be marked success, failed or skipped")
    await refused(h, InvalidArgument, lambda: h.ops.mark_run("ok", h.run_id, "queued"),
                  status=400, contains="a run can be marked success or failed")
    await refused(h, TaskNotFound,
                  lambda: h.ops.mark_task_instance("ok", h.run_id, "ghost", "success"),
                  status=404, contains="no task 'ghost'")


async def test_deleting_an_unknown_run_or_dag_history(h):
    await refused(h, RunNotFound, lambda: h.ops.delete_run("ok", "nope"), status=404,
                  contains="was not found")
    await refused(h, DagNotFound, lambda: h.ops.delete_dag_history("nope"), status=404,
                  contains="was not found")
    await refused(h, DagNotFound, lambda: h.ops.set_paused("nope", True), status=404,
                  contains="was not found")
