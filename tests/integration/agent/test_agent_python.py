"""The agent runs Python tasks against a real gRPC server (the scripted control plane)."""

from __future__ import annotations

import json

from tests.integration.agent.control_plane import ScriptedControlPlane, fetch, run_agent_process

DAG = """
import os
from leoflow import DAG, task, PythonOperator, AirflowFailException, AirflowSkipException
with DAG("demo") as dag:
    @task(multiple_outputs=True)
    def hello(n, ti=None):
        import sys
        print("hello from the task")
        print("a warning", file=sys.stderr)
        upstream = ti.xcom_pull(task_ids="up")
        ti.xcom_push(key="side", value="pushed-by-user")
        return {"n": n, "upstream": upstream,
                "secret": os.environ.get("LEOFLOW_DATABASE_URL"),
                "token": os.environ.get("LEOFLOW_TOKEN"),
                "ctx": os.environ.get("AIRFLOW_CTX_DAG_ID"),
                "custom": os.environ.get("MY_SETTING")}
    @task
    def broken():
        def inner():
            raise ValueError("bad row 7")
        inner()
    @task
    def fatal():
        raise AirflowFailException("no point retrying")
    @task
    def skipper():
        raise AirflowSkipException("nothing new")
    @task.branch
    def pick():
        return "left"
    @task.short_circuit
    def gate():
        return 0
    @task
    def crash():
        os._exit(7)
    @task
    def big():
        return "x" * 300_000
    PythonOperator(task_id="classic", python_callable=lambda day, n: f"{day}/{n}",
                   op_kwargs={"day": "{{ ds_nodash }}", "n": 1})
    hello(1); broken(); fatal(); skipper(); pick(); gate(); crash(); big()
"""


async def test_success_streams_logs_pushes_xcom_and_reports(project, serve):
    folder = project(DAG)
    servicer = ScriptedControlPlane(
        fetch(str(folder), "hello", args=[5], env={"MY_SETTING": "on"},
              spec={"multiple_outputs": True}),
        xcoms={("up", "return_value"): {"rows": 3}})
    address = await serve(servicer)
    run = await run_agent_process(address)
    assert run.returncode == 0, run.stderr
    report = servicer.recorded.report
    assert report.state == "success"
    value = {"n": 5, "upstream": {"rows": 3}, "secret": None, "token": None, "ctx": "demo",
             "custom": "on"}
    assert servicer.recorded.pushed == {"side": "pushed-by-user", **value,
                                        "return_value": value}
    # each key of a multiple_outputs result first, return_value last
    assert servicer.recorded.push_order[-1] == "return_value"
    assert "hello from the task" in servicer.recorded.text("stdout")
    assert "a warning" in servicer.recorded.text("stderr")
    assert any("running demo.hello" in line for line in servicer.recorded.text("agent"))
    assert servicer.recorded.stream_calls == 1
    assert list(servicer.recorded.pulls[0].task_ids) == ["up"]


async def test_the_task_comes_with_authenticate_or_from_fetchtask(project, serve):
    """The agent asks for its task in Authenticate; a control plane that predates that
    answers without it, and the agent then calls FetchTask: the try runs either way."""
    folder = project(DAG)
    for answers_fetch, fetch_calls in ((True, 0), (False, 1)):
        servicer = ScriptedControlPlane(fetch(str(folder), "pick"), answers_fetch=answers_fetch)
        run = await run_agent_process(await serve(servicer))
        assert run.returncode == 0, run.stderr
        assert servicer.recorded.report.state == "success"
        assert (servicer.recorded.authenticated, servicer.recorded.fetch_calls) == (
            1, fetch_calls)


async def test_failure_reports_the_users_traceback(project, serve):
    folder = project(DAG)
    servicer = ScriptedControlPlane(fetch(str(folder), "broken"))
    run = await run_agent_process(await serve(servicer))
    assert run.returncode == 0, run.stderr
    report = servicer.recorded.report
    assert (report.state, report.exit_code, report.error_type, report.error_message) == (
        "failed", 1, "ValueError", "bad row 7")
    assert "in inner" in report.traceback and "in broken" in report.traceback
    assert not report.no_retry
    assert "ValueError: bad row 7" in servicer.recorded.text("stderr")
    assert servicer.recorded.pushed == {}


