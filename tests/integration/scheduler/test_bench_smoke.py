"""The SCHED bench workload runs (its figures are measurements, never asserted)."""

from __future__ import annotations

from bench.scheduler_latency import percentile, scheduler_latency
from bench.workloads import WORKLOADS


def test_sched_workload_runs_and_reports_its_figures():
    assert "SCHED" in WORKLOADS
    figures = scheduler_latency(1, chain=5, postgres=False)
    assert [(f.workload, f.metric) for f in figures] == [
        ("SCHED sqlite", "done → next start, median"),
        ("SCHED sqlite", "done → next start, p99"),
        ("W6 sqlite", "trigger → first task (1,000 tasks)"),
    ]
    assert all(f.runs == 1 and f.median > 0 for f in figures)


def test_percentile_is_nearest_rank():
    samples = list(range(1, 101))
    assert (percentile(samples, 50), percentile(samples, 99), percentile(samples, 100)) == (
        50, 99, 100)
    assert percentile([7.0], 99) == 7.0
