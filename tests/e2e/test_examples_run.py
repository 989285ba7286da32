"""Every example runs through the real path, and its results are what its dag.py promises.

Real path: the DAG's own uv environment, the compiler, a control plane on a fresh SQLite
file, the event-driven scheduler, the subprocess executor, ``leoflow-agent`` over gRPC and
the user process. Assertions read the store (states, tries), XCom (return values) and the
log files (what tasks printed).
"""

from __future__ import annotations

import json
import math
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.harness import EXAMPLES, Projects, RunResult, open_plane, run_project

pytestmark = pytest.mark.slow

# Each has a test below; a new example must be added here and get its own test.
COVERED = {"airflow_style", "bash_pipeline", "csv_report", "dynamic_mapping",
           "fan_out_aggregate", "hello", "kfold_cv", "ml_hparam_search", "montecarlo_pi",
           "retries", "sensors", "short_circuit", "taskflow_etl", "trigger_rules",
           "xcom_typed"}


async def run_example(projects: Projects, sqlite_url: str, name: str, **kwargs) -> RunResult:
    return await run_project(projects, sqlite_url, EXAMPLES / name, **kwargs)


def all_succeeded(result: RunResult) -> None:
    assert result.state == "success", result.states()
    failed = {n: t.error for n, t in result.tasks.items() if t.state != "success"}
    assert not failed


async def test_hello(projects: Projects, sqlite_url: str) -> None:
    result = await run_example(projects, sqlite_url, "hello")
    all_succeeded(result)
    assert result.xcom == {"make_greeting": "Hello, Leoflow!", "shout": "HELLO, LEOFLOW!"}
    assert result.lines("shout", streams=("stdout",)) == ["HELLO, LEOFLOW!"]
    # the agent says what it ran and how it ended, in the same log
    agent_lines = result.lines("shout", streams=("agent",))
    assert any("success" in line for line in agent_lines), agent_lines
    assert {t.try_number for t in result.tasks.values()} == {1}


async def test_bash_pipeline_templates_ds_and_xcom_pull(projects: Projects,
                                                        sqlite_url: str) -> None:
    when = datetime(2026, 3, 14, 6, 30, tzinfo=UTC)
    result = await run_example(projects, sqlite_url, "bash_pipeline", logical_date=when)
    all_succeeded(result)
    assert result.xcom == {
        "announce": "processing partition 2026-03-14",
        "count_lines": "42",
        "report": "2026-03-14: counted 42 lines",
    }
    assert result.lines("announce", streams=("stdout",)) == ["processing partition 2026-03-14"]
    assert result.lines("report", streams=("stdout",)) == ["2026-03-14: counted 42 lines"]


async def test_bash_pipeline_without_logical_date_uses_the_run_date(projects: Projects,
                                                                    sqlite_url: str) -> None:
    result = await run_example(projects, sqlite_url, "bash_pipeline")
    all_succeeded(result)
    ds = result.run.run_after.astimezone(UTC).strftime("%Y-%m-%d")
    assert result.xcom["report"] == f"{ds}: counted 42 lines"


async def test_csv_report_uses_its_own_pinned_dependency(projects: Projects,
                                                         sqlite_url: str) -> None:
    result = await run_example(projects, sqlite_url, "csv_report")
    all_succeeded(result)
    prepared = await projects.prepare(EXAMPLES / "csv_report")
    site = list(prepared.environment.path.glob("lib/python*/site-packages"))
    assert any((s / "tabulate").exists() or list(s.glob("tabulate*")) for s in site)
    assert result.xcom["export_csv"].splitlines()[0] == "product,units,unit_price"
    # tabulate 0.9.0's "github" format, sorted by revenue
    table = [
        "| product   |   units |   unit_price |   revenue |",
        "|-----------|---------|--------------|-----------|",
        "| backpack  |      35 |        24    |     840   |",
        "| pen       |     640 |         0.8  |     512   |",
        "| stapler   |      58 |         7.25 |     420.5 |",
        "| notebook  |     120 |         2.5  |     300   |",
    ]
    assert result.xcom["render_table"] == "\n".join(table)
    saved = result.xcom["save_report"]
    assert saved["lines"] == 6
    report = Path(saved["path"])
    try:
        assert report.read_text("utf-8") == "# Weekly sales\n\n" + "\n".join(table) + "\n"
    finally:
        shutil.rmtree(report.parent, ignore_errors=True)
    assert result.lines("save_report", streams=("stdout",)) == table


