"""The Redis XCom backend (Pro): values in one Redis hash per dag run.

Layout: key ``<prefix>xcom:<dag_run_id>`` is a hash whose fields are the compact JSON array
``[task_id, key, map_index]`` and whose values are a small JSON envelope
``{"c": created, "e": expires, "v": <value>}`` (epoch seconds). One hash per run makes the
common reads one round trip (a run's values for the API; a mapped task's results through
``HSCAN MATCH``) and lets Redis expire a whole run natively: every push sets the hash's
``PEXPIRE`` to the TTL, so a run's values disappear TTL after its last push without any
sweep. The per-value ``e`` makes a value read as absent from its own expiry on, exactly as
in the SQL backend; the few expired fields of a still-active run are reclaimed with the hash.
``sweep`` therefore has nothing to do.

``redis`` (redis-py, ``redis.asyncio``) is imported when a backend is created from a URL, so
Lite never needs it.
"""

from __future__ import annotations

import builtins
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from leoflow.engine.store import utcnow
from leoflow.engine.store.rows import Page
from leoflow.engine.xcom.base import RETURN_VALUE, Clock, XComEntry, XComPolicy, XComValue

if TYPE_CHECKING:
    from redis.asyncio import Redis

_SCAN_COUNT = 1000


def glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so ``text`` matches itself in ``MATCH``."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def connect_redis(url: str) -> Redis:
    """A ``redis.asyncio`` client for ``redis://…``, ``rediss://…`` or ``unix:///path``."""
    from redis.asyncio import Redis

    return Redis.from_url(url)


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "surrogatepass") if isinstance(raw, bytes) else raw


def _field(task_id: str, key: str, map_index: int) -> str:
    return json.dumps([task_id, key, map_index], separators=(",", ":"), ensure_ascii=False)


def _field_prefix(task_id: str, key: str | None = None) -> str:
    """The start of every field of a task (and key): ``["t",`` / ``["t","k",``."""
    parts = [task_id] if key is None else [task_id, key]
    return json.dumps(parts, separators=(",", ":"), ensure_ascii=False)[:-1] + ","


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _moment(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


class RedisXComBackend:
    """XCom in Redis 6+. Give a URL (the backend owns and closes the client) or a client."""

    name = "redis"

    def __init__(self, redis: str | Redis, policy: XComPolicy | None = None, *,
                 prefix: str = "leoflow:", clock: Clock = utcnow) -> None:
        self._owned = isinstance(redis, str)
        self.redis: Redis = connect_redis(redis) if isinstance(redis, str) else redis
        self.policy = policy or XComPolicy()
        self.prefix = prefix
        self._clock = clock

    def _key(self, dag_run_id: int) -> str:
        return f"{self.prefix}xcom:{int(dag_run_id)}"

    def _unpack(self, raw: bytes | str, now: float) -> tuple[Any, float, float | None] | None:
        """(value, created, expires) of a live envelope, None when expired."""
        envelope = json.loads(_text(raw))
        expires = envelope.get("e")
        if expires is not None and expires <= now:
            return None
        return envelope["v"], envelope["c"], expires

    async def push(self, *, dag_run_id: int, task_id: str, map_index: int = -1,
                   key: str = RETURN_VALUE, value: Any, conn: Any = None) -> int:
        text = self.policy.encode(value, task_id=task_id, key=key, map_index=map_index)
        now = self._clock()
        expires = _epoch(self.policy.expires_at(now))
        envelope = f'{{"c":{now.timestamp()!r},"e":{json.dumps(expires)},"v":{text}}}'
        hash_key = self._key(dag_run_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(hash_key, _field(task_id, key, map_index), envelope)
            if self.policy.ttl_seconds:
                pipe.pexpire(hash_key, max(1, int(self.policy.ttl_seconds * 1000)))
            else:
                pipe.persist(hash_key)
            await pipe.execute()
        return len(text.encode("utf-8", "surrogatepass"))

    async def get(self, dag_run_id: int, task_id: str, key: str = RETURN_VALUE,
                  map_index: int = -1, conn: Any = None) -> XComValue | None:
        raw = await self.redis.hget(self._key(dag_run_id), _field(task_id, key, map_index))
        if raw is None:
            return None
        live = self._unpack(raw, self._clock().timestamp())
        if live is None:
            return None
        value, created, expires = live
        return XComValue(value, created_at=_moment(created), expires_at=_moment(expires))

    async def _scan_fields(self, dag_run_id: int, prefix: str) -> dict[str, bytes | str]:
        found: dict[str, bytes | str] = {}
        async for name, raw in self.redis.hscan_iter(
                self._key(dag_run_id), match=glob_escape(prefix) + "*", count=_SCAN_COUNT):
            field = _text(name)
            if field.startswith(prefix):  # MATCH is a filter; check the exact prefix anyway
                found[field] = raw
        return found

    async def get_mapped(self, dag_run_id: int, task_id: str, key: str = RETURN_VALUE,
                         conn: Any = None) -> dict[int, Any]:
        now = self._clock().timestamp()
        out: dict[int, Any] = {}
        for field, raw in (await self._scan_fields(dag_run_id,
                                                   _field_prefix(task_id, key))).items():
            live = self._unpack(raw, now)
            if live is not None:
                out[int(json.loads(field)[2])] = live[0]
        return dict(sorted(out.items()))

    async def delete_task(self, dag_run_id: int, task_id: str, map_index: int | None = None,
                          conn: Any = None, key: str | None = None) -> int:
        fields = [f for f in await self._scan_fields(dag_run_id, _field_prefix(task_id, key))
                  if map_index is None or json.loads(f)[2] == map_index]
        if not fields:
            return 0
        return int(await self.redis.hdel(self._key(dag_run_id), *fields))

    async def sweep(self, now: datetime | None = None) -> int:
        """Nothing to do: Redis expires each run's hash by itself (see the module doc)."""
        return 0

    async def close(self) -> None:
        if self._owned:
            await self.redis.aclose()

    async def _run_keys(self) -> builtins.list[int]:
        pattern = glob_escape(f"{self.prefix}xcom:") + "*"
        ids = set()
        async for raw in self.redis.scan_iter(match=pattern, count=_SCAN_COUNT):
            suffix = _text(raw)[len(self.prefix) + len("xcom:"):]
            if suffix.lstrip("-").isdigit():
                ids.add(int(suffix))
        return sorted(ids)

    async def list(self, *, dag_run_id: int | None = None, task_id: str | None = None,
                   key: str | None = None, map_index: int | None = None,
                   limit: int | None = 100, offset: int = 0, conn: Any = None
                   ) -> Page[XComEntry]:
        """Filtering happens here, not in Redis: without ``dag_run_id`` every run's hash is
        read (``SCAN``), which is fine for a listing but not for a hot path."""
        now = self._clock().timestamp()
        run_ids = [dag_run_id] if dag_run_id is not None else await self._run_keys()
        entries: builtins.list[XComEntry] = []
        for run in run_ids:
            for name, raw in (await self.redis.hgetall(self._key(run))).items():
                t, k, m = json.loads(_text(name))
                if ((task_id is not None and t != task_id) or (key is not None and k != key)
                        or (map_index is not None and m != map_index)):
                    continue
                live = self._unpack(raw, now)
                if live is not None:
                    value, created, expires = live
                    entries.append(XComEntry(run, t, m, k, value, _moment(created),
                                             _moment(expires)))
        entries.sort(key=lambda e: (e.dag_run_id, e.task_id, e.map_index, e.key))
        end = None if limit is None else offset + limit
        return Page(items=tuple(entries[offset:end]), total=len(entries))
