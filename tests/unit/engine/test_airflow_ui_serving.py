"""``leoflow ui install``'s checks and extraction, and how the UI's files are served.

A small wheel built here stands for ``apache-airflow-core`` (the real one is fetched by the
browser journeys, tests/e2e/browser/test_airflow_ui.py): the same member paths, an
``index.html`` with Airflow's ``<base href>`` placeholder. Served by a FastAPI app with
``airflow_ui.install``, at the top as leoflow-server does and under ``/airflow`` as Lite does.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from leoflow.app.cmd_ui import MARKER, install_ui
from leoflow.engine.api import airflow_ui
from leoflow.errors import LeoflowError

INDEX = '<html><head><base href="{{ backend_server_base_url }}"></head><body>app</body></html>'
LOGIN = '<html><head><base href="{{ backend_server_base_url }}"></head><body>login</body></html>'
MEMBERS = {
    "airflow/ui/dist/index.html": INDEX,
    "airflow/ui/dist/assets/app.js": "console.log('ui')",
    "airflow/api_fastapi/auth/managers/simple/ui/dist/index.html": LOGIN,
    "airflow/api_fastapi/auth/managers/simple/ui/dist/assets/login.js": "login()",
    "airflow/models/dag.py": "raise SystemExit('never extracted')",
}


def make_wheel(folder: Path, members: dict[str, str] = MEMBERS) -> tuple[Path, str]:
    wheel = folder / "apache_airflow_core-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


def quiet(_: str) -> None:
    return None


def test_install_keeps_only_the_ui_and_writes_its_marker_last(tmp_path: Path) -> None:
    wheel, digest = make_wheel(tmp_path)
    target = install_ui("9.9.9", tmp_path / "ui", wheel=wheel, sha256=digest, say=quiet)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == ["auth/assets/login.js", "auth/index.html", "leoflow-ui.json",
                     "ui/assets/app.js", "ui/index.html"]
    assert digest in (target / MARKER).read_text("utf-8")
    found = airflow_ui.find_assets([tmp_path / "elsewhere", tmp_path / "ui"])
    assert found is not None and found.version == "9.9.9"


def test_a_wrong_hash_or_an_escaping_member_installs_nothing(tmp_path: Path) -> None:
    wheel, _ = make_wheel(tmp_path)
    with pytest.raises(LeoflowError, match="does not match"):
        install_ui("9.9.9", tmp_path / "ui", wheel=wheel, sha256="0" * 64, say=quiet)
    assert not (tmp_path / "ui" / "9.9.9").exists()
    evil, digest = make_wheel(tmp_path, {**MEMBERS, "airflow/ui/dist/../../../x": "x"})
    with pytest.raises(LeoflowError, match="escapes"):
        install_ui("9.9.9", tmp_path / "ui", wheel=evil, sha256=digest, say=quiet)
    assert airflow_ui.find_assets([tmp_path / "ui"]) is None
    assert not (tmp_path / "x").exists()


def app_with_ui(roots: list[Path], prefix: str = "") -> FastAPI:
    app = FastAPI()

    @app.get("/api/v2/version")
    def version() -> dict[str, str]:
        return {"version": "leoflow"}

    @app.post("/api/v2/dags")
    def only_post() -> dict[str, str]:
        return {}

    airflow_ui.install(app, roots, prefix=prefix)
    return app


def test_without_assets_the_pages_name_the_command_and_the_api_answers(
        tmp_path: Path) -> None:
    client = TestClient(app_with_ui([tmp_path / "ui"]))
    page = client.get("/dags/etl")
    assert page.status_code == 404
    assert "leoflow ui install" in page.text and str(tmp_path / "ui") in page.text
    assert client.get("/api/v2/version").json() == {"version": "leoflow"}
    # Installed later: served at the next request, no restart.
    wheel, digest = make_wheel(tmp_path)
    install_ui("9.9.9", tmp_path / "ui", wheel=wheel, sha256=digest, say=quiet)
    assert client.get("/dags/etl").status_code == 200


def test_served_at_the_top_as_airflows_api_server_does(tmp_path: Path) -> None:
    wheel, digest = make_wheel(tmp_path)
    install_ui("9.9.9", tmp_path / "ui", wheel=wheel, sha256=digest, say=quiet)
    client = TestClient(app_with_ui([tmp_path / "ui"]))
    for path in ("/", "/dags/etl/runs/r1", "/variables"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert '<base href="/">' in page.text and "app" in page.text
    assert client.get("/static/assets/app.js").text == "console.log('ui')"
    assert client.get("/auth/static/assets/login.js").text == "login()"
    assert client.get("/static/missing.js").status_code == 404
    # The API's own answers stay: an unknown API path is a 404, a wrong method a 405.
    assert client.get("/api/v2/nothing").status_code == 404
    assert client.get("/api/v2/nothing").headers["content-type"] == "application/json"
    assert client.get("/api/v2/dags").status_code == 405
    assert client.post("/dags/etl").status_code == 404
    login = airflow_ui.login_override(client.app)
    assert login is not None and "login" in login.body.decode()


def test_served_under_a_prefix_beside_another_app_as_lite_does(tmp_path: Path) -> None:
    wheel, digest = make_wheel(tmp_path)
    install_ui("9.9.9", tmp_path / "ui", wheel=wheel, sha256=digest, say=quiet)
    client = TestClient(app_with_ui([tmp_path / "ui"], prefix="/airflow"))
    for path in ("/airflow", "/airflow/", "/airflow/dags/etl"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert '<base href="/airflow/">' in page.text
    assert client.get("/airflow/static/assets/app.js").text == "console.log('ui')"
    # The UI's API calls, relative to its base, reach the app's API without the prefix.
    assert client.get("/airflow/api/v2/version").json() == {"version": "leoflow"}
    assert client.get("/airflow/api/v2/nothing").status_code == 404
    assert client.get("/dags/etl").status_code == 404  # the top is the other app's
