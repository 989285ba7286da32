"""``AgentService.DagRuns``: other DAG runs as Airflow's task runner asks for them.

The tenant is the one of the DAG the try's token belongs to, never one the request names;
the rules are ``leoflow.engine.services.task_dag_runs``'s. This module parses and maps: a
request that is not one (bad JSON, unknown op, wrong types) is ``INVALID_ARGUMENT``; a
missing DAG or run is an answer (``{"error": ...}``), not a gRPC error, so that the task
sees what Airflow's API would have told it.
"""

from __future__ import annotations

import json

import grpc

from leoflow.engine.services.task_dag_runs import BadRequest, TaskDagRuns
from leoflow.rpc import agent_pb2 as pb


async def dag_runs_call(service: TaskDagRuns, *, tenant: str, source_dag_id: str,
                        requested_by: str, request: pb.DagRunsRequest,
                        context: grpc.aio.ServicerContext) -> pb.DagRunsResponse:
    """Serve one request of the try ``requested_by`` (``<ti id>#<try>``) of
    ``source_dag_id`` (in ``tenant``)."""
    try:
        args = json.loads(request.args_json or "{}")
        if not isinstance(args, dict):
            raise BadRequest("args_json must be a JSON object")
        answer = await service.serve(request.op, args, tenant=tenant,
                                     source_dag_id=source_dag_id, requested_by=requested_by)
    except ValueError as exc:  # BadRequest, or JSON that does not parse
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        raise
    return pb.DagRunsResponse(answer_json=json.dumps(answer, default=str))
