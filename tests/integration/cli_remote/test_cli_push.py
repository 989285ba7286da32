"""``leoflow push`` and ``leoflow dags versions`` over real HTTP, and the CLI's error
messages: unreachable server, missing or refused token, forbidden role, 404, 422."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leoflow.app.cli import main
from leoflow.engine.spec.canonical import pretty_json, with_content_hash
from tests.integration.real_auth import api_token

# Real API tokens of real users (the server's AuthService checks them: cli_remote/conftest.py)
OP = api_token("op-token")
VIEWER = api_token("viewer-token")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_push_then_list_versions(live_api, project, capsys):
    dag_json = str(project / "dag.json")
    server = ("--server", live_api.url, "--token", OP)
    code, out, err = run(capsys, "push", dag_json, *server)
    assert (code, err) == (0, "")
    assert "pushed DAG 'hello' version 1 (sha256:" in out
    assert live_api.url in out
    assert "leoflow dags unpause hello" in out  # a new DAG is paused

    code, out, _ = run(capsys, "push", dag_json, *server, "--json")
    assert code == 0
    again = json.loads(out)
    assert again["created"] is False and again["version_number"] == 1

    code, out, _ = run(capsys, "dags", "versions", "hello", *server)
    assert code == 0
    assert out.splitlines()[0].split() == ["VERSION", "CONTENT", "HASH", "CREATED", "CURRENT"]
    assert out.splitlines()[1].split()[0] == "1" and out.rstrip().endswith("*")
    code, out, _ = run(capsys, "dags", "versions", "hello", *server, "--json")
    assert [v["version_number"] for v in json.loads(out)] == [1]


def test_the_dag_file_travels_with_the_document(live_api, project, capsys):
    assert run(capsys, "push", str(project / "dag.json"), "--server", live_api.url,
               "--token", OP)[0] == 0
    import httpx

    version = httpx.get(f"{live_api.url}/api/leoflow/dags/hello/versions/1",
                        headers={"Authorization": f"Bearer {OP}"}).json()
    assert version["has_source_code"] is True


def test_a_bad_dag_json_prints_the_field_path_and_registers_nothing(live_api, project, capsys):
    document = json.loads((project / "dag.json").read_text("utf-8"))
    document["tasks"][1]["upstream"] = ["make_greeting", "ghost"]
    bad = project / "bad.json"
    bad.write_text(pretty_json(with_content_hash(document)), "utf-8")
    code, out, err = run(capsys, "push", str(bad), "--server", live_api.url,
                         "--token", OP)
    assert code == 1 and out == ""
    assert err.startswith(f"error: {bad} was refused, nothing registered: tasks[1].upstream[1]:")
    assert "'ghost'" in err
    code, _, err = run(capsys, "dags", "versions", "hello", "--server", live_api.url,
                       "--token", OP)
    assert code == 1
    assert "DAG 'hello' was not found" in err


def test_local_problems_are_caught_before_sending(live_api, project, capsys):
    server = ("--server", live_api.url, "--token", OP)
    code, _, err = run(capsys, "push", str(project / "missing.json"), *server)
    assert code == 1 and "no such file" in err and "leoflow compile" in err
    (project / "broken.json").write_text("{", "utf-8")
    code, _, err = run(capsys, "push", str(project / "broken.json"), *server)
    assert code == 1 and "not valid JSON" in err
    with (project / "dag.py").open("a", encoding="utf-8") as handle:
        handle.write("\n# edited after compiling\n")
    code, _, err = run(capsys, "push", str(project / "dag.json"), *server)
    assert code == 1
    assert "changed since" in err and "compile again" in err


def test_no_token_says_how_to_get_one(live_api, project, capsys):
    code, out, err = run(capsys, "push", str(project / "dag.json"), "--server", live_api.url)
    assert (code, out) == (1, "")
    assert f"not authenticated at {live_api.url}" in err
    assert "leoflow auth create-token" in err and "LEOFLOW_TOKEN" in err
    code, _, err = run(capsys, "dags", "versions", "hello", "--server", live_api.url,
                       "--token", "forged")
    assert code == 1
    assert "refused the token" in err and "leoflow auth create-token" in err


def test_a_role_that_may_not_push(live_api, project, capsys):
    code, _, err = run(capsys, "push", str(project / "dag.json"), "--server", live_api.url,
                       "--token", VIEWER)
    assert code == 1
    assert "forbidden: role Viewer may not manage dags" in err


def test_an_unreachable_server_is_named(project, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    for argv in (["push", str(project / "dag.json")], ["dags", "list"],
                 ["runs", "status", "hello", "r1"]):
        code, _, err = run(capsys, *argv, "--server", url, "--token", "t")
        assert code == 1
        assert f"cannot reach the Leoflow server at {url}" in err
        assert "Traceback" not in err


def test_server_and_token_from_the_environment_and_from_a_profile(
        live_api, project, capsys, monkeypatch, client_env: Path):
    monkeypatch.setenv("LEOFLOW_SERVER", live_api.url)
    monkeypatch.setenv("LEOFLOW_TOKEN", OP)
    assert run(capsys, "push", str(project / "dag.json"))[0] == 0
    monkeypatch.delenv("LEOFLOW_SERVER")
    monkeypatch.delenv("LEOFLOW_TOKEN")
    (client_env / "config.toml").write_text(
        f'[profiles.test]\nserver = "{live_api.url}"\ntoken = "{VIEWER}"\n', "utf-8")
    code, out, _ = run(capsys, "dags", "versions", "hello", "--profile", "test", "--json")
    assert code == 0 and json.loads(out)[0]["version_number"] == 1
    monkeypatch.setenv("LEOFLOW_PROFILE", "test")
    assert run(capsys, "dags", "versions", "hello")[0] == 0
    # the flag beats the profile: this token is refused
    code, _, err = run(capsys, "dags", "versions", "hello", "--token", "forged")
    assert code == 1 and "refused the token" in err


def test_a_plain_airflow_folder_compiles_and_pushes_each_dag_with_its_file(
        live_api, tmp_path, capsys):
    """``leoflow compile`` of a plain DAGs folder writes dags/<dag_id>.json; ``leoflow push``
    finds each DAG's file (``sub/x.py``, relative to the folder, not to dags/) and sends it."""
    folder = tmp_path / "airflow_dags"
    (folder / "team").mkdir(parents=True)
    (folder / "team" / "nightly.py").write_text(
        "from airflow.sdk import DAG\n"
        "from airflow.providers.standard.operators.empty import EmptyOperator\n"
        "for name in ('nightly_a', 'nightly_b'):\n"
        "    with DAG(name, schedule=None):\n"
        "        EmptyOperator(task_id='only')\n", "utf-8")
    assert run(capsys, "compile", str(folder))[0] == 0
    for dag_id in ("nightly_a", "nightly_b"):
        code, _out, err = run(capsys, "push", str(folder / "dags" / f"{dag_id}.json"),
                             "--server", live_api.url, "--token", OP)
        assert (code, err) == (0, ""), err
        import httpx

        version = httpx.get(f"{live_api.url}/api/leoflow/dags/{dag_id}/versions/1",
                            headers={"Authorization": f"Bearer {OP}"}).json()
        assert version["has_source_code"] is True
