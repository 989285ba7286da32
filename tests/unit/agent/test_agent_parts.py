"""The agent's pure parts: line splitting, templating, environments, config, outcomes."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from leoflow.agent.config import AgentConfig
from leoflow.agent.errors import AgentConfigError
from leoflow.agent.logs import TRUNCATED, LineSplitter
from leoflow.agent.outcome import Outcome
from leoflow.agent.process import airflow_context_env, base_environment, exit_code_of
from leoflow.agent.templating import (
    TemplateRenderError,
    make_environment,
    render,
    render_command,
    render_literal_inputs,
)
from leoflow.sdk.context_objects import TaskInstance, build_context

RAW_CONTEXT = {"ds": "2024-03-05", "ds_nodash": "20240305",
               "ts": "2024-03-05T00:00:00+00:00", "logical_date": "2024-03-05T00:00:00Z",
               "data_interval_start": "2024-03-05T00:00:00+00:00",
               "data_interval_end": "2024-03-06T00:00:00+00:00", "run_id": "r1",
               "params": {"x": 1}, "conf": {}}


class FakeTransport:
    def __init__(self, entries):
        self.entries = entries
        self.calls = []

    def pull(self, task_ids, key, map_indexes):
        self.calls.append((task_ids, key, map_indexes))
        return [self.entries.get(t) for t in task_ids]

    def push(self, key, value):
        self.calls.append(("push", key, value))


def context(entries=None, environ=None, raw=RAW_CONTEXT):
    ti = TaskInstance(dag_id="d", task_id="t", run_id="r1",
                      transport=FakeTransport(entries or {}))
    return build_context(raw, dag=SimpleNamespace(dag_id="d"),
                         task=SimpleNamespace(task_id="t"), ti=ti, environ=environ or {})


def test_line_splitter_handles_partial_lines_crlf_and_a_missing_last_newline():
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntw") == ["one"]
    assert splitter.feed(b"o\r\nthree\n\n") == ["two", "three", ""]
    assert splitter.feed(b"tail") == []
    assert splitter.finish() == ["tail"]
    assert splitter.finish() == []


def test_line_splitter_cuts_long_lines_across_chunks():
    splitter = LineSplitter(max_line=10)
    assert splitter.feed(b"abcdef") == []
    assert splitter.feed(b"ghijklmnop") == []
    assert splitter.feed(b"qrs\nok\n") == ["abcdefghij" + TRUNCATED, "ok"]
    assert splitter.feed("é".encode()[:1] + b"\n") == ["\ufffd"]


def test_templates_render_airflow_names_and_fail_on_unknown_ones():
    env = make_environment(None)
    ctx = context({"up": [1, 2]}, {"AIRFLOW_VAR_K": "v", "AIRFLOW_VAR_J": '{"a": {"b": 3}}',
                                   "AIRFLOW_CONN_DB": "mysql://u:p@h:3306/s"})
    text = ("{{ ds }}|{{ ds_nodash }}|{{ params.x }}|{{ macros.ds_add(ds, -5) }}|"
            "{{ var.value.k }}|{{ var.json.j.a.b }}|{{ conn.db.port }}|{{ dag.dag_id }}|"
            "{{ ti.xcom_pull(task_ids='up') }}|{{ logical_date | ds_nodash }}|"
            "{{ data_interval_end.day }}|{{ task_instance_key_str }}")
    assert render(text, ctx, env, "f") == (
        "2024-03-05|20240305|1|2024-02-29|v|3|3306|d|[1, 2]|20240305|6|d__t__20240305")
    with pytest.raises(TemplateRenderError, match="cannot render f: 'nope' is undefined"):
        render("{{ nope }}", ctx, env, "f")
    with pytest.raises(TemplateRenderError, match="Variable missing does not exist"):
        render("{{ var.value.missing }}", ctx, env, "f")
    assert render({"a": ["{{ ds }}", 1]}, ctx, env, "f") == {"a": ["2024-03-05", 1]}
    assert render("{{ ds }}\n", ctx, env, "f") == "2024-03-05\n"  # keeps the newline


def test_a_run_without_logical_date_has_no_date_names():
    raw = {k: v for k, v in RAW_CONTEXT.items()
           if k not in ("ds", "ds_nodash", "ts", "logical_date")}
    ctx = context(raw=raw)
    assert "ds" not in ctx and "logical_date" not in ctx
    with pytest.raises(TemplateRenderError, match="'ds' is undefined"):
        render("{{ ds }}", ctx, make_environment(None), "bash_command")


def test_script_commands_and_literal_inputs(tmp_path):
    (tmp_path / "job.sh").write_text("echo {{ ds }}\n")
    env = make_environment(tmp_path)
    ctx = context()
    assert render_command("job.sh", ctx, env, str(tmp_path)) == "echo 2024-03-05\n"
    assert render_command("echo job.sh", ctx, env, str(tmp_path)) == "echo job.sh"
    encoded = {"list": [{"literal": "{{ ds }}"}, {"xcom": {"task_id": "u"}}]}
    value = ["{{ ds }}", "{{ from upstream }}"]
    assert render_literal_inputs(value, encoded, ctx, env, "a") == [
        "2024-03-05", "{{ from upstream }}"]


def test_xcom_pull_follows_airflow_3_shapes():
    transport = FakeTransport({"a": 1, "m": [10, 20, 30], "t": "self"})
    ti = TaskInstance(dag_id="d", task_id="t", run_id="r", transport=transport)
    assert ti.xcom_pull() == "self"
    assert ti.xcom_pull(task_ids="a") == 1
    assert ti.xcom_pull(task_ids=["a", "m"]) == [1, [10, 20, 30]]
    assert ti.xcom_pull(task_ids="none", default=5) == 5
    assert transport.calls[-1] == (["none"], "return_value", None)
    ti.xcom_pull(task_ids="m", map_indexes=[0, 2], key="k")
    assert transport.calls[-1] == (["m"], "k", [0, 2])
    with pytest.raises(TypeError, match="not JSON-serializable"):
        ti.xcom_push("k", object())
    with pytest.raises(ValueError, match="same DAG run"):
        ti.xcom_pull(task_ids="a", dag_id="other")


def test_connections_round_trip_through_uris():
    from leoflow.sdk.secrets_env import Connection, get_connection

    conn = get_connection("x", {"AIRFLOW_CONN_X": "google-cloud-platform://?project=p&n=1"})
    assert (conn.conn_type, conn.host, conn.extra_dejson) == (
        "google_cloud_platform", None, {"project": "p", "n": "1"})
    nested = Connection(conn_id="n", conn_type="http", host="h", extra={"a": {"b": 1}})
    again = Connection.from_uri("n", nested.get_uri())
    assert (again.conn_type, again.host, again.extra_dejson) == ("http", "h", {"a": {"b": 1}})
    assert Connection(uri="postgresql://h/db").conn_type == "postgres"


def test_the_user_environment_is_clean(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    agent_env = {"PATH": "/usr/bin", "HOME": "/home/u", "LC_ALL": "C.UTF-8",
                 "LEOFLOW_TOKEN": "secret", "LEOFLOW_DATABASE_URL": "postgres://s",
                 "AWS_SECRET_ACCESS_KEY": "s"}
    env = base_environment({"MINE": "1"}, python=str(venv / "bin" / "python"),
                           agent_environ=agent_env)
    assert env == {"PATH": f"{venv / 'bin'}:/usr/bin", "HOME": "/home/u", "LC_ALL": "C.UTF-8",
                   "LANG": "C.UTF-8", "VIRTUAL_ENV": str(venv), "MINE": "1"}
    ctx = airflow_context_env(dag_id="d", task_id="t", run_id="r", try_number=2,
                              logical_date=None, owner="o")
    assert ctx["AIRFLOW_CTX_TRY_NUMBER"] == "2" and "AIRFLOW_CTX_LOGICAL_DATE" not in ctx
    assert (exit_code_of(-9), exit_code_of(3), exit_code_of(None)) == (137, 3, -1)


def test_agent_config_from_the_environment():
    config = AgentConfig.from_environ({"LEOFLOW_AGENT_ADDRESS": "cp:50051",
                                       "LEOFLOW_TI_ID": "ti", "LEOFLOW_TOKEN": "tok"})
    assert (config.address, config.connect_attempts) == ("cp:50051", 5)
    assert "tok" not in repr(config)
    delays = [config.connect_backoff * 2 ** i for i in range(config.connect_attempts - 1)]
    assert 9 < sum(delays) < 11  # 5 attempts over about 10 s
    with pytest.raises(AgentConfigError, match="LEOFLOW_TI_ID, LEOFLOW_TOKEN not set"):
        AgentConfig.from_environ({"LEOFLOW_AGENT_ADDRESS": "cp:1"})
    with pytest.raises(AgentConfigError, match="not host:port"):
        AgentConfig.from_environ({"LEOFLOW_AGENT_ADDRESS": "cp", "LEOFLOW_TI_ID": "t",
                                  "LEOFLOW_TOKEN": "x"})


def test_outcome_to_report_request():
    branch = Outcome("success", follow_task_ids=["a"])
    assert json.loads(branch.to_request().follow_task_ids_json) == ["a"]
    assert Outcome("success").to_request().follow_task_ids_json == ""
    failed = Outcome.failed("ValueError", "m", traceback="x" * 20_000, no_retry=True)
    request = failed.to_request()
    assert (request.state, request.error_type, request.no_retry) == ("failed", "ValueError", True)
    assert len(request.traceback) == 16_000


def test_a_manual_run_without_logical_date_keeps_the_date_strings_it_was_sent():
    raw = {**RAW_CONTEXT, "logical_date": None, "run_after": "2024-04-01T10:00:00+00:00",
           "ds": "2024-04-01", "ds_nodash": "20240401", "ts": "2024-04-01T10:00:00+00:00"}
    ctx = context(raw=raw)
    assert "logical_date" not in ctx
    assert (ctx["ds"], ctx["ts_nodash"]) == ("2024-04-01", "20240401T100000")
    assert render("{{ ds_nodash }}", ctx, make_environment(None), "f") == "20240401"


def test_the_fork_server_leaves_agents_nothing_to_import_for_a_thread() -> None:
    """What forked agents imported after the fork (a cProfile showed asyncio's executor
    module in each) is imported by the fork server once, before forking."""
    import subprocess
    import sys

    code = ("import sys, asyncio, leoflow.agent.fork_server as server; server.warm(); "
            "before = set(sys.modules); asyncio.run(asyncio.to_thread(int)); "
            "print(sorted(set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
