"""A DAG id belongs to the tenant that registered it first."""

from __future__ import annotations

import pytest

from leoflow.engine.services import InvalidOperation
from leoflow.engine.store import dags
from tests.integration.scheduler.conftest import spec, task


async def test_another_tenant_cannot_take_over_a_dag_id(harness):
    doc = spec("owned", task("a"))
    await harness.ops.register_dag(doc, tenant="alpha")
    other = spec("owned", task("a"), task("b", "a"))
    with pytest.raises(InvalidOperation, match="'owned' is not available"):
        await harness.ops.register_dag(other, tenant="beta")
    async with harness.store.connect() as conn:
        row = await dags.get_dag(conn, "owned")
        versions = await dags.list_versions(conn, "owned")
    assert row.tenant == "alpha"
    assert len(versions.items if hasattr(versions, "items") else versions) == 1
    await harness.ops.register_dag(other, tenant="alpha")  # the owner may update it
