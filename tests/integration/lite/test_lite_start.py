"""What Lite's short start must not change: the first answers after the banner are the
real ones. The admin's password is hashed in a background thread while Lite builds, the
collector is paused during the start and Alembic is imported only to migrate; these tests
hold the behaviour (not the timing) in a real ``leoflow lite`` subprocess."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from leoflow.engine.store import schema
from leoflow.engine.store.database import create_engine
from tests.integration.lite.conftest import LiteDirs

pytestmark = pytest.mark.slow


def test_a_login_right_after_the_start_works_and_the_first_page_renders(
        bare_lite_dirs: LiteDirs, start_lite: object) -> None:
    lite = start_lite(bare_lite_dirs)  # type: ignore[operator]
    url = lite.wait_for(r"is ready in [\d.]+ s: (http://\S+)").group(1)
    password = lite.wait_for(r"^\s+password\s+(\S+)\s*$", 10).group(1)
    # at once: no wait for health, the first request is the login
    answer = httpx.post(f"{url}/auth/token", timeout=30,
                        json={"username": "admin", "password": password})
    assert answer.status_code == 201, answer.text
    token = answer.json()["access_token"]
    me = httpx.get(f"{url}/api/v2/dags", headers={"Authorization": f"Bearer {token}"},
                   timeout=30)
    assert me.status_code == 200, me.text
    wrong = httpx.post(f"{url}/auth/token", timeout=30,
                       json={"username": "admin", "password": password + "x"})
    unknown = httpx.post(f"{url}/auth/token", timeout=30,
                         json={"username": "nobody", "password": password})
    assert (wrong.status_code, unknown.status_code) == (401, 401)
    page = httpx.get(f"{url}/login", timeout=30)
    assert page.status_code == 200
    assert "Leoflow Lite" in page.text and "password" in page.text.lower()
    # the new store was migrated by the child (lite_migrate) before the control plane opened it
    assert bare_lite_dirs.query(f"SELECT version_num FROM {schema.VERSION_TABLE}") == [
        (schema.head_revision(),)]
    assert lite.stop() == 0


def test_a_chosen_bootstrap_password_works_right_after_the_start(
        bare_lite_dirs: LiteDirs, start_lite: object) -> None:
    bare_lite_dirs.env["LEOFLOW_BOOTSTRAP_PASSWORD"] = "chosen-password-1"
    lite = start_lite(bare_lite_dirs)  # type: ignore[operator]
    url = lite.wait_for(r"is ready in [\d.]+ s: (http://\S+)").group(1)
    answer = httpx.post(f"{url}/auth/token", timeout=30,
                        json={"username": "admin", "password": "chosen-password-1"})
    assert answer.status_code == 201, answer.text
    assert "chosen-password-1" not in lite.output  # never printed
    assert lite.stop() == 0


def test_a_store_made_by_an_older_migration_is_upgraded_at_start(
        bare_lite_dirs: LiteDirs, start_lite: object) -> None:
    older = schema.known_revisions()[-2]
    bare_lite_dirs.home.mkdir(mode=0o700, parents=True)

    async def make_older() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{bare_lite_dirs.database}")
        try:
            await schema.migrate(engine, older)
        finally:
            await engine.dispose()

    asyncio.run(make_older())
    bare_lite_dirs.database.chmod(0o600)
    assert bare_lite_dirs.query(
        f"SELECT version_num FROM {schema.VERSION_TABLE}") == [(older,)]
    lite = start_lite(bare_lite_dirs)  # type: ignore[operator]
    lite.wait_ready()
    assert bare_lite_dirs.query(f"SELECT version_num FROM {schema.VERSION_TABLE}") == [
        (schema.head_revision(),)]
    with lite.login() as client:  # the admin made on the upgraded store logs in
        assert client.get("/api/v2/dags").status_code == 200
    assert lite.stop() == 0
