"""Deleting a DAG: refused while any of its task instances is queued or running (Airflow
answers 409), otherwise its runs go first (``Operations.delete_dag_history``: in-flight
tries stop, the scheduler forgets them), then the DAG with its versions, with an audit
row."""

from __future__ import annotations

from leoflow.engine.services.errors import InvalidOperation
from leoflow.engine.services.operations import Operations
from leoflow.engine.store import audit, dags, listings


class DagStillRunning(InvalidOperation):
    """A DAG with task instances queued or running cannot be deleted (409)."""

    def __init__(self, dag_id: str) -> None:
        super().__init__(f"Task instances of dag with id: '{dag_id}' are still running")
        self.dag_id = dag_id


async def delete_dag(ops: Operations, dag_id: str, *, user: str | None) -> None:
    """Delete the DAG with its versions, runs, task instances and XComs."""
    async with ops.store.connect() as conn:
        if await listings.count_in_flight(conn, dag_id):
            raise DagStillRunning(dag_id)
    await ops.delete_dag_history(dag_id, user=user)
    async with ops.store.begin() as conn:
        await dags.delete_dag(conn, dag_id)
        await audit.record_event(conn, "delete_dag", username=user, dag_id=dag_id)
    ops.scheduler.wake_dag(dag_id)
