"""The authoring CLI end to end: init, validate, compile, and every error a user can meet.

Each compile really runs the DAG file in a child process, as a user's command does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from leoflow.app.cli import main

YAML = "dag_id: {dag_id}\npython_version: \"3.11\"\ndependencies: []\n"


def make_project(root: Path, source: str, dag_id: str = "demo",
                 yaml_text: str | None = None) -> Path:
    project = root / dag_id
    project.mkdir(parents=True, exist_ok=True)
    (project / "dag.py").write_text(textwrap.dedent(source).lstrip("\n"), "utf-8")
    if yaml_text is not False:
        (project / "leoflow.yaml").write_text(
            YAML.format(dag_id=dag_id) if yaml_text is None else yaml_text, "utf-8")
    return project


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


GOOD = """
from leoflow import DAG, task

with DAG("demo", schedule="@daily"):
    @task
    def a() -> int:
        return 1

    @task
    def b(x):
        return x + 1

    b(a())
"""


def test_init_validate_compile_roundtrip(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "init", "my_dag")
    assert code == 0 and "next: leoflow validate my_dag" in out
    assert {p.name for p in (tmp_path / "my_dag").iterdir()} == {"dag.py", "leoflow.yaml",
                                                                 ".gitignore"}
    code, out, _ = run(capsys, "validate", "my_dag")
    assert code == 0 and "DAG 'my_dag': 2 tasks, 1 edge" in out
    code, out, _ = run(capsys, "compile", "my_dag", "-o", "my_dag/dag.json")
    assert code == 0 and "wrote my_dag/dag.json" in out
    doc = json.loads((tmp_path / "my_dag" / "dag.json").read_text())
    assert doc["dag_id"] == "my_dag" and doc["schema_version"] == 1
    assert [(t["task_id"], t["upstream"]) for t in doc["tasks"]] == [
        ("extract", []), ("report", ["extract"])]


def test_init_refuses_to_overwrite_and_bad_names(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "init", "p")[0] == 0
    (tmp_path / "p" / "dag.py").write_text("# mine\n")
    code, _, err = run(capsys, "init", "p")
    assert code == 1 and "already exist; nothing was written" in err
    assert (tmp_path / "p" / "dag.py").read_text() == "# mine\n"
    code, _, err = run(capsys, "init", "bad name")
    assert code == 1 and "cannot be a dag_id" in err


def test_compile_is_byte_identical_and_hash_matches(tmp_path, capsys):
    project = make_project(tmp_path, GOOD)
    assert run(capsys, "compile", str(project), "-o", str(tmp_path / "one.json"))[0] == 0
    assert run(capsys, "compile", str(project), "-o", str(tmp_path / "two.json"))[0] == 0
    one, two = (tmp_path / "one.json").read_bytes(), (tmp_path / "two.json").read_bytes()
    assert one == two
    from leoflow.engine.spec.canonical import content_hash

    doc = json.loads(one)
    assert doc["content_hash"] == content_hash(doc)
    assert list(doc) == sorted(doc)


def test_source_change_changes_hash(tmp_path, capsys):
    project = make_project(tmp_path, GOOD)
    run(capsys, "compile", str(project), "-o", str(tmp_path / "a.json"))
    (project / "dag.py").write_text((project / "dag.py").read_text().replace(
        "return 1", "return 2"))
    run(capsys, "compile", str(project), "-o", str(tmp_path / "b.json"))
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    assert a["content_hash"] != b["content_hash"]


def test_json_output(tmp_path, capsys):
    project = make_project(tmp_path, GOOD)
    code, out, _ = run(capsys, "validate", str(project), "--json")
    assert code == 0
    assert json.loads(out)["dags"][0] == {
        "dag_id": "demo", "tasks": 2, "edges": 1, "schedule": "@daily",
        "content_hash": json.loads(out)["dags"][0]["content_hash"]}


# -- every error a user can get: message, file:line, exit status --------------------------
ERRORS = {
    "syntax": ("""
        from leoflow import DAG
        with DAG("demo"):
            x = (1,
        """, r"dag\.py:3: SyntaxError: '\(' was never closed"),
    "import": ("""
        from leoflow import DAG
        import not_a_real_package_xyz
        """, r"dag\.py:2: ModuleNotFoundError: No module named 'not_a_real_package_xyz' "
             r"\(add the package that provides 'not_a_real_package_xyz' to 'dependencies'"),
    "runtime_in_dag_file": ("""
        from leoflow import DAG
        def helper():
            return 1 / 0
        with DAG("demo"):
            helper()
        """, r"dag\.py:3: ZeroDivisionError: division by zero"),
    # raised inside the standard library (<frozen os>): reported at the user's line, where
    # the compile child (cwd: the project) once took "<frozen os>" for a project file
    "library_frame": ("""
        import os
        from leoflow import DAG
        with DAG("demo"):
            os.environ["LEOFLOW_NO_SUCH_VARIABLE_ANYWHERE"]
        """, r"dag\.py:4: KeyError: 'LEOFLOW_NO_SUCH_VARIABLE_ANYWHERE'"),
    "no_dag": ("""
        x = 1
        """, r"dag\.py: defines no DAG"),
    "cycle": ("""
        from leoflow import DAG, EmptyOperator
        with DAG("demo"):
            a = EmptyOperator(task_id="a")
            b = EmptyOperator(task_id="b")
            c = EmptyOperator(task_id="c")
            a >> b >> c >> a
        """, r"dag\.py:6: DAG 'demo' has a cycle: a -> b -> c -> a"),
    "duplicate_task_id": ("""
        from leoflow import DAG, EmptyOperator
        with DAG("demo"):
            EmptyOperator(task_id="same")
            EmptyOperator(task_id="same")
        """, r"dag\.py:4: task_id 'same' is used twice in DAG 'demo'"),
    "non_serializable": ("""
        from leoflow import DAG, task
        class Thing:
            pass
        with DAG("demo"):
            @task
            def use(config):
                return 1
            use(Thing())
        """, r"dag\.py:8: task 'use' argument 'config': a value of type Thing is not "
             r"JSON-serializable"),
    "bad_cron": ("""
        from leoflow import DAG, EmptyOperator
        with DAG("demo", schedule="61 * * * *"):
            EmptyOperator(task_id="a")
        """, r"dag\.py:2: DAG 'demo': schedule '61 \* \* \* \*' is not a valid cron expression"),
    "bad_preset": ("""
        from leoflow import DAG, EmptyOperator
        with DAG("demo", schedule="@sometimes"):
            EmptyOperator(task_id="a")
        """, r"dag\.py:2: DAG 'demo': unknown schedule preset '@sometimes'"),
    "dag_id_mismatch": ("""
        from leoflow import DAG, EmptyOperator
        with DAG("other"):
            EmptyOperator(task_id="a")
        """, r"dag_id 'demo' in leoflow.yaml does not match the DAG defined in dag.py "
             r"\('other'\)"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_have_file_line_message_and_exit_1(tmp_path, capsys, case):
    source, pattern = ERRORS[case]
    project = make_project(tmp_path, source)
    code, out, err = run(capsys, "validate", str(project))
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1, err
    import re

    assert re.search(pattern, err), err
    # compile fails the same way and writes nothing
    code, _, err2 = run(capsys, "compile", str(project))
    assert code == 1 and err2 == err
    assert not (project / "dag.json").exists()


def test_unknown_upstream_from_another_dag(tmp_path, capsys):
    project = make_project(tmp_path, """
        from leoflow import DAG, EmptyOperator
        with DAG("first"):
            a = EmptyOperator(task_id="a")
        with DAG("demo"):
            b = EmptyOperator(task_id="b")
        a >> b
        """)
    code, _, err = run(capsys, "validate", str(project))
    assert code == 1
    assert "dag.py:5: DAG 'demo': task 'b' depends on unknown task 'a'" in err


def test_hanging_dag_file_is_killed_after_the_limit(tmp_path, capsys):
    project = make_project(tmp_path, """
        import time
        from leoflow import DAG
        time.sleep(60)
        """)
    import time

    started = time.monotonic()
    code, _, err = run(capsys, "validate", str(project), "--timeout", "1.5")
    assert time.monotonic() - started < 10
    assert code == 1
    assert "dag.py: did not finish within 1.5 s" in err


def test_missing_and_invalid_leoflow_yaml(tmp_path, capsys):
    project = make_project(tmp_path, GOOD, yaml_text=False)
    code, out, _ = run(capsys, "validate", str(project))
    assert code == 0 and "ok: dag.py: DAG 'demo'" in out  # a plain folder, as in Airflow

    (project / "leoflow.yaml").write_text(
        "dag_id: demo\npython_version: \"3.11\"\ndependencies: not-a-list\n")
    code, _, err = run(capsys, "validate", str(project))
    assert code == 1
    assert "leoflow.yaml:3: dependencies: 'not-a-list' is not of type 'array'" in err

    (project / "leoflow.yaml").write_text("dag_id: demo\npyhton_version: '3.11'\n")
    code, _, err = run(capsys, "validate", str(project))
    assert code == 1 and "leoflow.yaml:1: (top level): unknown field ('pyhton_version'" in err

    (project / "leoflow.yaml").write_text("dag_id: [unclosed\n")
    code, _, err = run(capsys, "validate", str(project))
    assert code == 1 and "leoflow.yaml:2: not valid YAML" in err

    (project / "leoflow.yaml").write_text("python_version: '3.11'\n")
    code, _, err = run(capsys, "validate", str(project))
    assert code == 1 and "'dag_id' is a required property" in err


def test_verbose_prints_the_user_traceback(tmp_path, capsys):
    project = make_project(tmp_path, """
        from leoflow import DAG
        raise RuntimeError("boom")
        """)
    code, _, err = run(capsys, "validate", str(project), "-v")
    assert code == 1
    assert "dag.py:2: RuntimeError: boom" in err
    assert "Traceback (most recent call last)" in err


def test_several_dags_in_one_file_each_get_a_spec(tmp_path, capsys):
    project = make_project(tmp_path, """
        from leoflow import DAG, EmptyOperator
        for name in ["demo", "demo_nightly"]:
            with DAG(name, schedule=None if name == "demo" else "@daily"):
                EmptyOperator(task_id="only")
        """)
    code, _, _ = run(capsys, "compile", str(project))
    assert code == 0
    files = sorted(p.name for p in (project / "dags").iterdir())
    assert files == ["demo.json", "demo_nightly.json"]
    nightly = json.loads((project / "dags" / "demo_nightly.json").read_text())
    assert nightly["schedule"]["cron"] == "0 0 * * *"
    code, _, err = run(capsys, "compile", str(project), "-o", str(tmp_path / "x.json"))
    assert code == 1 and "defines 2 DAGs (demo, demo_nightly)" in err
    code, _, _ = run(capsys, "compile", str(project), "--dag-id", "demo_nightly", "-o",
                     str(tmp_path / "x.json"))
    assert code == 0
    assert json.loads((tmp_path / "x.json").read_text())["dag_id"] == "demo_nightly"


def test_dag_file_cannot_corrupt_the_report_with_prints_or_exit(tmp_path, capsys):
    project = make_project(tmp_path, """
        import sys
        from leoflow import DAG, EmptyOperator
        print('{"ok": false}')
        with DAG("demo"):
            EmptyOperator(task_id="a")
        """)
    assert run(capsys, "validate", str(project))[0] == 0
    project = make_project(tmp_path / "second", """
        import sys
        sys.exit(3)
        """)
    code, _, err = run(capsys, "validate", str(project))
    assert code == 1 and "SystemExit: 3" in err


def test_airflow_imports_compile_unchanged(tmp_path, capsys):
    project = make_project(tmp_path, """
        from datetime import datetime
        from airflow import DAG
        from airflow.decorators import task
        from airflow.operators.bash import BashOperator
        from airflow.operators.empty import EmptyOperator
        from airflow.operators.python import PythonOperator
        from airflow.providers.standard.operators.bash import BashOperator as StdBash
        from airflow.sdk import DAG as SdkDAG, task as sdk_task
        from airflow.utils.trigger_rule import TriggerRule

        assert DAG is SdkDAG and task is sdk_task

        with DAG(dag_id="demo", schedule="@hourly", start_date=datetime(2026, 1, 1)):
            start = EmptyOperator(task_id="start")
            hello = BashOperator(task_id="hello", bash_command="echo hi")
            std = StdBash(task_id="std", bash_command="echo std")
            py = PythonOperator(task_id="py", python_callable=lambda: 1)

            @task(trigger_rule=TriggerRule.ALL_DONE)
            def done():
                return "ok"

            start >> [hello, std] >> py >> done()
        """)
    code, _, err = run(capsys, "compile", str(project))
    assert code == 0, err
    doc = json.loads((project / "dag.json").read_text())
    tasks = {t["task_id"]: t for t in doc["tasks"]}
    assert set(tasks) == {"start", "hello", "std", "py", "done"}
    assert tasks["hello"]["operator"] == "bash" and tasks["py"]["operator"] == "python"
    assert tasks["done"]["trigger_rule"] == "all_done"
    assert tasks["py"]["upstream"] == ["hello", "std"]
    assert doc["schedule"]["cron"] == "0 * * * *"


def test_no_airflow_package_is_installed():
    import importlib.util

    assert importlib.util.find_spec("airflow") is None


@pytest.mark.parametrize(("flag", "says"), [("--version", "leoflow 0.1.0"),
                                           ("--help", "usage: leoflow")])
def test_leoflow_help_and_version_are_import_light(flag: str, says: str):
    """They answer without importing the store, the compiler's validators or the cron
    library, which would make every start slow."""
    code = ("import sys; import leoflow.app.cli as c; "
            f"sys.argv = ['leoflow', {flag!r}];\n"
            "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('sqlalchemy', 'jsonschema', 'yaml', 'croniter') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert says in out.stdout
    assert out.stdout.strip().endswith("[]")


def test_the_original_leoflow_yaml_format_compiles(tmp_path, capsys):
    """Projects written for the original Leoflow say ``schema_version: "1.0"`` (a string)
    and may hold fields this version does not use: they compile unchanged."""
    project = make_project(tmp_path, GOOD, yaml_text=False)
    (project / "leoflow.yaml").write_text(
        'schema_version: "1.0"\ndag_id: demo\npython_version: "3.11"\n'
        'runtime: python\nentrypoint: dag.py\n')
    code, out, err = run(capsys, "validate", str(project))
    assert code == 0, err
    assert "DAG 'demo'" in out
    (project / "leoflow.yaml").write_text('schema_version: "2.0"\ndag_id: demo\n')
    code, _, err = run(capsys, "validate", str(project))
    assert code == 1 and "schema_version" in err
    # this version's own format keeps catching a misspelt setting
    (project / "leoflow.yaml").write_text("schema_version: 1\ndag_id: demo\nruntime: x\n")
    code, _, err = run(capsys, "validate", str(project))
    assert code == 1 and "unknown field ('runtime'" in err
