"""Plain Airflow DAG folders: several files, several DAGs per file, helper modules,
.airflowignore and requirements.txt, no leoflow.yaml (the compiler, through the CLI)."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from leoflow.app.cli import main
from leoflow.engine.compiler.compile import compile_project
from leoflow.engine.compiler.errors import CompileError
from leoflow.engine.compiler.folder import IgnoreRules, dag_files, read_requirements


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "dags"
    write(root / "common" / "__init__.py", "")
    write(root / "common" / "names.py", "def greeting():\n    return 'hello'\n")
    write(root / "two_dags.py", """
        import pendulum
        from airflow.sdk import DAG, task
        from common.names import greeting

        for name in ("sales_daily", "sales_hourly"):
            with DAG(name, schedule=None, start_date=pendulum.datetime(2021, 1, 1, tz="UTC")):
                @task
                def hello():
                    return greeting()
                hello()
        """)
    write(root / "nested" / "by_stem.py", """
        from pathlib import Path
        from airflow.providers.standard.operators.empty import EmptyOperator
        from airflow.sdk import DAG

        with DAG(Path(__file__).stem, schedule=None):
            EmptyOperator(task_id="only")
        """)
    write(root / "scratch" / "old_dag.py", """
        from airflow.sdk import DAG
        raise RuntimeError("left out by .airflowignore, never run")
        """)
    write(root / "notes.py", "print('not a DAG file: never run')\n")
    write(root / ".airflowignore", "# old things\nscratch/\n")
    write(root / "requirements.txt", "# the folder's environment\nsix==1.17.0\n\n")
    return root


def test_every_dag_of_every_file_compiles_with_ids_from_the_files(folder):
    project = compile_project(folder)
    assert project.plain and not project.errors
    assert sorted(d["dag_id"] for d in project.documents) == [
        "by_stem", "sales_daily", "sales_hourly"]
    assert project.config.dag_id == "dags"
    assert project.config.dependencies == ("six==1.17.0",)
    assert project.file_of("by_stem") == folder / "nested" / "by_stem.py"
    assert project.document("by_stem")["fileloc"] == "nested/by_stem.py"
    assert "greeting" in project.source_of("sales_daily")
    assert {d["project"] for d in project.documents} == {"dags"}


def test_a_helper_change_makes_a_new_version_of_the_dags_that_import_it(folder):
    before = {d["dag_id"]: d["content_hash"] for d in compile_project(folder).documents}
    (folder / "common" / "names.py").write_text("def greeting():\n    return 'hi'\n")
    after = {d["dag_id"]: d["content_hash"] for d in compile_project(folder).documents}
    assert after["sales_daily"] != before["sales_daily"]
    assert after["sales_hourly"] != before["sales_hourly"]
    assert after["by_stem"] == before["by_stem"]
    project = compile_project(folder)
    daily = project.document("sales_daily")
    assert list(daily["helper_modules"]) == ["common/__init__.py", "common/names.py"]
    assert daily["source_sha256"] == hashlib.sha256(
        (folder / "two_dags.py").read_bytes()).hexdigest()  # the file alone: push checks it
    assert "helper_modules" not in project.document("by_stem")


def test_a_broken_file_keeps_its_error_and_the_others_compile(folder, capsys):
    write(folder / "broken.py", """
        from airflow.sdk import DAG
        with DAG("broken", schedule=None):
            1 / 0
        """)
    project = compile_project(folder, keep_going=True)
    assert len(project.documents) == 3
    (error,) = project.errors
    assert error.kind == "import" and error.line == 3 and error.file.endswith("broken.py")
    with pytest.raises(CompileError, match="ZeroDivisionError"):
        compile_project(folder)
    code = main(["validate", str(folder)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "ok: two_dags.py: DAG 'sales_daily'" in out
    assert "broken.py:3: ZeroDivisionError" in err
    assert "2 of 3 DAG files compiled (3 DAGs)" in err


def test_one_file_of_a_folder_compiles_alone_and_compile_writes_every_dag(folder, capsys):
    code = main(["validate", str(folder / "nested" / "by_stem.py")])
    out, _ = capsys.readouterr()
    assert code == 0 and "DAG 'by_stem'" in out and "sales" not in out
    out_dir = folder.parent / "out"
    code = main(["compile", str(folder), "-o", f"{out_dir}/", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"]
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "by_stem.json", "sales_daily.json", "sales_hourly.json"]


def test_the_same_dag_id_in_two_files_is_an_error_naming_the_first(folder):
    write(folder / "zz_copy.py", """
        from airflow.sdk import DAG
        with DAG("sales_daily", schedule=None):
            pass
        """)
    project = compile_project(folder, keep_going=True)
    (error,) = project.errors
    assert error.kind == "duplicate_dag_id"
    assert "already defined in two_dags.py" in error.message


def test_airflowignore_glob_rules(tmp_path):
    for name in ("a.py", "skip_me.py", "sub/b.py", "sub/tmp_c.py", "keep/tmp_keep.py",
                 "deep/x/old/d.py"):
        write(tmp_path / name, "# dag airflow\n")
    write(tmp_path / ".airflowignore", "skip_*.py\ntmp_*\n!keep/tmp_keep.py\nold/\n")
    found = [p.relative_to(tmp_path).as_posix() for p in dag_files(tmp_path)]
    assert found == ["a.py", "keep/tmp_keep.py", "sub/b.py"]
    rules = IgnoreRules()
    assert not rules.ignored(Path("x.py"), is_dir=False)  # no file, no rule


def test_requirements_with_pip_options_are_refused_with_their_line(tmp_path):
    write(tmp_path / "requirements.txt", "pandas\n-r other.txt\n")
    with pytest.raises(CompileError) as info:
        read_requirements(tmp_path)
    assert info.value.line == 2 and "'-r' is not supported" in info.value.message


def test_a_folder_without_dag_files_says_so(tmp_path):
    write(tmp_path / "util.py", "X = 1\n")
    with pytest.raises(CompileError, match="holds no DAG file"):
        compile_project(tmp_path)


@pytest.mark.slow
def test_leoflow_run_takes_a_file_of_a_plain_folder(folder, capsys, monkeypatch, tmp_path):
    """``leoflow run`` runs one DAG of a plain folder's file, with the folder's helpers; a
    wrong --dag-id names the DAGs the file defines."""
    monkeypatch.setenv("LEOFLOW_HOME", str(tmp_path / "home"))
    (folder / "requirements.txt").unlink()  # no package index needed for this one
    code = main(["run", str(folder / "two_dags.py"), "--dag-id", "sales_hourly", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["state"] == "success"
    assert main(["run", str(folder / "two_dags.py"), "--dag-id", "nope"]) == 1
    assert "defines no DAG 'nope' (it defines: sales_daily, sales_hourly)" in (
        capsys.readouterr().err)


def test_a_dag_file_importing_another_and_a_dag_factory(tmp_path):
    """``from other_dag_file import X`` runs that file too: its DAG stays that file's (as in
    Airflow's DagBag); a DAG made by a helper's factory belongs to the file that calls it."""
    write(tmp_path / "base_dag.py", """
        from airflow.sdk import DAG
        DEFAULTS = {"retries": 2}
        with DAG("base", schedule=None):
            pass
        """)
    write(tmp_path / "user_dag.py", """
        from airflow.sdk import DAG
        from base_dag import DEFAULTS
        with DAG("user", schedule=None, default_args=DEFAULTS):
            pass
        """)
    write(tmp_path / "factories" / "__init__.py", "")
    write(tmp_path / "factories" / "make.py", """
        from airflow.sdk import DAG

        def make(name):
            with DAG(name, schedule=None) as dag:
                pass
            return dag
        """)
    write(tmp_path / "teams" / "made.py", """
        # an Airflow dag file: the DAGs come from a factory
        from factories.make import make
        for team in ("red", "blue"):
            make(f"team_{team}")
        """)
    project = compile_project(tmp_path)
    assert not project.errors
    assert {d["dag_id"]: d["fileloc"] for d in project.documents} == {
        "base": "base_dag.py", "user": "user_dag.py", "team_red": "teams/made.py",
        "team_blue": "teams/made.py"}
    assert "base_dag.py" in project.document("user")["helper_modules"]