async def test_dynamic_mapping_cross_product_order(projects: Projects, sqlite_url: str) -> None:
    result = await run_example(projects, sqlite_url, "dynamic_mapping")
    all_succeeded(result)
    # image varies slowest, as declared: image=[cat, dog] x width=[64, 128, 256]
    assert [result.xcom[f"thumbnail[{i}]"] for i in range(6)] == [
        "cat_64w.png", "cat_128w.png", "cat_256w.png",
        "dog_64w.png", "dog_128w.png", "dog_256w.png"]
    assert [result.xcom[f"load_table[{i}]"] for i in range(3)] == [120, 45, 12]
    assert [result.xcom[f"check_disk[{i}]"] for i in range(2)] == ["/data: ok", "/logs: ok"]
    assert result.xcom["summary"] == {"thumbnails": 6, "rows_loaded": 177}
    assert result.lines("load_table[1]", streams=("stdout",)) == [
        "loading 45 rows into customers"]


async def test_fan_out_aggregate(projects: Projects, sqlite_url: str) -> None:
    result = await run_example(projects, sqlite_url, "fan_out_aggregate")
    all_succeeded(result)
    assert result.tasks["start"].state == "success"  # EmptyOperator: no agent, no log

    def values(region: str) -> list[int]:
        seed = sum(ord(c) for c in region)
        return [(seed * (i + 1)) % 97 for i in range(10)]

    totals = {r: sum(values(r)) for r in ("emea", "americas", "apac")}
    for region, total in totals.items():
        assert result.xcom[f"{region}.fetch"] == values(region)
        assert result.xcom[f"{region}.summarize"] == {"region": region, "count": 10,
                                                      "total": total}
    assert result.xcom["aggregate"] == {"by_region": totals,
                                        "grand_total": sum(totals.values())}
    assert result.lines("aggregate", streams=("stdout",)) == [
        f"grand total {sum(totals.values())} from 3 regions"]


async def test_kfold_cv_average(projects: Projects, sqlite_url: str) -> None:
    result = await run_example(projects, sqlite_url, "kfold_cv")
    all_succeeded(result)
    scores = [result.xcom[f"fold_{k}"] for k in range(5)]
    assert all(isinstance(s, float) and 0 < s < 0.2 for s in scores), scores
    mean = sum(scores) / 5
    assert result.xcom["average"] == {"mean_mse": round(mean, 6),
                                      "spread": round(max(scores) - min(scores), 6)}
    # noise sigma 0.2: the held-out MSE is about 0.04
    assert 0.02 < result.xcom["average"]["mean_mse"] < 0.08
    # the fan-in list arrives in declaration order (fold_0 ... fold_4)
    assert result.lines("average", streams=("stdout",)) == [
        f"fold scores: {scores}; mean MSE {mean:.4f}"]


async def test_ml_hparam_search_best_rate_and_fan_in_order(projects: Projects,
                                                           sqlite_url: str) -> None:
    result = await run_example(projects, sqlite_url, "ml_hparam_search")
    all_succeeded(result)
    rates = [0.01, 0.03, 0.1, 0.3, 1.2]
    trials = ["trial", "trial__1", "trial__2", "trial__3", "trial__4"]
    assert [result.xcom[t]["learning_rate"] for t in trials] == rates
    best = result.xcom["select_best"]
    assert best["learning_rate"] == 0.3
    assert best == min((result.xcom[t] for t in trials), key=lambda r: r["val_mse"])
    printed = result.lines("select_best", streams=("stdout",))
    assert printed[:5] == [f"lr={result.xcom[t]['learning_rate']:<6} "
                           f"val_mse={result.xcom[t]['val_mse']}" for t in trials]
    assert printed[5:] == ["best learning rate: 0.3"]


async def test_montecarlo_pi_with_conf(projects: Projects, sqlite_url: str) -> None:
    result = await run_example(projects, sqlite_url, "montecarlo_pi", conf={"workers": 4})
    all_succeeded(result)
    assert result.xcom["plan_seeds"] == [0, 1, 2, 3]
    counts = [result.xcom[f"count_inside[{i}]"] for i in range(4)]
    assert "count_inside[4]" not in result.tasks
    for seed, count in enumerate(counts):  # seeded: the same numbers as here
        rng = random.Random(seed)
        inside = sum(1 for _ in range(50_000) if rng.random() ** 2 + rng.random() ** 2 <= 1.0)
        assert count == {"inside": inside, "samples": 50_000}
    estimate = result.xcom["estimate_pi"]
    assert estimate == 4 * sum(c["inside"] for c in counts) / 200_000
    assert abs(estimate - math.pi) < 0.02
    assert result.lines("estimate_pi", streams=("stdout",)) == [
        f"4 workers, 200000 samples: pi ~ {estimate:.5f}"]


