"""``/api/v2/backfills`` on a real control plane (SQLite): the dates are the timetable's with
the data intervals the scheduler would give, at most ``max_active_runs`` of a backfill's runs
are queued or running, the next start as those end, pause and cancel hold, and the refusals
carry Airflow's statuses and messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from leoflow.engine.spec.canonical import with_content_hash
from tests.integration.api.client_models import parse
from tests.integration.api.conftest import (
    Api,
    close_api,
    headers,
    open_api,
    scratch_postgres,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module",
                        params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              shared_venvs: Path) -> AsyncIterator[Api]:
    """The control plane on each metadata backend (backfills are SQL of their own)."""
    home = tmp_path_factory.mktemp("home")
    if request.param == "sqlite":
        opened = await open_api(home, f"sqlite+aiosqlite:///{(home / 'leoflow.db').as_posix()}",
                                shared_venvs)
        yield opened
        await close_api(opened)
        return
    with scratch_postgres(request.getfixturevalue("postgres_server")) as url:
        opened = await open_api(home, url, shared_venvs)
        yield opened
        await close_api(opened)

MIDNIGHT = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
EMPTY = {"operator": "empty", "trigger_rule": "all_success", "inputs": {"args": [], "kwargs": {}}}


# a run that lasts a little (a sensor deferred in the control plane for 0.3 s): a backfill's
# next dates then start only when the scheduler tells that one of its runs ended
SETTLE = {"task_id": "settle", "operator": "sensor", "upstream": [],
          "trigger_rule": "all_success", "inputs": {"args": [], "kwargs": {}},
          "sensor": {"mode": "poke", "poke_interval": 60.0, "timeout": 600.0,
                     "soft_fail": False, "exponential_backoff": False, "max_wait": None,
                     "trigger": {"kind": "time", "kwargs": {"delta": 0.3, "from": "now"}}}}


async def _daily(api: Api, dag_id: str, *, paused: bool, **schedule: Any) -> None:
    await api.plane.operations.register_dag(with_content_hash({
        "schema_version": 1, "dag_id": dag_id, "catchup": False,
        "schedule": {"kind": "cron", "cron": "0 0 * * *", **schedule},
        "start_date": "2026-01-01T00:00:00Z",
        "tasks": [SETTLE, {**EMPTY, "task_id": "load", "upstream": ["settle"]}]}),
        source_code="# daily\n", fileloc=f"/dags/{dag_id}.py", paused_on_create=paused)


def _body(dag_id: str, first: int, last: int, **extra: Any) -> dict[str, Any]:
    """A backfill from ``first`` days ago to ``last`` days ago (both midnights)."""
    return {"dag_id": dag_id, "from_date": (MIDNIGHT - timedelta(days=first)).isoformat(),
            "to_date": (MIDNIGHT - timedelta(days=last)).isoformat(), **extra}


async def _put(api: Api, path: str, token: str = "admin-token") -> Any:
    return await api.client.put(path, headers=headers(token))


async def _runs(api: Api, dag_id: str) -> list[dict[str, Any]]:
    found = (await api.get(f"/api/v2/dags/{dag_id}/dagRuns?run_type=backfill&limit=100"
                           "&order_by=logical_date")).json()
    return list(found["dag_runs"])


async def _completed(api: Api, backfill_id: int, timeout: float = 60.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = (await api.get(f"/api/v2/backfills/{backfill_id}")).json()
        if body["completed_at"] is not None:
            return dict(body)
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)


async def test_a_backfill_runs_every_date_a_few_at_a_time(api: Api) -> None:
    await _daily(api, "bf_daily", paused=False, data_interval=True)
    dry = await api.post("/api/v2/backfills/dry_run", json=_body("bf_daily", 5, 2))
    assert dry.status_code == 200, dry.text
    planned = parse("DryRunBackfillCollectionResponse", dry.json())
    days = [MIDNIGHT - timedelta(days=n) for n in (5, 4, 3, 2)]
    assert [b.logical_date for b in planned.backfills] == days
    assert planned.total_entries == 4
    backwards = (await api.post("/api/v2/backfills/dry_run",
                                json=_body("bf_daily", 5, 2, run_backwards=True))).json()
    assert [b["logical_date"] for b in backwards["backfills"]] == [
        b["logical_date"] for b in dry.json()["backfills"]][::-1]

    created = await api.post("/api/v2/backfills", json=_body(
        "bf_daily", 5, 2, max_active_runs=2, dag_run_conf={"why": "backfill"}))
    assert created.status_code == 200, created.text
    made = parse("BackfillResponse", created.json())
    assert (made.dag_id, made.max_active_runs, made.is_paused) == ("bf_daily", 2, False)

    # only the runs are read meanwhile (no backfill request): the scheduler's listener
    # starts the next dates as runs end
    active_seen = 0
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        runs = await _runs(api, "bf_daily")
        active_seen = max(active_seen, sum(r["state"] in ("queued", "running") for r in runs))
        if len(runs) == 4 and all(r["state"] == "success" for r in runs):
            break
        assert asyncio.get_running_loop().time() < deadline, runs
        await asyncio.sleep(0.02)
    assert active_seen <= 2
    await _completed(api, made.id)
    runs = await _runs(api, "bf_daily")
    assert [parse("DAGRunResponse", r).logical_date for r in runs] == days
    for run, day in zip(runs, days, strict=True):
        assert (run["state"], run["run_type"], run["conf"]) == ("success", "backfill",
                                                               {"why": "backfill"})
        assert run["dag_run_id"] == f"backfill__{day.isoformat()}"
        # the scheduler's data interval for the day, not a manual run's inferred one
        interval = (run["data_interval_start"], run["data_interval_end"])
        assert tuple(datetime.fromisoformat(v.replace("Z", "+00:00")) for v in interval) == (
            day, day + timedelta(days=1))

    # every date ran: with reprocess "none" nothing is left to do, with "completed" all again
    nothing = (await api.post("/api/v2/backfills/dry_run", json=_body("bf_daily", 5, 2))).json()
    assert nothing == {"backfills": [], "total_entries": 0}
    idle = await api.post("/api/v2/backfills", json=_body("bf_daily", 5, 2))
    assert idle.status_code == 200, idle.text
    assert idle.json()["completed_at"] is not None  # created completed, as Airflow's
    redo = await api.post("/api/v2/backfills", json=_body(
        "bf_daily", 3, 2, reprocess_behavior="completed"))
    assert redo.status_code == 200, redo.text
    await _completed(api, redo.json()["id"])
    tries = (await api.get("/api/v2/dags/bf_daily/dagRuns/"
                           f"backfill__{days[2].isoformat()}/taskInstances/load")).json()
    assert tries["try_number"] == 2 and tries["state"] == "success"
    listed = (await api.get("/api/v2/backfills?dag_id=bf_daily&order_by=-id")).json()
    assert listed["total_entries"] == 3
    assert [b["id"] for b in listed["backfills"]] == sorted(
        (made.id, idle.json()["id"], redo.json()["id"]), reverse=True)


async def test_pause_holds_and_cancel_fails_the_queued_runs(api: Api) -> None:
    await _daily(api, "bf_paused", paused=True)  # its runs stay queued while it is paused
    made = (await api.post("/api/v2/backfills", json=_body("bf_paused", 6, 1,
                                                           max_active_runs=2))).json()
    assert made["completed_at"] is None
    assert [r["state"] for r in await _runs(api, "bf_paused")] == ["queued", "queued"]
    again = await api.post("/api/v2/backfills", json=_body("bf_paused", 6, 1))
    assert (again.status_code, again.json()) == (
        409, {"detail": "There is already a running backfill for dag bf_paused"})
    paused = (await _put(api, f"/api/v2/backfills/{made['id']}/pause")).json()
    assert paused["is_paused"] is True
    await api.get(f"/api/v2/backfills/{made['id']}")  # a request lets backfills catch up
    assert len(await _runs(api, "bf_paused")) == 2
    assert (await _put(api, f"/api/v2/backfills/{made['id']}/unpause")).json()["is_paused"] is False
    assert len(await _runs(api, "bf_paused")) == 2  # still two queued: the limit holds

    cancelled = await _put(api, f"/api/v2/backfills/{made['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["completed_at"] is not None
    assert [r["state"] for r in await _runs(api, "bf_paused")] == ["failed", "failed"]
    for verb in ("pause", "unpause", "cancel"):
        late = await _put(api, f"/api/v2/backfills/{made['id']}/{verb}")
        assert (late.status_code, late.json()) == (
            409, {"detail": f"Backfill {made['id']} is already completed"}), verb


@pytest.mark.parametrize(("body", "status", "detail"), [
    (_body("bf_paused", 1, 3), 422, "must not be after to_date"),
    (_body("bf_paused", -3, -5), 422, "Backfill cannot be executed for future dates."),
    (_body("bf_paused", 0, 0) | {"from_date": MIDNIGHT.replace(hour=1).isoformat(),
                                 "to_date": MIDNIGHT.replace(hour=2).isoformat()},
     422, "No runs to create for Dag bf_paused"),
    (_body("bf_none", 3, 1), 422, "bf_none has a non-periodic schedule that does not support"),
    (_body("no_such_dag", 3, 1), 404, "Could not find dag no_such_dag"),
])
async def test_refusals_carry_airflows_status_and_message(
        api: Api, body: dict[str, Any], status: int, detail: str) -> None:
    await api.register_spec("bf_none")
    for path in ("/api/v2/backfills", "/api/v2/backfills/dry_run"):
        answer = await api.post(path, json=body)
        assert answer.status_code == status, answer.text
        assert detail in answer.json()["detail"], answer.json()


async def test_backfills_keep_to_their_tenant_and_role(api: Api) -> None:
    made = (await api.post("/api/v2/backfills", json=_body("bf_paused", 4, 3))).json()
    assert (await api.get(f"/api/v2/backfills/{made['id']}",
                          token="other-tenant-token")).status_code == 404
    assert (await api.get("/api/v2/backfills?dag_id=bf_paused",
                          token="other-tenant-token")).json()["total_entries"] == 0
    assert (await _put(api, f"/api/v2/backfills/{made['id']}/cancel",
                          token="viewer-token")).status_code == 403
    assert (await api.post("/api/v2/backfills", json=_body("bf_daily", 9, 8),
                           token="viewer-token")).status_code == 403
    assert (await api.get(f"/api/v2/backfills/{made['id']}",
                          token="viewer-token")).status_code == 200
    assert (await api.get("/api/v2/backfills/987654")).json() == {
        "detail": "Could not find backfill with id 987654"}
