"""A real-Airflow try whose trigger times out resumes, so Airflow's own code decides.

Airflow's scheduler resumes such a try into ``__fail__`` with ``TRIGGER_TIMEOUT``; the
operator's ``resume_execution`` then raises ``AirflowSensorTimeout`` (a sensor; ``soft_fail``
skips) or ``TaskDeferralTimeout``, and its failure callbacks run. A task of the shim is failed
by the control plane instead (``test_deferral.py``). The SDK side turns the event into
``__fail__`` (tests/integration/agent/test_agent_real_airflow_deferral.py).
"""

from __future__ import annotations

from leoflow.engine.executors.base import ExecutorEvent
from leoflow.engine.scheduler.deferral import TRIGGER_TIMEOUT_EVENT
from leoflow.engine.store import triggers as trigger_rows
from leoflow.sdk.real_airflow_runtime import handoff
from tests.integration.scheduler.conftest import spec, task
from tests.integration.triggers.conftest import advance, settle, time_trigger


async def _report(h, task_id: str, state: str, **info) -> None:
    launch = h.executor.latest(task_id)
    await h.executor.callback(ExecutorEvent(launch.ti_id, launch.try_number, "running"))
    await h.executor.callback(ExecutorEvent(launch.ti_id, launch.try_number, state,
                                            info=info))
    await settle(h)


def test_the_engine_and_the_sdk_name_the_timeout_event_alike() -> None:
    assert TRIGGER_TIMEOUT_EVENT == handoff.TRIGGER_TIMEOUT_EVENT


async def test_a_real_airflow_trigger_timeout_resumes_the_same_try(harness) -> None:
    h = harness
    await h.register(spec("real", task("wait", operator="sensor", runtime="airflow",
                                       retries=2)))
    run_id = await h.trigger("real")
    kwargs = {handoff.TRIGGER_KEY: {"classpath": handoff.FILE}}
    await _report(h, "wait", "deferred", trigger=time_trigger(delta=3600, **{"from": "now"}),
                  next_method="execute_complete", next_kwargs=kwargs, defer_timeout=30.0)
    await advance(h, 29)
    assert (await h.ti("real", run_id, "wait")).state == "deferred"
    await advance(h, 1)
    ti = await h.ti("real", run_id, "wait")
    assert (ti.state, ti.try_number, ti.next_method) == ("queued", 1, "execute_complete")
    assert ti.next_kwargs == {**kwargs, "event": TRIGGER_TIMEOUT_EVENT}
    assert h.executor.latest("wait").try_number == 1, "the try that waited is started again"
    async with h.store.connect() as conn:
        assert await trigger_rows.count_triggers(conn) == 0