async def test_retries_try_numbers_and_one_log_per_try(projects: Projects,
                                                       sqlite_url: str) -> None:
    result = await run_example(projects, sqlite_url, "retries")
    all_succeeded(result)
    unreliable = result.tasks["unreliable_call"]
    assert unreliable.try_number == 3
    assert [(n, s) for n, s, _ in unreliable.tries] == [
        (1, "up_for_retry"), (2, "up_for_retry"), (3, "success")]
    assert "ConnectionError: simulated transient error on try 1" in unreliable.tries[0][2]
    assert result.xcom["unreliable_call"] == "succeeded on try 3"
    assert sorted(result.logs["unreliable_call"]) == [1, 2, 3]
    for n in (1, 2):
        assert any(f"simulated transient error on try {n}" in line
                   for line in result.lines("unreliable_call", n, streams=("stderr",)))
    shell = result.tasks["flaky_shell"]
    assert shell.try_number == 2
    assert [s for _, s, _ in shell.tries] == ["up_for_retry", "success"]
    assert result.lines("flaky_shell", 1, streams=("stdout",)) == [
        "try 1: failing on purpose"]
    assert result.lines("flaky_shell", 2, streams=("stdout",)) == ["try 2: ok"]
    assert result.xcom["flaky_shell"] == "try 2: ok"
    assert result.xcom["report"] == "succeeded on try 3"
    assert result.lines("report", streams=("stdout",)) == ["succeeded on try 3"]


async def test_short_circuit_runs_and_skips(projects: Projects, sqlite_url: str,
                                            e2e_home: Path) -> None:
    prepared = await projects.prepare(EXAMPLES / "short_circuit")
    async with open_plane(e2e_home, sqlite_url) as harness:
        dag_id = await harness.register(prepared)
        some = await harness.trigger(dag_id, {"new_files": 2})
        none = await harness.trigger(dag_id, {"new_files": 0})
        await harness.wait(some)
        await harness.wait(none)
        proceed, skip = await harness.result(some), await harness.result(none)
    all_succeeded(proceed)
    assert proceed.xcom == {"list_new_files": ["batch_000.csv", "batch_001.csv"],
                            "anything_to_do": True, "process": 2,
                            "notify": "processed 2 file(s)"}
    assert proceed.lines("anything_to_do", streams=("stdout",)) == ["2 new file(s)"]
    assert skip.state == "success"
    assert skip.states() == {"list_new_files": "success", "anything_to_do": "success",
                             "process": "skipped", "notify": "skipped"}
    assert skip.xcom == {"list_new_files": [], "anything_to_do": False}
    assert "process" not in skip.logs and "notify" not in skip.logs


async def test_taskflow_etl(projects: Projects, sqlite_url: str) -> None:
    result = await run_example(projects, sqlite_url, "taskflow_etl")
    all_succeeded(result)
    orders = result.xcom["extract"]
    assert len(orders) == 50
    valid = result.xcom["transform.drop_invalid"]
    assert valid == [o for o in orders if o["amount"] >= 0] and len(valid) < 50
    totals = result.xcom["transform.total_by_region"]
    assert set(totals) == {"north", "south", "east", "west"}
    assert abs(sum(totals.values()) - sum(o["amount"] for o in valid)) < 0.05
    path = Path(result.xcom["load"])
    try:
        assert json.loads(path.read_text("utf-8")) == totals
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    assert result.lines("load", streams=("stdout",)) == [f"wrote 4 regions to {path}"]


