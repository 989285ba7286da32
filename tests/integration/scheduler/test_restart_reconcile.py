"""Restart reconciliation tells "never started", "started" and "reported" apart, from the
try's fencing record (store/tokens.py) that the agent service commits before answering an
agent, on SQLite and PostgreSQL. Here the test writes those records as the agent service
would, then "crashes" the scheduler (stops it without letting it apply them) and starts a
new one on the store.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from leoflow.engine.store import Store, tokens
from tests.integration.scheduler.conftest import START, Harness, make_harness, spec, task
from tests.integration.scheduler.scripted_executor import ScriptedExecutor

LATER = START + timedelta(seconds=5)  # the agent's records come after the try was queued


@pytest.fixture
async def crash(db_url, clock):
    """``h = await crash.first()``, then ``h2 = await crash(h, lost=...)``."""
    store = await Store.open(db_url, auto_migrate=True)
    made: list[Harness] = []

    async def first() -> Harness:
        made.append(await make_harness(db_url, clock, ScriptedExecutor(),
                                       store=store))
        return made[-1]

    async def again(old: Harness, *, lost: bool) -> Harness:
        await old.scheduler.stop()
        executor = ScriptedExecutor()
        executor.lost_on_reconcile = lost
        made.append(await make_harness(db_url, clock, executor, store=store))
        return made[-1]

    again.first = first  # type: ignore[attr-defined]
    yield again
    for h in made:
        await h.scheduler.stop()
    await store.close()


async def _mint(h: Harness, task_id: str) -> tuple[str, str]:
    launch = h.executor.latest(task_id)
    async with h.store.begin() as conn:
        token = await tokens.mint_token(conn, launch.ti_id, launch.try_number)
    return launch.ti_id, token


async def test_a_never_started_try_with_no_retries_runs_after_a_restart(crash):
    h = await crash.first()
    await h.register(spec("once", task("a")))  # retries=0, Airflow's default
    run_id = await h.trigger("once")
    ti_id, token = await _mint(h, "a")  # its agent has its token, and never authenticated

    h2 = await crash(h, lost=True)
    assert h2.executor.reconciled == []  # nothing for the executor to have lost
    assert [(s.task_id, s.try_number) for s in h2.executor.started] == [("a", 1)]
    async with h2.store.begin() as conn:
        # the old token is revoked: a late agent is refused before it runs anything
        assert await tokens.check_token(conn, ti_id, token) is None
        assert not await tokens.record_start(conn, ti_id, token, 1, pid=4242, hostname="h")
    await h2.finish("a")
    assert await h2.states("once", run_id) == {"a": "success"}
    assert (await h2.ti("once", run_id, "a")).try_number == 1


async def test_an_agent_that_authenticated_is_adopted_with_its_pid(crash):
    h = await crash.first()
    await h.register(spec("started", task("a", retries=2)))
    run_id = await h.trigger("started")
    ti_id, token = await _mint(h, "a")
    async with h.store.begin() as conn:  # Authenticate committed; "running" never applied
        assert await tokens.record_start(conn, ti_id, token, 1, pid=4242, hostname="box",
                                         now=LATER)

    h2 = await crash(h, lost=False)
    assert [(r.task_id, r.try_number, r.pid) for r in h2.executor.reconciled] == [
        ("a", 1, 4242)]
    assert h2.executor.started == []  # not launched a second time
    ti = await h2.ti("started", run_id, "a")
    assert (ti.state, ti.try_number, ti.pid, ti.hostname) == ("running", 1, 4242, "box")


async def test_a_started_try_whose_agent_vanished_follows_the_retry_rules(crash):
    h = await crash.first()
    await h.register(spec("vanished", task("a", retries=1, retry_delay=10.0)))
    run_id = await h.trigger("vanished")
    ti_id, token = await _mint(h, "a")
    async with h.store.begin() as conn:
        await tokens.record_start(conn, ti_id, token, 1, pid=4242, hostname="box", now=LATER)

    h2 = await crash(h, lost=True)
    assert await h2.states("vanished", run_id) == {"a": "up_for_retry"}
    await h2.advance(10)
    assert [(s.task_id, s.try_number) for s in h2.executor.started] == [("a", 2)]


async def test_a_report_recorded_before_the_crash_is_applied_not_lost(crash):
    h = await crash.first()
    await h.register(spec("acked", task("a"), task("b", "a")))
    run_id = await h.trigger("acked")
    ti_id, token = await _mint(h, "a")
    async with h.store.begin() as conn:  # answered "recorded"; the scheduler never saw it
        await tokens.record_start(conn, ti_id, token, 1, pid=4242, hostname="box", now=LATER)
        await tokens.record_report(conn, ti_id, token, 1,
                                   {"state": "success", "error": None, "info": {}}, now=LATER)

    h2 = await crash(h, lost=True)  # the agent has exited meanwhile
    assert h2.executor.reconciled == []
    assert await h2.states("acked", run_id) == {"a": "success", "b": "queued"}
    assert (await h2.ti("acked", run_id, "a")).try_number == 1
    async with h2.store.begin() as conn:  # a retried report is answered with the first
        again = await tokens.record_report(conn, ti_id, token, 1,
                                           {"state": "failed", "error": "x", "info": {}})
    assert again == {"state": "success", "error": None, "info": {}}