async def test_fail_skip_branch_and_short_circuit(project, serve):
    folder = project(DAG)
    outcomes = {}
    for task_id, operator in [("fatal", "python"), ("skipper", "python"),
                              ("pick", "branch"), ("gate", "short_circuit")]:
        servicer = ScriptedControlPlane(fetch(str(folder), task_id, operator=operator))
        run = await run_agent_process(await serve(servicer))
        assert run.returncode == 0, run.stderr
        outcomes[task_id] = (servicer.recorded.report, servicer.recorded.pushed)
    fatal, _ = outcomes["fatal"]
    assert (fatal.state, fatal.error_type, fatal.no_retry) == (
        "failed", "AirflowFailException", True)
    skipped, _ = outcomes["skipper"]
    assert (skipped.state, skipped.error_message) == ("skipped", "nothing new")
    branch, pushed = outcomes["pick"]
    assert branch.state == "success"
    assert json.loads(branch.follow_task_ids_json) == ["left"]
    assert pushed == {"return_value": "left"}
    gate, pushed = outcomes["gate"]
    assert (gate.state, gate.short_circuit_continue) == ("success", False)
    assert pushed == {"return_value": 0}


async def test_a_process_that_dies_without_reporting(project, serve):
    folder = project(DAG)
    servicer = ScriptedControlPlane(fetch(str(folder), "crash"))
    run = await run_agent_process(await serve(servicer))
    assert run.returncode == 0, run.stderr
    report = servicer.recorded.report
    assert (report.state, report.exit_code, report.error_type) == (
        "failed", 7, "TaskProcessExited")


async def test_an_xcom_the_control_plane_refuses_fails_the_try(project, serve):
    folder = project(DAG)
    for takes_xcoms in (True, False):  # in the report, or pushed before it (older planes)
        servicer = ScriptedControlPlane(fetch(str(folder), "big"), takes_xcoms=takes_xcoms)
        run = await run_agent_process(await serve(servicer))
        assert run.returncode == 0, run.stderr
        report = servicer.recorded.report
        assert (report.state, report.error_type) == ("failed", "XComPushError")
        assert "the limit is 262144" in report.error_message
        assert servicer.recorded.pushed == {}


async def test_the_xcoms_travel_in_the_report_or_before_it(project, serve):
    """A control plane that takes the outcome's XComs in the report gets no PushXCom for
    them (user code's xcom_push during the try still uses it); an older one gets them
    pushed before the report, in the same order."""
    folder = project(DAG)
    for takes_xcoms in (True, False):
        servicer = ScriptedControlPlane(
            fetch(str(folder), "hello", args=[5], spec={"multiple_outputs": True}),
            xcoms={("up", "return_value"): 1}, takes_xcoms=takes_xcoms)
        run = await run_agent_process(await serve(servicer))
        assert run.returncode == 0, run.stderr
        report = servicer.recorded.report
        assert report.state == "success"
        in_report = [x.key for x in report.xcoms]
        assert servicer.recorded.push_order[-1] == "return_value"
        if takes_xcoms:
            assert in_report[-1] == "return_value" and "n" in in_report
            assert servicer.recorded.push_order == ["side", *in_report]
        else:
            assert in_report == [] and servicer.recorded.push_order[0] == "side"
        assert servicer.recorded.pushed["return_value"]["n"] == 5


async def test_templated_op_kwargs_are_rendered_like_airflow(project, serve):
    folder = project(DAG)
    spec = {"operator_class": "PythonOperator",
            "inputs": {"args": [], "kwargs": {"day": {"literal": "{{ ds_nodash }}"},
                                              "n": {"literal": 1}}}}
    servicer = ScriptedControlPlane(fetch(str(folder), "classic", spec=spec,
                                          kwargs={"day": "{{ ds_nodash }}", "n": 1}))
    run = await run_agent_process(await serve(servicer))
    assert run.returncode == 0, run.stderr
    assert servicer.recorded.pushed == {"return_value": "20240305/1"}
