"""Whether the metadata database answers: the probe behind ``/api/v2/monitor/health`` and
``/api/v2/ready``.

The routes decide what an unreachable database means for their answer (a component
``unhealthy``, a 503); this only asks the database, on its own connection.
"""

from __future__ import annotations

from leoflow.engine.store import Store


async def ping(store: Store) -> None:
    """``SELECT 1`` on a fresh connection; raises whatever the driver raises."""
    async with store.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