async def test_trigger_rules_both_branches(projects: Projects, sqlite_url: str,
                                           e2e_home: Path) -> None:
    prepared = await projects.prepare(EXAMPLES / "trigger_rules")
    async with open_plane(e2e_home, sqlite_url) as harness:
        dag_id = await harness.register(prepared)
        incremental = await harness.trigger(dag_id)
        full = await harness.trigger(dag_id, {"mode": "full"})
        await harness.wait(incremental)
        await harness.wait(full)
        results = [await harness.result(incremental), await harness.result(full)]
    for result, chosen, other, value in ((results[0], "incremental_refresh", "full_refresh", 25),
                                         (results[1], "full_refresh", "incremental_refresh",
                                          1000)):
        # the failure is handled, so the run succeeds
        assert result.state == "success"
        assert result.states() == {
            "call_flaky_api": "failed", "read_local_cache": "success",
            "alert_on_failure": "success", "cleanup": "success",
            "choose_refresh": "success", chosen: "success", other: "skipped",
            "publish": "success"}
        error = result.tasks["call_flaky_api"].error
        assert "RuntimeError: simulated outage: the upstream API answered 503" in error
        assert any("RuntimeError" in line
                   for line in result.lines("call_flaky_api", streams=("stderr",)))
        assert result.xcom["choose_refresh"] == chosen
        assert result.xcom[chosen] == value and other not in result.xcom
        assert result.xcom["alert_on_failure"] == "alert sent"
        assert result.xcom["cleanup"] == "temporary resources released"
        assert result.xcom["publish"] == "published"
        assert result.lines("alert_on_failure", streams=("stdout",)) == [
            "ALERT: a source failed, see its log"]


async def test_xcom_typed_values(projects: Projects, sqlite_url: str) -> None:
    result = await run_example(projects, sqlite_url, "xcom_typed")
    all_succeeded(result)
    values = [3.5, 1.25, 4.0, 1.0, 5.5, 9.0, 2.75, 6.0]
    assert result.xcom["measurements"] == values
    assert result.xcom["split"] == {"small": [3.5, 1.25, 1.0, 2.75],
                                    "large": [4.0, 5.5, 9.0, 6.0], "threshold": 4.0}
    assert result.xcom["stats"] == {"count": 8, "total": 33.0, "mean": 4.125}
    report = result.xcom["describe"]
    assert report["largest"] == 9.0 and type(report["largest"]) is float
    assert report["any_large"] is True
    assert report["source"] == {"sensor": "demo-7", "units": "ms", "raw": values}
    assert report["summary"].startswith("8 values, mean 4.125; 4 are >= 4")
    assert result.xcom["show"] == report["summary"]
    # multiple_outputs: each key is an XCom of its own too
    assert result.keys[("split", "large")] == [4.0, 5.5, 9.0, 6.0]
    assert result.keys[("split", "small")] == [3.5, 1.25, 1.0, 2.75]
    assert result.keys[("stats", "count")] == 8 and result.keys[("stats", "mean")] == 4.125
    printed = result.lines("show", streams=("stdout",))
    assert printed == [f"summary: {report['summary']!r} (str)", "largest: 9.0 (float)",
                       "any_large: True (bool)", f"source: {report['source']!r} (dict)"]


async def test_xcom_typed_keeps_a_float_key_a_float(projects: Projects,
                                                    sqlite_url: str) -> None:
    result = await run_example(projects, sqlite_url, "xcom_typed")
    assert result.xcom["describe"]["summary"] == "8 values, mean 4.125; 4 are >= 4.0"


async def test_airflow_style(projects: Projects, sqlite_url: str) -> None:
    when = datetime(2026, 5, 1, tzinfo=UTC)
    result = await run_example(projects, sqlite_url, "airflow_style", logical_date=when)
    all_succeeded(result)
    assert result.xcom == {"print_date": "run date 2026-05-01", "compute_total": 29,
                           "validate_total": 29, "report": "total=29", "double": 58}
    assert result.states()["end"] == "success" and result.states()["start"] == "success"


def test_every_example_has_a_test_here() -> None:
    present = {p.name for p in EXAMPLES.iterdir() if (p / "dag.py").is_file()}
    assert present == COVERED, f"examples without an end-to-end test: {present - COVERED}"


async def test_sensors_wait_without_a_slot_and_resume(projects: Projects, sqlite_url: str,
                                                      tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    result = await run_example(projects, sqlite_url, "sensors", conf={"inbox": str(inbox)})
    all_succeeded(result)
    assert result.xcom["rows_ready"] == 2
    assert result.xcom["total"] == {"rows": 2, "resumed_after": True}
    assert len(list(inbox.glob("orders-*.csv"))) == 1
    deferred = {e[2]["task_id"] for e in result.events if e[1] == "ti.deferred"}
    assert deferred == {"wait_for_file", "settle", "total"}
    assert all(t.try_number == 1 for t in result.tasks.values())
