"""The real-path bench workloads run (their figures are measurements, never asserted)."""

from __future__ import annotations

import pytest

from bench.realpath import phases, w1_chain, w2_fanout, w8_xcom
from bench.workloads import WORKLOADS

pytestmark = pytest.mark.slow


def test_the_workloads_are_registered() -> None:
    assert {"W1", "W2", "W8", "PHASES"} <= set(WORKLOADS)


def test_w1_w2_w8_run_small() -> None:
    figures = w1_chain(1, length=3) + w2_fanout(1, width=4) + w8_xcom(1, kb=8, readers=2)
    assert [(f.workload, f.unit) for f in figures] == [
        ("W1 chain3", "s"), ("W1 chain3", "ms"), ("W2 fanout4", "s"),
        ("W8 xcom8k", "s"), ("W8 xcom8k", "KB")]
    assert all(f.runs == 1 and f.median > 0 for f in figures)
    stored = figures[-1].median
    assert 7 <= stored < 9  # about 8 KB, once (a list: not also pushed key by key)


def test_phases_split_every_task_after_the_first() -> None:
    figures = phases(1, length=3)
    split = [f for f in figures if f.workload == "PHASES" and ":" in f.metric
             and not f.metric.startswith("of which")]
    assert len(split) == 7  # six phases and their sum
    assert all(f.runs == 2 for f in split)  # tasks 2 and 3 of the chain
