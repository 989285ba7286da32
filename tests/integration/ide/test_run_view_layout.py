"""The run views' pure parts: the grid's rows (topological order, groups that collapse,
mapped tasks), the grouped graph's Mermaid text, a run's tries as Gantt bars, and what a
try ran (the command its agent logged) beside the arguments as written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from leoflow.engine.logs.paths import LogKey
from leoflow.engine.logs.records import LogRecord
from leoflow.engine.logs.store import LogStore
from leoflow.engine.services.run_pages import (
    bars_of,
    rendered_try,
    templated_arguments,
)
from leoflow.engine.spec.model import DagSpec
from leoflow.ide.grid import group_state, rows, topological
from leoflow.ide.run_graph import grouped_mermaid


def spec(tasks: list[dict[str, Any]]) -> DagSpec:
    return DagSpec.from_json({"dag_id": "d", "tasks": tasks})


def task(task_id: str, *upstream: str, group: str | None = None, **extra: Any) -> dict:
    return {"task_id": task_id, "operator": "python", "upstream": list(upstream),
            "group_id": group, **extra}


ETL = spec([
    task("load", "t.total"),  # declared first, runs last
    task("extract"),
    task("t.clean", "extract", group="t"),
    task("t.inner.dedupe", "t.clean", group="t.inner"),
    task("t.total", "t.inner.dedupe", group="t"),
])


def test_rows_follow_the_dependencies_and_nest_groups() -> None:
    assert topological(ETL) == ["extract", "t.clean", "t.inner.dedupe", "t.total", "load"]
    got = [(r.key, r.label, r.depth, r.is_group) for r in rows(ETL)]
    assert got == [("extract", "extract", 0, False), ("t", "t", 0, True),
                   ("t.clean", "clean", 1, False), ("t.inner", "inner", 1, True),
                   ("t.inner.dedupe", "dedupe", 2, False), ("t.total", "total", 1, False),
                   ("load", "load", 0, False)]
    group = rows(ETL)[1]
    assert group.members == ("t.clean", "t.inner.dedupe", "t.total")


def test_a_collapsed_group_hides_its_members_and_shows_their_worst_state() -> None:
    keys = [r.key for r in rows(ETL, collapsed={"t"})]
    assert keys == ["extract", "t", "load"]
    assert [r.key for r in rows(ETL, collapsed={"t.inner"})] == [
        "extract", "t", "t.clean", "t.inner", "t.total", "load"]
    states = {"t.clean": "success", "t.inner.dedupe": "failed", "t.total": "upstream_failed"}
    assert group_state(("t.clean", "t.inner.dedupe", "t.total"), states) == "failed"
    assert group_state(("x",), states) is None
    # tasks of older runs that the current version lacks come last
    assert [r.key for r in rows(ETL, ["gone"])][-1] == "gone"


def test_mapped_tasks_are_marked_for_expansion() -> None:
    mapped = spec([task("plan"), task("load", "plan", expand={
        "mode": "kwargs", "values": {"x": {"literal": [1, 2]}}})])
    marked = {r.key: r.mapped for r in rows(mapped)}
    assert marked == {"plan": False, "load": True}


def test_the_graph_collapses_a_group_into_one_node_with_its_edges() -> None:
    text, nodes = grouped_mermaid(ETL, {"t.inner.dedupe": "failed", "extract": "success"})
    assert 'subgraph g0["t"]' in text and 'subgraph g1["inner"]' in text
    assert text.index('subgraph g1') > text.index('subgraph g0')  # nested
    assert nodes["t2"] == "t.clean"
    text, nodes = grouped_mermaid(ETL, {"t.inner.dedupe": "failed", "extract": "success"},
                                  collapsed={"t"})
    assert "subgraph" not in text
    assert 'g0[["t (3)"]]' in text
    assert "t1 --> g0" in text and "g0 --> t0" in text  # extract -> t -> load
    assert "class g0 st_failed" in text
    assert nodes["g0"] == "group:t"


def test_tries_become_bars_with_the_current_try_when_it_is_not_recorded() -> None:
    from leoflow.engine.store.rows import TaskInstanceHistoryRow, TaskInstanceRow

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    fields = {f: None for f in TaskInstanceRow.__dataclass_fields__}
    ti = TaskInstanceRow(**{**fields, "id": "a", "dag_run_id": 1, "dag_id": "d",
                            "run_id": "r", "task_id": "a", "map_index": -1, "state": "running",
                            "try_number": 2, "max_tries": 2, "pool": "default_pool",
                            "pool_slots": 1, "priority_weight": 1,
                            "start_date": t0 + timedelta(seconds=5),
                            "queued_at": t0 + timedelta(seconds=4)})
    hist_fields = {f: None for f in TaskInstanceHistoryRow.__dataclass_fields__}
    first = TaskInstanceHistoryRow(**{**hist_fields, "id": 1, "task_instance_id": "a",
                                      "dag_run_id": 1, "dag_id": "d", "run_id": "r",
                                      "task_id": "a", "map_index": -1, "try_number": 1,
                                      "max_tries": 2, "state": "failed", "pool": "default_pool",
                                      "start_date": t0, "end_date": t0 + timedelta(seconds=2)})
    bars = bars_of([ti], [first])
    assert [(b.try_number, b.state, b.end is None) for b in bars] == [
        (1, "failed", False), (2, "running", True)]
    assert bars_of([ti], [first, first.__class__(**{**first.__dict__, "try_number": 2})]
                   )[-1].state == "failed"  # recorded: the history's row wins


async def test_a_try_shows_the_command_its_agent_ran(tmp_path: Path) -> None:
    bash = spec([task("report", inputs={"args": [], "kwargs": {
        "bash_command": {"literal": "echo {{ ds }}"}, "n": {"literal": 3},
        "rows": {"xcom": {"task_id": "plan"}}}}, options={"env": {"A": "{{ ds }}"},
                                                          "output_encoding": "utf-8"})])
    assert templated_arguments(bash, "report") == (
        ("bash_command", "echo {{ ds }}"), ("n", "3"),
        ("rows", 'from upstream: {"xcom": {"task_id": "plan"}}'),
        ("env", '{\n  "A": "{{ ds }}"\n}'))
    logs = LogStore(tmp_path)
    key = LogKey("d", "r", "report", try_number=1)
    await logs.append(key, [LogRecord("starting", "agent"),
                            LogRecord("Running command: ['bash', '-c', 'echo 2026-01-01']",
                                      "agent"),
                            LogRecord("Running command: not a list", "stdout")])
    rendered = await rendered_try(logs, bash, "d", "r", "report", -1, 1)
    await logs.close()
    assert rendered.commands == ("echo 2026-01-01",)
    nothing = await rendered_try(logs, bash, "d", "r", "report", -1, 0)
    assert nothing.commands == ()
