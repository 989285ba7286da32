"""The benchmark runner keeps working (its figures are measurements, never asserted)."""

from __future__ import annotations

import json

from bench.__main__ import main


def test_w6_runs_and_reports_median_min_max_and_cores(capsys):
    assert main(["W6", "--runs", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["machine"]["cores"] >= 1
    (figure,) = report["figures"]
    assert figure["workload"] == "W6 bigdag" and figure["runs"] == 3
    assert figure["minimum"] <= figure["median"] <= figure["maximum"]


def test_runner_refuses_fewer_than_three_runs(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["W6", "--runs", "2"])
    assert "at least 3" in capsys.readouterr().err
