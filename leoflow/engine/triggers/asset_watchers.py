"""Asset watchers: ``Asset(..., watchers=[AssetWatcher(name, trigger=FileDeleteTrigger(...))])``.

A watcher's trigger (kind ``file_delete``: ``FileDeleteTrigger(filepath)`` or
``DirectoryFileDeleteTrigger(directory=, filename=)``) runs in the control plane, beside the
trigger runner, and is owned by the scheduler like it: ``Scheduler.start``/``stop`` start and
stop the watchers, so in HA only the leader watches and the watching moves with leadership.

Which watchers run is Airflow's rule (``_find_active_assets``): the watchers of an asset run
while at least one active DAG (unpaused, not stale) has the asset in its schedule. The
declarations are the ``asset_watcher`` rows that ``services.assets.register_dag_assets``
writes for each DAG's current version, so a restart resumes every watcher from the store,
and ``refresh`` (called when the scheduler is told a DAG changed: registered, paused,
unpaused, deleted; and every ``REFRESH_SECONDS`` for changes that tell nobody) starts the
new ones and stops those whose rule no longer holds. Two watchers with the same trigger
(kind and kwargs) share one poll, as Airflow shares one trigger row between assets.

When the watched file is there, the watcher deletes it (Airflow's trigger deletes before it
yields its event; a file that another watcher removed first is a lost race: no event) and
emits one asset event per watched asset through ``emit`` (``services.assets.create_event``:
stored, queued and the consumer runs created in one transaction) with Airflow's extra
``{"from_trigger": True, "payload": ...}`` (``True`` for ``FileDeleteTrigger``,
``{"filepath": ...}`` for ``DirectoryFileDeleteTrigger``). Then it keeps watching: the next
file makes the next event. The delay from a file's creation to its runs is at most one
``poke_interval`` (plus the poll itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from leoflow.engine.clock import Clock
from leoflow.engine.store import Store
from leoflow.engine.store import assets as st
from leoflow.engine.triggers.base import TriggerError, poke_interval

log = logging.getLogger("leoflow.assets.watchers")

KINDS = ("file_delete",)
DEFAULT_POKE_INTERVAL = 5.0  # Airflow's FileDeleteTrigger / DirectoryFileDeleteTrigger
REFRESH_SECONDS = 30.0


class Emit(Protocol):
    """``services.assets.create_event``'s shape (injected: services import this package)."""

    def __call__(self, conn: AsyncConnection, *, tenant: str, asset_id: int,
                 extra: Mapping[str, Any] | None, now: datetime
                 ) -> Awaitable[tuple[Any, list[int]]]: ...


@dataclass
class Watch:
    """One running trigger and the assets (with their watchers' names) it emits for."""

    kind: str
    kwargs: dict[str, Any]
    assets: dict[int, tuple[str, list[str]]] = field(default_factory=dict)  # id → tenant, names
    task: asyncio.Task[None] | None = None
    fired: int = 0


def trigger_key(kind: str, kwargs: Mapping[str, Any]) -> str:
    return json.dumps([kind, kwargs], sort_keys=True, default=str)


def target(kind: str, kwargs: Mapping[str, Any]) -> str:
    """The file a ``file_delete`` trigger waits for; ``TriggerError`` names a bad field."""
    if kind not in KINDS:
        raise TriggerError(f"an asset watcher cannot run trigger kind {kind!r}; the control "
                           f"plane runs {', '.join(KINDS)}", field="watchers.trigger.kind")
    if kwargs.get("filepath"):
        return str(kwargs["filepath"])
    directory, filename = kwargs.get("directory"), kwargs.get("filename")
    if not directory or not filename:
        raise TriggerError("a file_delete trigger needs filepath, or directory and filename",
                           field="watchers.trigger.kwargs")
    return os.path.join(str(directory), str(filename))


def take(path: str) -> bool:
    """Delete ``path`` when it is a file; whether this call deleted it."""
    if not os.path.isfile(path):
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:  # another watcher or process was faster
        return False
    return True


