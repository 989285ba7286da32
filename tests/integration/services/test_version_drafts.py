"""Versions that mean something: a save registers a draft that the next save replaces; a run
pins its version for good (and keeps it); a push is kept. "v3" is the third version that ran
or was pushed (or the draft being edited after them). Real store (SQLite and PostgreSQL), the
real scheduler loop, the scripted executor."""

from __future__ import annotations

from typing import Any

from leoflow.engine.store import dags
from tests.integration.scheduler.conftest import spec, task


def save(n: int, *extra: dict[str, Any]) -> dict[str, Any]:
    """The n-th save of the DAG being edited: each one differs from the others."""
    return spec("edited", task("a", retries=n), *extra)


async def versions(h: Any) -> list[tuple[int, bool]]:
    """(number, is_draft) of every stored version, oldest first."""
    async with h.store.connect() as conn:
        page = await dags.list_versions(conn, "edited", limit=None)
    return [(v.version_number, v.is_draft) for v in page.items]


async def current(h: Any) -> Any:
    async with h.store.connect() as conn:
        return await dags.current_version(conn, "edited")


async def draft_save(h: Any, doc: dict[str, Any]) -> Any:
    version = await h.ops.register_dag(doc, paused_on_create=False, draft=True)
    await h.settle()
    return version


async def test_saves_replace_the_draft_and_a_run_keeps_its_version(any_harness: Any) -> None:
    h = any_harness
    for n in range(5):  # five saves, no run
        await draft_save(h, save(n))
    assert await versions(h) == [(1, True)]  # one version, the last save's
    assert (await current(h)).spec["tasks"][0]["retries"] == 4

    run_id = await h.trigger("edited")
    pinned = (await h.run("edited", run_id)).dag_version_id
    assert await versions(h) == [(1, False)]  # the run kept it

    # more saves while the run is running: v2 is replaced save after save, v1 stays
    for n in range(5, 9):
        version = await draft_save(h, save(n, task("b", "a")))
    assert version.version_number == 2 and version.is_draft
    assert await versions(h) == [(1, False), (2, True)]
    async with h.store.connect() as conn:
        kept = await dags.get_version(conn, pinned)
    assert kept is not None and kept.version_number == 1
    assert kept.spec["tasks"][0]["retries"] == 4
    # the running run still runs what it started with: a only (b came with a later save)
    await h.finish("a")
    assert await h.run_state("edited", run_id) == "success"
    assert set(await h.states("edited", run_id)) == {"a"}

    h.clock.advance(1)
    second = await h.trigger("edited")  # v2 runs: the second version that ran
    assert (await h.run("edited", second)).dag_version_id == (await current(h)).id
    version = await draft_save(h, save(20))
    assert version.version_number == 3  # "v3": the next version after the two that ran
    assert await versions(h) == [(1, False), (2, False), (3, True)]


async def test_reverting_to_a_kept_version_drops_the_draft(any_harness: Any) -> None:
    h = any_harness
    first = await draft_save(h, save(1))
    await h.trigger("edited")
    await draft_save(h, save(2))
    assert await versions(h) == [(1, False), (2, True)]
    back = await draft_save(h, save(1))  # the file as it was when it ran
    assert back.id == first.id and await versions(h) == [(1, False)]
    assert (await draft_save(h, save(3))).version_number == 2  # no gap in the numbers


async def test_a_push_is_kept_and_takes_the_drafts_number(any_harness: Any) -> None:
    h = any_harness
    await draft_save(h, save(1))
    await draft_save(h, save(2))
    pushed = await h.ops.register_dag(save(2), paused_on_create=False)  # leoflow push
    assert (pushed.version_number, pushed.is_draft) == (1, False)
    assert (await draft_save(h, save(3))).version_number == 2
    other = await h.ops.register_dag(save(4), paused_on_create=False)  # a push of new code
    assert await versions(h) == [(1, False), (2, False)]  # the draft went, the push stays
    assert other.version_number == 2 and not other.is_draft


async def test_a_version_that_ran_stays_after_its_runs_are_deleted(any_harness: Any) -> None:
    h = any_harness
    await draft_save(h, save(1))
    await h.trigger("edited")
    await h.finish("a")
    await draft_save(h, save(2))
    assert await h.ops.delete_dag_history("edited") == 1
    await draft_save(h, save(3))
    assert await versions(h) == [(1, False), (2, True)]  # v1 ran once: it stays v1


async def test_the_audit_says_which_registrations_were_drafts(harness: Any) -> None:
    h = harness
    await draft_save(h, save(1))
    await h.ops.register_dag(save(2), paused_on_create=False)
    extras = [e.extra for e in await h.audit("edited") if e.event == "register_version"]
    assert [(e["version_number"], e["draft"]) for e in extras] == [(1, True), (1, False)]
