"""The providers of a DAG environment: listed by ``leoflow providers``, offered to the
connection form (the API's connection types, Airflow's hook_meta shape), read from the
environment's files without running provider code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leoflow.engine.environments.providers import read_providers
from leoflow.engine.services.provider_metadata import (
    connection_types_at,
    hook_meta,
    merge_connection_types,
)

REPO = Path(__file__).resolve().parents[3]
LEOFLOW = [sys.executable, "-m", "leoflow.app.cli"]

AIRFLOW_HOOK_META = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
print(json.dumps([m.model_dump(mode="json") for m in HookMetaService.hook_meta_data()]))
"""

VERSIONS = """
import json
from importlib.metadata import distributions
print(json.dumps({d.metadata["Name"]: d.version for d in distributions()
                  if d.metadata["Name"].startswith("apache-airflow-providers-")}))
"""


def in_env(python: Path, code: str, tmp_path: Path) -> str:
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                            timeout=120, env={"PATH": "/usr/bin:/bin",
                                              "AIRFLOW_HOME": str(tmp_path / "airflow")})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow
def test_the_connection_form_gets_what_airflows_own_hook_meta_gives(real_airflow, tmp_path):
    """Read from files, without importing a provider, the connection types equal what
    Airflow 3.3.2's own ``GET /ui/connections/hook_meta`` service computes in the DAG's
    interpreter (types, hook classes and names, standard fields, extra fields)."""
    theirs = json.loads(in_env(real_airflow.python, AIRFLOW_HOOK_META, tmp_path))
    ours = hook_meta(merge_connection_types([connection_types_at(real_airflow.environment.path)]))
    assert ours == theirs
    kinds = {t["connection_type"] for t in ours}
    assert {"sqlite", "postgres", "http", "fs", "generic"} <= kinds
    postgres = next(t for t in ours if t["connection_type"] == "postgres")
    assert postgres["standard_fields"]["url_schema"]["title"] == "Database"


def leoflow(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LEOFLOW, *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**os.environ, "LEOFLOW_HOME": str(home)})


@pytest.mark.slow
def test_leoflow_providers_lists_a_dags_providers_with_their_versions(real_airflow, tmp_path):
    project = real_airflow.project(tmp_path / "warehouse", "warehouse",
                                   "from leoflow import DAG\n")
    installed = json.loads(in_env(real_airflow.python, VERSIONS, tmp_path))
    started = time.monotonic()
    listed = leoflow("providers", str(project), home=real_airflow.home)
    seconds = time.monotonic() - started
    assert listed.returncode == 0, listed.stderr
    assert "creating the environment" not in listed.stderr  # the same packages: reused
    assert seconds < 30
    lines = listed.stdout.splitlines()
    assert lines[0] == f"environment: {real_airflow.environment.path}"
    for name, version in installed.items():
        assert f"{name} {version}" in lines
    assert any(line.split() == ["sqlite", "airflow.providers.sqlite.hooks.sqlite.SqliteHook"]
               for line in lines)
    # by DAG id: the environment that DAG used last on this machine
    by_id = leoflow("providers", "warehouse", "--json", home=real_airflow.home)
    assert by_id.returncode == 0, by_id.stderr
    document = json.loads(by_id.stdout)
    assert document["environment"] == str(real_airflow.environment.path)
    assert {p["package_name"]: p["version"] for p in document["providers"]} == installed
    # a DAG id nobody built, and an environment that --no-build does not build
    unknown = leoflow("providers", "no_such_dag", home=real_airflow.home)
    assert unknown.returncode == 1
    assert "no DAG of that id has an environment on this machine" in unknown.stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "dag.py").write_text("from leoflow import DAG\n")
    (other / "leoflow.yaml").write_text("dag_id: other\ndependencies: [\"six==1.16.0\"]\n")
    unbuilt = leoflow("providers", str(other), "--no-build", home=real_airflow.home)
    assert unbuilt.returncode == 1
    assert "the environment of other is not built yet" in unbuilt.stderr


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "env" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    return site


def _dist(site: Path, name: str, module: str) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[apache_airflow_provider]\nprovider_info={module}:get_provider_info\n")


