"""Bash tasks: Airflow-style templating in the agent, exit codes, the pushed last line."""

from __future__ import annotations

from tests.integration.agent.control_plane import ScriptedControlPlane, fetch, run_agent_process

DAG = """
from leoflow import DAG, task, BashOperator
with DAG("demo", params={"x": "px"}) as dag:
    BashOperator(task_id="templated", bash_command="echo")
    @task.bash(env={"WHO": "{{ params.x }}"}, append_env=True)
    def from_function(name):
        return f"echo hello {name} $WHO {{{{ ds }}}}"
    from_function("bob")
"""

BASH_OPTIONS = {"options": {"append_env": False, "output_encoding": "utf-8",
                            "skip_on_exit_code": [99]}}


async def run_bash(project, serve, command, *, env=None, task_env=None, options=None,
                   xcoms=None, cwd=None):
    folder = project(DAG)
    kwargs = {"bash_command": command}
    if env is not None:
        kwargs["env"] = env
    if cwd is not None:
        kwargs["cwd"] = cwd
    spec = {**BASH_OPTIONS}
    if options:
        spec = {"options": {**BASH_OPTIONS["options"], **options}}
    servicer = ScriptedControlPlane(
        fetch(str(folder), "templated", operator="bash", spec=spec, kwargs=kwargs,
              env=task_env or {}),
        xcoms=xcoms or {})
    run = await run_agent_process(await serve(servicer))
    assert run.returncode == 0, run.stderr
    return servicer.recorded


async def test_bash_command_is_rendered_with_the_context(project, serve):
    command = ("echo {{ ds }} {{ ds_nodash }} {{ params.x }} {{ run_id }} {{ dag.dag_id }} "
               "{{ task.task_id }} {{ macros.ds_add(ds, 1) }} {{ var.value.greeting }} "
               "{{ conn.my_db.host }}\n"
               "echo pulled={{ ti.xcom_pull(task_ids='up') }} \"$GREETING\" $AIRFLOW_CTX_TASK_ID")
    recorded = await run_bash(
        project, serve, command, env={"GREETING": "hi {{ params.x }}"}, options={},
        task_env={"AIRFLOW_VAR_GREETING": "hello", "AIRFLOW_CONN_MY_DB": "postgres://h.db/x"},
        xcoms={("up", "return_value"): 42})
    assert recorded.report.state == "success"
    stdout = recorded.text("stdout")
    assert stdout[0] == ("2024-03-05 20240305 px manual__2024-03-05 demo templated 2024-03-06 "
                         "hello h.db")
    assert stdout[1] == "pulled=42 hi px templated"
    assert recorded.pushed == {"return_value": "pulled=42 hi px templated"}
    assert any(line.startswith("Running command:") for line in recorded.text("agent"))


async def test_env_replaces_the_environment_unless_append_env(project, serve):
    command = 'echo "[$MINE][${TASK_LEVEL:-unset}]"'
    alone = await run_bash(project, serve, command, env={"MINE": "m"},
                           task_env={"TASK_LEVEL": "t"})
    assert alone.pushed == {"return_value": "[m][unset]"}
    appended = await run_bash(project, serve, command, env={"MINE": "m"},
                              task_env={"TASK_LEVEL": "t"}, options={"append_env": True})
    assert appended.pushed == {"return_value": "[m][t]"}


async def test_an_unknown_template_name_fails_clearly(project, serve):
    recorded = await run_bash(project, serve, "echo {{ no_such_name }}")
    report = recorded.report
    assert (report.state, report.error_type) == ("failed", "UndefinedError")
    assert "'no_such_name' is undefined" in report.error_message
    assert "bash_command" in report.error_message


async def test_non_zero_exit_fails_and_skip_on_exit_code_skips(project, serve):
    failed = await run_bash(project, serve, "echo out; echo 'it broke' >&2; exit 3")
    report = failed.report
    assert (report.state, report.exit_code, report.error_type) == (
        "failed", 3, "AirflowException")
    assert "non-zero exit code 3" in report.error_message
    assert "it broke" in report.traceback
    assert failed.pushed == {}
    skipped = await run_bash(project, serve, "exit 99")
    assert (skipped.report.state, skipped.report.exit_code) == ("skipped", 99)
    custom = await run_bash(project, serve, "exit 5", options={"skip_on_exit_code": [5]})
    assert custom.report.state == "skipped"


async def test_script_files_and_cwd(project, serve):
    folder = project(DAG)
    (folder / "scripts").mkdir()
    (folder / "scripts" / "run.sh").write_text("echo script for {{ ds }} in $(basename $PWD)\n")
    recorded = await run_bash(project, serve, "scripts/run.sh")
    assert recorded.pushed == {"return_value": "script for 2024-03-05 in project"}
    in_scripts = await run_bash(project, serve, "pwd", cwd="scripts")
    assert in_scripts.pushed["return_value"].endswith("/project/scripts")


async def test_task_bash_runs_the_command_its_function_returns(project, serve):
    folder = project(DAG)
    spec = {"callable": "from_function",
            "options": {"env": {"WHO": "{{ params.x }}"}, "append_env": True, "cwd": None,
                        "output_encoding": "utf-8", "skip_on_exit_code": [99]}}
    servicer = ScriptedControlPlane(fetch(str(folder), "from_function", operator="bash",
                                          spec=spec, args=["bob"]))
    run = await run_agent_process(await serve(servicer))
    assert run.returncode == 0, run.stderr
    assert servicer.recorded.report.state == "success"
    assert servicer.recorded.pushed == {"return_value": "hello bob px 2024-03-05"}
