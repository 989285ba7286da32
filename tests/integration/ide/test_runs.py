"""Running DAGs from the IDE, on the real path (scheduler, subprocess agents, per-DAG
environments): trigger from the DAGs page, watch the squares turn green by push, open a
task instance, read its log and XCom, clear it and see it run again, mark it failed; the
Trigger dialog's form comes from the DAG's params."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from leoflow.engine.store import runs
from tests.integration.ide.conftest import Ide, wait_for


async def run_states(ide: Ide, dag_id: str) -> list[tuple[str, str]]:
    async with ide.plane.store.connect() as conn:
        page = await runs.list_runs(conn, dag_id=dag_id, order="id")
    return [(r.run_id, r.state) for r in page.items]


async def wait_run(ide: Ide, dag_id: str, count: int = 1, timeout: float = 60.0) -> str:
    async def done() -> str | None:
        states = await run_states(ide, dag_id)
        if len(states) >= count and states[count - 1][1] in ("success", "failed"):
            return states[count - 1][1]
        return None

    return await wait_for(done, timeout, f"run {count} of {dag_id} to finish")


def state_of(ide: Ide, testid: str) -> Any:
    found = ide.elements(testid)
    return found[0].props.get("data-state") if found else None


async def test_trigger_from_the_dags_page_and_follow_the_run_by_push(
        ide: Ide, environments: dict[str, Path]) -> None:
    await ide.register("examples/hello")
    await ide.plane.operations.set_paused("hello", False)
    await ide.login()
    await ide.see("hello")
    assert state_of(ide, "last-state-hello") == "none"
    (await ide.find("trigger-hello")).click()
    (await ide.find("trigger-submit")).click()
    await ide.see("Triggered manual__")
    assert await wait_run(ide, "hello") == "success"
    # the page was not reloaded: the squares and the last state changed by push
    await wait_for(lambda: state_of(ide, "last-state-hello") == "success",
                   what="the DAGs page to show the success")


async def test_task_instance_panel_log_xcom_clear_and_mark(
        ide: Ide, environments: dict[str, Path]) -> None:
    await ide.register("examples/hello")
    await ide.plane.operations.set_paused("hello", False)
    run = await ide.plane.operations.trigger_run("hello", triggered_by="test")
    assert await wait_run(ide, "hello") == "success"
    await ide.login()
    await ide.user.open(f"/dags/hello?run_id={quote(run.run_id)}&task_id=shout")
    await ide.element("task-panel")
    assert (await ide.element("ti-state")).props["data-state"] == "success"
    log = await ide.element("task-log")
    await wait_for(lambda: any("HELLO, LEOFLOW!" in getattr(c, "text", "")
                               for c in log.default_slot.children), what="the task's log")
    await wait_for(lambda: "try 1 finished" in (ide.elements("log-status") or [None])[0].text,
                   what="the log to end with the try")
    xcom = await ide.element("xcom-return_value")
    assert xcom.content.strip() == '"HELLO, LEOFLOW!"' or '"HELLO, LEOFLOW!"' in xcom.content

    # the grid shows the run's cells
    grid_cells = [e for e in ide.user.client.elements.values()
                  if e.props.get("data-task") == "make_greeting"]
    assert grid_cells and grid_cells[0].props["data-state"] == "success"

    # clear it: it runs again (try 2), and the panel follows the new try by itself
    (await ide.find("ti-clear")).click()
    (await ide.find("clear-confirm")).click()
    await wait_for(lambda: (ide.elements("log-try") or [None])[0].value == 2, timeout=60,
                   what="the panel to follow try 2")
    assert await wait_run(ide, "hello") == "success"
    await wait_for(lambda: state_of(ide, "ti-state") == "success", timeout=30,
                   what="the cleared task to succeed again")
    await wait_for(lambda: "try 2 finished" in ide.elements("log-status")[0].text,
                   what="the log of try 2")

    # mark it failed by hand
    (await ide.find("ti-mark-failed")).click()
    await wait_for(lambda: state_of(ide, "ti-state") == "failed", what="marked failed")


async def test_the_trigger_form_comes_from_the_params(
        ide: Ide, environments: dict[str, Path]) -> None:
    await ide.register("examples/montecarlo_pi")
    # Lite's reloader creates DAGs active; paused, the dialog says how to run the trigger
    await ide.plane.operations.set_paused("montecarlo_pi", True)
    await ide.login()
    await ide.user.open("/dags/montecarlo_pi")
    (await ide.find("dag-trigger")).click()
    workers = await wait_for(lambda: [e for e in ide.user.client.elements.values()
                                      if e.props.get("data-param") == "workers"],
                             what="the params form")
    assert workers[0].value == 8
    # the bounds are shown, not enforced by the input (it would clamp 100 to 64 silently)
    assert workers[0].props.get("label") == "workers (1 to 64)"
    assert workers[0].props.get("max") is None
    await ide.see("Unpause the DAG")

    conf = await ide.find("trigger-conf")
    conf.clear().type("[1, 2]")
    (await ide.find("trigger-submit")).click()
    await ide.see("conf: must be a JSON object")

    conf.clear().type("{}")
    workers[0].value = 100
    (await ide.find("trigger-submit")).click()
    await ide.see("workers: must be at most 64, got 100")  # the value sent, not a clamped one
    assert await run_states(ide, "montecarlo_pi") == []

    workers[0].value = 3
    (await ide.find("trigger-submit")).click()
    await ide.see("Triggered manual__")
    async with ide.plane.store.connect() as conn:
        page = await runs.list_runs(conn, dag_id="montecarlo_pi")
    assert [r.conf for r in page.items] == [{"workers": 3}]
    assert await wait_run(ide, "montecarlo_pi") == "success"
    await wait_for(lambda: state_of(ide, "dag-paused-toggle") is None
                   and ide.elements("dag-paused-toggle")[0].value is True,
                   what="the page to show the DAG active")


async def test_pause_toggle_and_import_errors_banner(ide: Ide) -> None:
    from leoflow.engine.store import dags

    async def is_paused() -> bool | None:
        async with ide.plane.store.connect() as conn:
            row = await dags.get_dag(conn, "hello")
        return None if row is None else row.is_paused

    await ide.register("examples/hello")
    await ide.login()
    toggle = await ide.element("pause-hello")
    assert toggle.value is True  # Lite's reloader creates DAGs active
    toggle.value = False
    await wait_for(lambda: is_paused(), what="the DAG to be paused")
    toggle.value = True

    async def unpaused() -> bool:
        return await is_paused() is False

    await wait_for(unpaused, what="the DAG to be unpaused")

    # a project that does not compile, saved from another editor: the reloader records its
    # import error and tells the page
    broken = ide.workspace / "broken"
    broken.mkdir()
    (broken / "leoflow.yaml").write_text(
        (ide.workspace / "examples/hello/leoflow.yaml").read_text().replace(
            "dag_id: hello", "dag_id: broken"))
    (broken / "dag.py").write_text("from leoflow import DAG\n\ndef oops(:\n")
    await ide.see("1 import error", timeout=60)
    await ide.see("broken/dag.py:3")


async def test_a_deferred_sensor_says_what_it_waits_for_then_succeeds_by_push(
        ide: Ide, tmp_path: Path, environments: dict[str, Path]) -> None:
    """A FileSensor waiting in the control plane (no process): the panel says which file it
    waits for and until when, and turns green by itself once the file lands. The DAG is a
    project in the workspace, registered by Lite's hot reloader as a save would."""
    inbox = tmp_path / "inbox.csv"
    project = ide.workspace / "waits"
    project.mkdir()
    (project / "leoflow.yaml").write_text(
        'dag_id: waits\npython_version: "3.11"\ndependencies: []\n')
    (project / "dag.py").write_text(
        "from datetime import datetime\n\nfrom leoflow import DAG, FileSensor\n\n"
        'with DAG(dag_id="waits", schedule=None, start_date=datetime(2026, 1, 1)):\n'
        f"    FileSensor(task_id=\"wait_for_file\", filepath={str(inbox)!r},\n"
        "               deferrable=True, poke_interval=0.2, timeout=600)\n")
    await ide.register("waits")
    run = await ide.plane.operations.trigger_run("waits", triggered_by="test")
    await ide.login()
    await ide.user.open(f"/dags/waits?run_id={quote(run.run_id)}&task_id=wait_for_file")
    await wait_for(lambda: state_of(ide, "ti-state") == "deferred", timeout=30,
                   what="the sensor to be deferred")
    waiting = await ide.element("ti-trigger")
    await ide.see(f"Waiting for a file matching {inbox}, until ")
    assert waiting.visible
    inbox.write_text("order,amount\n")
    await wait_for(lambda: state_of(ide, "ti-state") == "success", timeout=30,
                   what="the sensor to succeed once the file is there")
    await wait_for(lambda: not ide.elements("ti-trigger"), timeout=10,
                   what="the waiting line to go once it no longer waits")
    assert await wait_run(ide, "waits") == "success"