class AssetWatchers:
    """The running watchers of one control plane (the scheduler's); see the docstring."""

    def __init__(self, store: Store, clock: Clock, *, emit: Emit,
                 wake_run: Callable[[int], None],
                 refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.store = store
        self.clock = clock
        self.emit = emit
        self.wake_run = wake_run
        self.refresh_seconds = refresh_seconds
        self.running = False
        self.watches: dict[str, Watch] = {}
        self.events = 0  # asset events emitted (diagnostics, tests)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start every watcher the store's rows and Airflow's rule ask for."""
        self.running = True
        await self.refresh()
        self._task = asyncio.create_task(self._refresher(), name="leoflow-asset-watchers")

    async def stop(self) -> None:
        """Stop watching (the rows stay: the next start, here or on another replica,
        resumes)."""
        self.running = False
        tasks = [t for t in (self._task, *(w.task for w in self.watches.values())) if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        self.watches.clear()

    def refresh_soon(self) -> None:
        """A DAG changed (registered, paused, unpaused, deleted): re-read the watchers."""
        if self.running:
            self._wake.set()

    async def _refresher(self) -> None:
        while self.running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.refresh_seconds)
            self._wake.clear()
            try:
                await self.refresh()
            except Exception:  # the store may be briefly away; the next round retries
                log.exception("cannot refresh the asset watchers")

    async def desired(self) -> dict[str, Watch]:
        """The watchers that should run now, one per distinct trigger."""
        wanted: dict[str, Watch] = {}
        tenants: dict[int, str | None] = {}  # asset id → its tenant, None: not watched now
        async with self.store.connect() as conn:
            for row in await st.list_watchers(conn, active_only=False):
                if row.asset_id not in tenants:
                    asset = await st.get_asset(conn, row.asset_id)
                    scheduled = asset is not None and bool(await st.dags_naming(
                        conn, asset, kind="schedule", active_only=True))
                    tenants[row.asset_id] = asset.tenant if scheduled and asset else None
                tenant = tenants[row.asset_id]
                if tenant is None:
                    continue
                trigger = row.trigger or {}
                kind, kwargs = str(trigger.get("kind")), dict(trigger.get("kwargs") or {})
                watch = wanted.setdefault(trigger_key(kind, kwargs), Watch(kind, kwargs))
                watch.assets.setdefault(row.asset_id, (tenant, []))[1].append(row.name)
        return wanted

    async def refresh(self) -> None:
        """Start the watchers that should run and are not running; stop the others."""
        if not self.running:
            return
        wanted = await self.desired()
        for key in [k for k in self.watches if k not in wanted]:
            watch = self.watches.pop(key)
            if watch.task is not None:
                watch.task.cancel()
            log.info("asset watcher stopped: %s", _names(watch))
        for key, watch in wanted.items():
            current = self.watches.get(key)
            if current is not None:
                current.assets = watch.assets  # the same trigger, maybe other assets now
                continue
            try:
                path = target(watch.kind, watch.kwargs)
                interval = poke_interval({"poke_interval": watch.kwargs.get(
                    "poke_interval", DEFAULT_POKE_INTERVAL)})
            except TriggerError as exc:
                log.error("asset watcher %s cannot run: %s (%s)", _names(watch), exc,
                          exc.field)
                continue
            self.watches[key] = watch
            watch.task = asyncio.create_task(self._watch(watch, path, interval),
                                             name=f"leoflow-asset-watcher-{_names(watch)}")
            log.info("asset watcher started: %s waits for %s every %gs", _names(watch),
                     path, interval)

    async def _watch(self, watch: Watch, path: str, interval: float) -> None:
        while self.running:
            try:
                if await asyncio.to_thread(take, path):
                    await self._fire(watch, path)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("asset watcher %s failed a poll of %s", _names(watch), path)
            await asyncio.sleep(interval)

    async def _fire(self, watch: Watch, path: str) -> None:
        payload: Any = True if watch.kwargs.get("filepath") else {"filepath": path}
        extra = {"from_trigger": True, "payload": payload}
        now = self.clock.now()
        created: list[int] = []
        async with self.store.begin() as conn:
            for asset_id, (tenant, _) in watch.assets.items():
                _, runs = await self.emit(conn, tenant=tenant, asset_id=asset_id, extra=extra,
                                          now=now)
                created.extend(runs)
        watch.fired += 1
        self.events += len(watch.assets)
        log.info("asset watcher %s: %s was there (deleted); %d event(s), runs %s",
                 _names(watch), path, len(watch.assets), created)
        for run_id in created:
            self.wake_run(run_id)

    def status(self) -> list[dict[str, Any]]:
        """The running watchers (for diagnostics)."""
        return [{"kind": w.kind, "kwargs": w.kwargs, "fired": w.fired,
                 "assets": sorted(w.assets), "watchers": _names(w)}
                for w in self.watches.values()]


def _names(watch: Watch) -> str:
    return ",".join(sorted({n for _, names in watch.assets.values() for n in names}))
