"""``DELETE …/xcomEntries/{key}`` (the Airflow UI's XCom delete button): one key at one map
index goes, the others stay; Airflow's 404 for one that is not there; tenant and role."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.integration.api.conftest import Api, headers

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_deleting_one_xcom_entry(api: Api) -> None:
    await api.register_spec("xdel", tasks=1)
    run = await api.plane.operations.trigger_run("xdel", allow_paused=True)
    base = f"/api/v2/dags/xdel/dagRuns/{quote(run.run_id, safe='')}/taskInstances/t0/xcomEntries"
    for key, index in (("a", -1), ("a", 0), ("b", -1)):
        made = await api.post(base, json={"key": key, "value": [key, index], "map_index": index})
        assert made.status_code == 201, made.text

    async def delete(path: str, token: str = "admin-token") -> tuple[int, bytes]:
        answer = await api.client.delete(base + path, headers=headers(token))
        return answer.status_code, answer.content

    assert (await delete("/a", "viewer-token"))[0] == 403
    assert (await delete("/a", "other-tenant-token"))[0] == 404
    assert await delete("/a") == (204, b"")  # map_index -1 by default
    assert (await api.get(f"{base}/a")).status_code == 404
    assert (await api.get(f"{base}/a?map_index=0")).json()["value"] == ["a", 0]
    assert (await api.get(f"{base}/b")).json()["value"] == ["b", -1]
    missing = await api.client.delete(base + "/a", headers=headers())
    assert (missing.status_code, missing.json()) == (404, {
        "detail": "The XCom with key: `a` with mentioned task instance doesn't exist."})
    assert await delete("/a?map_index=0") == (204, b"")
    listed = (await api.get(base)).json()
    assert [(e["key"], e["map_index"]) for e in listed["xcom_entries"]] == [("b", -1)]
    assert listed["total_entries"] == 1
