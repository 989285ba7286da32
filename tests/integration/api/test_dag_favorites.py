"""Favourite DAGs (the Airflow UI's star): per user, in the caller's tenant, listed by
``GET /api/v2/dags?is_favorite=``, with Airflow's 404 and 409."""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _ids(api: Api, query: str, token: str = "admin-token") -> list[str]:
    found = (await api.get(f"/api/v2/dags?dag_id_pattern=fav_&{query}", token)).json()
    return [d["dag_id"] for d in found["dags"]]


async def test_favourites_are_per_user_and_filter_the_dag_list(api: Api) -> None:
    for dag_id in ("fav_a", "fav_b", "fav_c"):
        await api.register_spec(dag_id)
    await api.register_spec("fav_hidden", tenant="other")
    for dag_id in ("fav_b", "fav_c", "fav_c"):  # twice is not an error
        answer = await api.post(f"/api/v2/dags/{dag_id}/favorite")
        assert (answer.status_code, answer.content) == (204, b""), answer.text
    assert (await api.post("/api/v2/dags/fav_a/favorite", token="viewer-token")
            ).status_code == 204

    assert await _ids(api, "is_favorite=true") == ["fav_b", "fav_c"]
    assert await _ids(api, "is_favorite=false") == ["fav_a"]
    found = (await api.get("/api/v2/dags?dag_id_pattern=fav_&is_favorite=true")).json()
    assert found["total_entries"] == 2
    assert await _ids(api, "is_favorite=true", "viewer-token") == ["fav_a"]
    assert await _ids(api, "") == ["fav_a", "fav_b", "fav_c"]

    details = "/api/v2/dags/fav_b/details"
    assert (await api.get(details)).json()["is_favorite"] is True
    assert (await api.get(details, "viewer-token")).json()["is_favorite"] is False
    assert (await api.post("/api/v2/dags/fav_b/unfavorite")).status_code == 204
    assert (await api.get(details)).json()["is_favorite"] is False
    assert await _ids(api, "is_favorite=true") == ["fav_c"]
    again = await api.post("/api/v2/dags/fav_b/unfavorite")
    assert (again.status_code, again.json()) == (409, {"detail": "Dag is not marked as favorite"})
    for path in ("/api/v2/dags/fav_hidden/favorite", "/api/v2/dags/no_such/unfavorite"):
        assert (await api.post(path)).status_code == 404, path
    assert await _ids(api, "is_favorite=true", "other-tenant-token") == []
