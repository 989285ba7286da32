"""Hot reload on a real control plane: real files, the real watcher, the compiler's child
process, per-DAG environments made by uv, the SQLite store."""

from __future__ import annotations

import asyncio
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from leoflow.app.controlplane import ControlPlane, start_control_plane
from leoflow.app.settings import Settings
from leoflow.engine.reload.errors import ReloadStep
from leoflow.engine.reload.events import ReloadEvent
from leoflow.engine.reload.reloader import Reloader
from leoflow.engine.store import dags, import_errors, runs
from tests.integration.lite.conftest import dag_source, write_project

TWO_TASKS = """
@task
def first() -> int:
    return 1

@task
def second(value: int) -> int:
    return value + 1

second(first())
"""
THREE_TASKS = TWO_TASKS + """
@task
def third() -> str:
    return "new"

third()
"""


class Events:
    """Collects a reloader's events; ``wait`` returns the first new one that matches."""

    def __init__(self) -> None:
        self.seen: list[ReloadEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: ReloadEvent) -> None:
        self.seen.append(event)
        self._changed.set()

    def mark(self) -> int:
        return len(self.seen)

    async def wait(self, kind: str, since: int = 0, timeout: float = 30.0,
                   where: Callable[[ReloadEvent], bool] = lambda e: True) -> ReloadEvent:
        async def find() -> ReloadEvent:
            while True:
                for event in self.seen[since:]:
                    if event.kind == kind and where(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)

    def kinds(self, since: int = 0) -> list[str]:
        return [e.kind for e in self.seen[since:]]


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    settings = Settings.load(env={}, overrides={"home": str(tmp_path / "home")})
    plane = await start_control_plane(settings)
    yield plane
    await plane.stop()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
async def reloader(workspace: Path, plane: ControlPlane) -> AsyncIterator[Any]:
    """A factory: ``await reloader()`` starts a reloader with an event collector."""
    made: list[Reloader] = []

    async def make(**options: Any) -> tuple[Reloader, Events]:
        reloader = Reloader(workspace, plane, **options)
        events = Events()
        reloader.subscribe(events)
        made.append(reloader)
        await reloader.start()
        await reloader.settled()
        return reloader, events

    yield make
    for reloader in made:
        await reloader.stop()


async def current_version(plane: ControlPlane, dag_id: str) -> Any:
    async with plane.store.connect() as conn:
        return await dags.current_version(conn, dag_id)


async def errors_of(plane: ControlPlane, filename: str) -> list[Any]:
    async with plane.store.connect() as conn:
        return list((await import_errors.list_import_errors(conn, filename=filename)).items)


