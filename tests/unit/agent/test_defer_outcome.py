"""What the agent sends in ReportState for a rescheduled sensor and a deferred task."""

from __future__ import annotations

import json

from leoflow.agent.outcome import Outcome


def test_rescheduled_sensor_reports_its_next_poke_date() -> None:
    outcome = Outcome.rescheduled(1_900_000_000.5)
    request = outcome.to_request()
    assert (request.state, request.reschedule_date) == ("up_for_reschedule", 1_900_000_000.5)
    assert request.trigger_json == "" and request.next_method == ""
    assert outcome.summary() == "up_for_reschedule (next poke at 2030-03-17T17:46:40+00:00)"


def test_deferred_task_reports_trigger_resume_method_kwargs_and_timeout() -> None:
    trigger = {"kind": "file", "kwargs": {"filepath": "/in/*.csv", "recursive": False,
                                          "poke_interval": 5.0}}
    outcome = Outcome.deferred(trigger, "execute_complete", {"job": 7}, 120.0)
    request = outcome.to_request()
    assert request.state == "deferred"
    assert json.loads(request.trigger_json) == trigger
    assert request.next_method == "execute_complete"
    assert json.loads(request.next_kwargs_json) == {"job": 7}
    assert request.defer_timeout == 120.0
    assert "deferred to a file trigger" in outcome.summary()
    assert "resumes in execute_complete" in outcome.summary()


def test_a_deferral_without_timeout_sends_zero_and_empty_kwargs_as_an_object() -> None:
    request = Outcome.deferred({"kind": "time", "kwargs": {"moment": "2030-01-01T00:00:00+00:00"}},
                               "__replay__", {}, None).to_request()
    assert request.defer_timeout == 0.0
    assert request.next_kwargs_json == "{}"


def test_other_outcomes_send_no_deferral_fields() -> None:
    request = Outcome.failed("ValueError", "bad").to_request()
    assert (request.trigger_json, request.next_method, request.next_kwargs_json,
            request.reschedule_date, request.defer_timeout) == ("", "", "", 0.0, 0.0)
