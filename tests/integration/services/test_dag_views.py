"""The IDE's read services: a page costs a fixed number of queries whatever the number of
DAGs or runs on it, specs are parsed once per version, and every read is scoped to a
tenant (another tenant's DAG reads as absent)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from leoflow.engine.services import dag_views, run_views
from tests.integration.scheduler.conftest import spec, task


@contextmanager
def counted(store) -> Iterator[list[str]]:
    """The SQL statements the store runs inside the block."""
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT"):  # not BEGIN (SQLite's own)
            statements.append(" ".join(statement.split())[:200])

    engine = store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


async def test_the_dag_list_is_one_query_whatever_the_number_of_dags(harness):
    h = harness
    for n in range(6):
        await h.register(spec(f"d{n}", task("a"), description=f"DAG {n}", tags=["t"]))
    for _ in range(12):  # more runs than the list shows
        await h.ops.trigger_run("d0")
        h.clock.advance(1)
    await h.ops.trigger_run("d3")
    await h.settle()
    first = await dag_views.dag_summaries(h.store, tenant="default")
    with counted(h.store) as statements:
        again = await dag_views.dag_summaries(h.store, tenant="default")
    assert len(statements) == 1, statements
    assert again == first
    assert [s.dag_id for s in again] == [f"d{n}" for n in range(6)]
    d0 = again[0]
    assert len(d0.recent) == dag_views.RECENT_RUNS
    newest = (await h.runs("d0"))[-1]
    assert d0.recent[-1].run_id == newest.run_id  # newest last
    assert (d0.description, d0.tags, d0.schedule, d0.has_version) == ("DAG 0", ("t",),
                                                                        "None", True)
    assert [len(s.recent) for s in again] == [10, 0, 0, 1, 0, 0]
    assert await dag_views.dag_summaries(h.store, tenant="other") == []


async def test_the_grid_reads_its_runs_task_instances_at_once(harness):
    h = harness
    await h.register(spec("grid", task("a"), task("b", "a")))
    for _ in range(5):
        await h.ops.trigger_run("grid")
        h.clock.advance(1)
    await h.settle()
    with counted(h.store) as few:
        detail = await dag_views.dag_detail(h.store, "grid", tenant="default")
    assert detail is not None and len(detail.grid.runs) == 5
    assert detail.grid.task_ids == ("a", "b")
    assert {detail.grid.cells[(r.run_id, "b")] for r in detail.grid.runs} == {None}
    # the dag, its versions and runs (with their counts), the runs' task instances in one
    # query (their triggers in one more when some wait): the same for 5 runs as for 10
    assert len(few) == 6, "\n".join(s[:60] for s in few)
    for _ in range(5):
        await h.ops.trigger_run("grid")
        h.clock.advance(1)
    await h.settle()
    with counted(h.store) as more:
        detail = await dag_views.dag_detail(h.store, "grid", tenant="default")
    assert detail is not None and len(detail.grid.runs) == 10
    assert len(more) == len(few)
    assert await dag_views.dag_detail(h.store, "grid", tenant="other") is None
    assert await run_views.run_history(h.store, "grid", tenant="other") == []
    assert await run_views.latest_states(h.store, "grid", tenant="other") == (None, {})
