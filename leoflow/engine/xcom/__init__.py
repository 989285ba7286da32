"""XCom: the backends that store task results, and the resolution of a task's inputs.

Usage::

    from leoflow.engine.xcom import SqlXComBackend, XComSweeper, make_fetch, resolve_inputs

    xcoms = SqlXComBackend(store)                    # or RedisXComBackend("redis://…")
    sweeper = XComSweeper(xcoms, interval=600); sweeper.start()
    await xcoms.push(dag_run_id=run.id, task_id="extract", value={"rows": 3})
    args, kwargs = await resolve_inputs(task, map_index, params=run_params,
                                        fetch=make_fetch(xcoms, run.id, mapped=mapped_ids))

See docs/xcom-and-logs.md.
"""

from leoflow.engine.xcom.base import (
    DEFAULT_TTL_SECONDS,
    MAX_VALUE_BYTES,
    RETURN_VALUE,
    XComBackend,
    XComEntry,
    XComPolicy,
    XComValue,
    encode_json,
    mapped_list,
)
from leoflow.engine.xcom.errors import (
    InputResolutionError,
    XComError,
    XComNotSerializable,
    XComTooLarge,
)
from leoflow.engine.xcom.redis_backend import RedisXComBackend
from leoflow.engine.xcom.resolve import Fetch, make_fetch, resolve_inputs
from leoflow.engine.xcom.sql import SqlXComBackend
from leoflow.engine.xcom.sweep import DEFAULT_SWEEP_INTERVAL, XComSweeper

__all__ = [
    "DEFAULT_SWEEP_INTERVAL",
    "DEFAULT_TTL_SECONDS",
    "MAX_VALUE_BYTES",
    "RETURN_VALUE",
    "Fetch",
    "InputResolutionError",
    "RedisXComBackend",
    "SqlXComBackend",
    "XComBackend",
    "XComEntry",
    "XComError",
    "XComNotSerializable",
    "XComPolicy",
    "XComSweeper",
    "XComTooLarge",
    "XComValue",
    "encode_json",
    "make_fetch",
    "mapped_list",
    "resolve_inputs",
]