def test_provider_metadata_is_read_as_data_never_run(tmp_path):
    """A user's own provider (older style: the form's behaviour in the hook's
    ``get_ui_field_behaviour``), one whose info is computed, and one whose module would
    run code at import: the first is read, the second listed with its problem, and
    nothing of any of them runs."""
    site = _site(tmp_path)
    ran = tmp_path / "ran"
    package = site / "acme_provider"
    (package / "hooks").mkdir(parents=True)
    (package / "__init__.py").write_text(f"open({str(ran)!r}, 'w').write('imported')\n")
    (package / "info.py").write_text(
        f"open({str(ran)!r}, 'w').write('ran')\n"
        "def get_provider_info():\n"
        "    return {'package-name': 'acme-provider', 'name': 'Acme',\n"
        "            'connection-types': [{'connection-type': 'acme',\n"
        "                'hook-class-name': 'acme_provider.hooks.acme.AcmeHook',\n"
        "                'hook-name': 'Acme API'}]}\n")
    (package / "hooks" / "acme.py").write_text(
        "class AcmeHook:\n"
        "    @classmethod\n"
        "    def get_ui_field_behaviour(cls):\n"
        "        return {'hidden_fields': ['port'], 'relabeling': {'login': 'Client id'}}\n")
    _dist(site, "acme-provider", "acme_provider.info")
    (site / "computed.py").write_text(
        "import os\ndef get_provider_info():\n    return {'name': os.environ['NAME']}\n")
    _dist(site, "computed-provider", "computed")
    providers = {p.package_name: p for p in read_providers(tmp_path / "env")}
    assert set(providers) == {"acme-provider", "computed-provider"}
    acme = providers["acme-provider"]
    assert acme.problem is None and acme.version == "1.0" and acme.name == "Acme"
    (kind,) = acme.connection_types
    assert (kind.connection_type, kind.hook_name) == ("acme", "Acme API")
    assert kind.field_behaviour == {"hidden_fields": ["port"],
                                    "relabeling": {"login": "Client id"}, "placeholders": {}}
    (meta,) = hook_meta([kind])
    assert meta["standard_fields"]["port"] == {"hidden": True, "title": None,
                                               "placeholder": None}
    assert meta["standard_fields"]["login"]["title"] == "Client id"
    assert "not a literal" in (providers["computed-provider"].problem or "")
    assert providers["computed-provider"].connection_types == ()
    assert not ran.exists()  # no module of the environment was imported or run


async def test_the_api_offers_a_tenants_connection_types(real_airflow, tmp_path):
    from tests.integration.api.conftest import close_api, headers, open_api
    from tests.real_airflow import DEPENDENCIES

    venvs = tmp_path / "venvs"
    venvs.mkdir()
    # the session's environment is the one these contents name: content-addressed, it
    # is found under this plane's home by the same key
    env = real_airflow.environment
    (venvs / env.path.name).symlink_to(env.path, target_is_directory=True)
    api = await open_api(tmp_path / "home", f"sqlite+aiosqlite:///{tmp_path / 'l.db'}", venvs)
    try:
        await api.register_spec("with_providers", dependencies=list(DEPENDENCIES))
        await api.register_spec("without_providers", tenant="other")
        response = await api.get("/api/leoflow/connection-types")
        assert response.status_code == 200, response.text
        expected = hook_meta(merge_connection_types([connection_types_at(env.path)]))
        assert response.json() == expected
        providers = await api.get("/api/leoflow/dags/with_providers/providers")
        assert providers.status_code == 200, providers.text
        body = providers.json()
        assert body["built"] is True
        sqlite = next(p for p in body["providers"]
                      if p["package_name"] == "apache-airflow-providers-sqlite")
        assert sqlite["connection_types"][0]["connection_type"] == "sqlite"
        # another tenant: none of these types (its DAG has no providers), and not the DAG
        theirs = await api.client.get("/api/leoflow/connection-types",
                                      headers=headers("other-tenant-token"))
        assert theirs.status_code == 200 and theirs.json() == []
        hidden = await api.client.get("/api/leoflow/dags/with_providers/providers",
                                      headers=headers("other-tenant-token"))
        assert hidden.status_code == 404
    finally:
        await close_api(api)