async def test_lite_pauses_new_dags_that_a_clock_would_start(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    """A scheduled DAG registered for the first time waits for the user (Airflow's default);
    a DAG that runs only when triggered is active, so the first Trigger runs it."""
    write_project(workspace, "manual", TWO_TASKS)
    nightly = write_project(workspace, "nightly", TWO_TASKS)
    source = (nightly / "dag.py").read_text("utf-8")
    (nightly / "dag.py").write_text(source.replace("schedule=None", 'schedule="@daily"'), "utf-8")
    await reloader()
    await asyncio.sleep(0.5)  # a scheduler that would start a run has had its chance
    async with plane.store.connect() as conn:
        manual, scheduled = await dags.get_dag(conn, "manual"), await dags.get_dag(conn, "nightly")
        nightly_runs = await runs.count_runs(conn, "nightly")
    assert manual is not None and not manual.is_paused
    assert scheduled is not None and scheduled.is_paused
    assert nightly_runs == 0  # nothing ran by itself


async def test_an_empty_leoflow_yaml_is_not_yet_a_project_and_flashes_no_error(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    """A user creates leoflow.yaml and has not typed it yet: no import error, no failed
    status; once it says something, the project compiles."""
    project = write_project(workspace, "typed_later", TWO_TASKS)
    (project / "leoflow.yaml").write_text("", "utf-8")
    loader, events = await reloader()
    await loader.reload_now(project, force=True)
    assert await errors_of(plane, "typed_later/dag.py") == []
    assert not [e for e in events.seen if e.kind == "failed"]
    assert await current_version(plane, "typed_later") is None
    (project / "leoflow.yaml").write_text("dag_id: typed_later\n", "utf-8")
    await loader.reload_now(project, force=True)
    assert await current_version(plane, "typed_later") is not None


async def test_the_workspace_is_registered_at_start_unpaused(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    write_project(workspace, "one", TWO_TASKS)
    write_project(workspace / "team", "two", TWO_TASKS)
    loader, events = await reloader()
    assert {s.project: s.state for s in loader.statuses()} == {"one": "ok", "team/two": "ok"}
    async with plane.store.connect() as conn:
        dag = await dags.get_dag(conn, "two")
    assert dag is not None and not dag.is_paused
    assert dag.fileloc == "team/two/dag.py"  # relative to the workspace: portable
    compiled = [e for e in events.seen if e.kind == "compiled"]
    assert {e.dag_id for e in compiled} == {"one", "two"}
    assert all(e.new_version and e.version_number == 1 for e in compiled)


async def test_saving_a_dag_registers_a_new_version_within_five_seconds(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    project = write_project(workspace, "quick", TWO_TASKS)
    loader, events = await reloader()
    since = events.mark()
    saved = time.monotonic()
    (project / "dag.py").write_text(dag_source("quick", THREE_TASKS), "utf-8")
    event = await events.wait("compiled", since)
    latency = time.monotonic() - saved
    print(f"save → new version registered: {latency:.3f} s")
    # a bound a loaded CI machine keeps; the target, 1 s, is measured by bench/lite.py
    assert latency < 5.0
    # a new version, still number 1: a save replaces the draft no run has pinned yet
    assert event.version_number == 1 and event.new_version
    assert [t["task_id"] for t in event.spec["tasks"]] == ["first", "second", "third"]
    registered = await current_version(plane, "quick")
    assert registered.version_number == 1 and registered.is_draft
    assert [t["task_id"] for t in registered.spec["tasks"]] == ["first", "second", "third"]
    assert loader.status("quick").versions == {"quick": 1}


async def test_a_broken_file_keeps_the_last_good_version_runnable(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    project = write_project(workspace, "fragile", TWO_TASKS)
    loader, events = await reloader()
    good = (project / "dag.py").read_text("utf-8")
    since = events.mark()
    broken = good + "\nthis is not python(\n"
    (project / "dag.py").write_text(broken, "utf-8")
    failed = await events.wait("failed", since)
    line = len(broken.splitlines())
    assert (failed.file, failed.line) == ("fragile/dag.py", line)
    assert failed.error is not None and failed.error.kind == "syntax"
    assert loader.status("fragile").state == "failed"
    [error] = await errors_of(plane, "fragile/dag.py")
    assert error.message.startswith(f"fragile/dag.py:{line}: SyntaxError")
    # The last good version is still the current one, and it runs.
    assert (await current_version(plane, "fragile")).version_number == 1
    run = await plane.operations.trigger_run("fragile", triggered_by="test")

    async def finished() -> str:
        while True:
            async with plane.store.connect() as conn:
                state = (await runs.get_run_by_id(conn, run.id)).state
            if state in ("success", "failed"):
                return state
            await asyncio.sleep(0.05)

    assert await asyncio.wait_for(finished(), 60) == "success"
    # Fixing the file clears the error.
    since = events.mark()
    (project / "dag.py").write_text(good, "utf-8")
    await events.wait("compiled", since)
    assert await errors_of(plane, "fragile/dag.py") == []
    assert loader.status("fragile").ok


async def test_an_error_in_leoflow_yaml_points_at_it(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    project = write_project(workspace, "conf", TWO_TASKS)
    _loader, events = await reloader()
    since = events.mark()
    (project / "leoflow.yaml").write_text("dag_id: conf\nretries: [\n", "utf-8")
    failed = await events.wait("failed", since)
    assert failed.file == "conf/leoflow.yaml"
    [error] = await errors_of(plane, "conf/dag.py")
    assert error.message.startswith("conf/leoflow.yaml")


async def test_a_python_version_not_installed_points_at_python_version(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    """The kind and the line come from the environment error's class (PythonVersionNotFound),
    through the real environment manager and uv."""
    project = write_project(workspace, "oldpy", TWO_TASKS)
    _loader, events = await reloader()
    since = events.mark()
    (project / "leoflow.yaml").write_text('dag_id: oldpy\npython_version: "3.4"\n', "utf-8")
    failed = await events.wait("failed", since)
    assert failed.error is not None and failed.error.kind is ReloadStep.ENVIRONMENT
    assert (failed.file, failed.line) == ("oldpy/leoflow.yaml", 2)
    assert "Python 3.4" in failed.error.message
    [error] = await errors_of(plane, "oldpy/dag.py")
    assert error.message.startswith("oldpy/leoflow.yaml:2: the DAG's environment")


def make_wheel(folder: Path, name: str, value: int) -> Path:
    """A minimal pure-Python wheel, installable without any package index."""
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    files = {f"{name}/__init__.py": f"VALUE = {value}\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: leoflow-tests\n"
                              "Root-Is-Purelib: true\nTag: py3-none-any\n"}
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{info}/RECORD",
                         "".join(f"{p},,\n" for p in files) + f"{info}/RECORD,,\n")
    return wheel


async def test_a_dependency_change_rebuilds_the_environment_first(
        tmp_path: Path, workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    project = write_project(workspace, "deps", TWO_TASKS)
    _loader, events = await reloader()
    wheel = make_wheel(tmp_path, "leoflowtinydep", 42)
    # The DAG file imports the dependency at the top: only its own environment compiles it.
    body = "import leoflowtinydep\n\n" + dag_source("deps", TWO_TASKS)
    write_project(workspace, "deps", TWO_TASKS,
                  dependencies=[f"leoflowtinydep @ {wheel.as_uri()}"])
    since = events.mark()
    (project / "dag.py").write_text(body, "utf-8")
    compiled = await events.wait("compiled", since, timeout=120)
    progress = [e.message for e in events.seen[since:] if e.kind == "environment"]
    assert any("leoflowtinydep" in (line or "") for line in progress), progress
    assert events.kinds(since).index("environment") < events.kinds(since).index("compiled")
    assert compiled.spec["dependencies"] == [f"leoflowtinydep @ {wheel.as_uri()}"]


async def test_a_burst_of_saves_is_compiled_once_or_twice(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    project = write_project(workspace, "bursty", TWO_TASKS)
    loader, events = await reloader()
    since = events.mark()
    for number in range(10):
        (project / "dag.py").write_text(dag_source("bursty", TWO_TASKS)
                                        + f"# save {number}\n", "utf-8")
        await asyncio.sleep(0.005)
    await events.wait("compiled", since, where=lambda e: "save 9" in _source(plane, e))
    await asyncio.sleep(0.5)
    await loader.settled()
    assert events.kinds(since).count("compiling") <= 2, events.kinds(since)


def _source(plane: ControlPlane, event: ReloadEvent) -> str:
    return Path(event.project_dir, "dag.py").read_text("utf-8") if event.spec else ""


async def test_build_outputs_and_tool_folders_are_ignored(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    project = write_project(workspace, "calm", TWO_TASKS)
    _loader, events = await reloader()
    since = events.mark()
    (project / "dag.json").write_text("{}", "utf-8")
    (project / "notes.txt").write_text("hello", "utf-8")
    for folder in (".venv", "__pycache__", ".git"):
        (project / folder).mkdir()
        (project / folder / "x.py").write_text("x = 1\n", "utf-8")
    await asyncio.sleep(1.0)
    assert events.kinds(since) == []


async def test_reload_now_compiles_once_per_content(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    project = write_project(workspace, "direct", TWO_TASKS)
    loader, events = await reloader(watch=False)
    (project / "dag.py").write_text(dag_source("direct", THREE_TASKS), "utf-8")
    status = await loader.reload_now(project)
    assert status.ok and status.versions == {"direct": 1}  # the draft, replaced
    assert status.project_dir == project.resolve()
    since = events.mark()
    assert (await loader.reload_now("direct")).versions == {"direct": 1}
    assert events.kinds(since) == []  # nothing changed: nothing compiled
    await loader.reload_now("direct", force=True)
    assert events.kinds(since) == ["compiling", "compiled"]


async def test_a_new_project_is_picked_up_and_a_removed_one_forgotten(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    _loader, events = await reloader()
    since = events.mark()
    project = write_project(workspace, "fresh", TWO_TASKS)
    await events.wait("compiled", since, where=lambda e: e.dag_id == "fresh")
    since = events.mark()
    (project / "dag.py").write_text("broken(\n", "utf-8")
    await events.wait("failed", since)
    assert len(await errors_of(plane, "fresh/dag.py")) == 1
    since = events.mark()
    for path in project.iterdir():
        path.unlink()
    project.rmdir()
    await events.wait("removed", since)
    assert await errors_of(plane, "fresh/dag.py") == []
    assert await current_version(plane, "fresh") is not None  # history is kept
    async with plane.store.connect() as conn:
        assert (await dags.get_dag(conn, "fresh")).is_stale  # type: ignore[union-attr]
    # Back again, it is revived.
    since = events.mark()
    write_project(workspace, "fresh", TWO_TASKS)
    await events.wait("compiled", since)
    async with plane.store.connect() as conn:
        assert not (await dags.get_dag(conn, "fresh")).is_stale  # type: ignore[union-attr]


async def test_a_dag_renamed_in_its_file_leaves_the_old_one_stale(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    project = write_project(workspace, "named", TWO_TASKS)
    _loader, events = await reloader()
    since = events.mark()
    (project / "leoflow.yaml").write_text("dag_id: renamed\n", "utf-8")
    (project / "dag.py").write_text(dag_source("renamed", TWO_TASKS), "utf-8")
    await events.wait("compiled", since, where=lambda e: e.dag_id == "renamed")
    async with plane.store.connect() as conn:
        assert (await dags.get_dag(conn, "named")).is_stale  # type: ignore[union-attr]
        assert not (await dags.get_dag(conn, "renamed")).is_stale  # type: ignore[union-attr]


async def test_dags_whose_files_went_away_while_lite_was_off_are_stale(
        workspace: Path, plane: ControlPlane) -> None:
    async with plane.store.begin() as conn:
        await dags.upsert_dag(conn, "ghost", fileloc="ghost/dag.py")
        await dags.upsert_dag(conn, "pushed", fileloc=None)
    loader = Reloader(workspace, plane, watch=False)
    await loader.start()
    await loader.settled()
    await loader.stop()
    async with plane.store.connect() as conn:
        assert (await dags.get_dag(conn, "ghost")).is_stale  # type: ignore[union-attr]
        assert not (await dags.get_dag(conn, "pushed")).is_stale  # type: ignore[union-attr]


async def test_stale_import_errors_are_forgotten_at_start(
        workspace: Path, plane: ControlPlane, reloader: Any) -> None:
    async with plane.store.begin() as conn:
        await import_errors.record_import_error(conn, filename="gone/dag.py",
                                                message="gone/dag.py:1: old")
    write_project(workspace, "kept", TWO_TASKS)
    await reloader()
    assert await errors_of(plane, "gone/dag.py") == []
