"""One agent, one try: authenticate (the answer carries the task), execute, report (the
report carries the outcome's XComs).

The order matters to the control plane: logs are flushed before ``ReportState``, and the
outcome's XComs travel in it (stored in the report's transaction) or, with a control plane
that predates that, are pushed before it; so a ``success`` it records always has its return
value and its whole log, and downstream tasks woken by that report find their inputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Mapping

from leoflow.agent.airflow_task import run_airflow, runs_with_airflow
from leoflow.agent.assets import inactive_assets_outcome
from leoflow.agent.bash_task import run_bash
from leoflow.agent.client import ControlPlaneClient
from leoflow.agent.config import AgentConfig
from leoflow.agent.errors import EXIT_REPORTED, AgentError, AgentRejected
from leoflow.agent.heartbeat import Heartbeat, StopSignal
from leoflow.agent.local_paths import apply_local_paths
from leoflow.agent.logs import LogShipper
from leoflow.agent.outcome import SUCCESS, Outcome
from leoflow.agent.python_task import run_callable, run_python
from leoflow.agent.taskrun import TaskRun
from leoflow.errors import InvariantError
from leoflow.sdk.secrets_masker import SecretsMasker

# kinds whose code runs in the task runner (a sensor pokes there, or resumes there)
PYTHON_KINDS = frozenset({"python", "branch", "short_circuit", "sensor"})


async def execute(run: TaskRun) -> Outcome:
    """Run the try's work and say how it ended; user failures are outcomes, not errors."""
    operator = run.task.operator
    inactive = inactive_assets_outcome(run.context)
    if inactive is not None:
        return inactive
    if runs_with_airflow(run.spec):  # the real Airflow's task runner, whatever the kind
        return await run_airflow(run)
    if operator in PYTHON_KINDS:
        return await run_python(run)
    if operator == "bash":
        if run.spec.get("callable"):  # @task.bash: the function returns the command
            final, failure = await run_callable(run)
            if failure is not None:
                return failure
            if final is None:  # run_callable sets exactly one of the two
                raise InvariantError("run_callable returned neither a result nor a failure")
            return await run_bash(run, str(final.get("value")))
        return await run_bash(run)
    return Outcome.failed("AirflowException",
                          f"operator {operator!r} does not run in an agent (python, bash, "
                          "branch and short_circuit do)", no_retry=True)


async def push_xcoms(run: TaskRun, outcome: Outcome) -> Outcome:
    """Push the outcome's XComs; a refused push (too large...) fails the try instead. Only
    for a control plane whose report does not take them (``report_takes_xcoms``)."""
    for key, value in outcome.xcoms:
        try:
            await run.client.push_xcom(key, value)
        except AgentRejected:
            raise
        except AgentError as exc:
            return Outcome.failed("XComPushError", f"cannot store XCom {key!r}: {exc}")
    return outcome


def task_masker(env: Mapping[str, str]) -> SecretsMasker:
    """A masker of the secrets among the variables and connections the try receives."""
    masker = SecretsMasker()
    masker.add_environment(env)
    return masker


def masked(outcome: Outcome, masker: SecretsMasker) -> Outcome:
    """The outcome with its error message and traceback masked (the IDE and the API show
    them to Viewers, as the log)."""
    if len(masker) and (outcome.error_message or outcome.traceback):
        outcome.error_message = masker.redact(outcome.error_message)
        outcome.traceback = masker.redact(outcome.traceback)
    return outcome


def _install_signal_handlers(stop: StopSignal) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set, f"leoflow-agent received {sig.name}")


async def _close_logs(shipper: LogShipper) -> None:
    """Finish the log stream; whatever breaks it (the control plane died under it: gRPC
    then ends the call with CancelledError, not an RPC error) must not cost the report."""
    try:
        await shipper.close()
    except (Exception, asyncio.CancelledError) as exc:
        task = asyncio.current_task()
        if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
            raise  # the agent itself is being cancelled
        shipper.error = shipper.error or f"the log stream broke ({type(exc).__name__})"


def _test_freeze() -> None:
    """Test-only (leoflow.engine.faults): stop here, before authenticating, when asked."""
    path = os.environ.get("LEOFLOW_AGENT_TEST_FREEZE")
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGSTOP)


async def run_agent(config: AgentConfig) -> int:
    """The whole life of an agent; returns its exit code (0 once a state was reported)."""
    client = ControlPlaneClient(config)
    heartbeat: Heartbeat | None = None
    try:
        started = time.monotonic()
        _test_freeze()
        auth = await client.authenticate()  # carries the task (one call, not two)
        fetched = auth.task if auth.HasField("task") else await client.fetch_task()
        # in a DAG image, its own interpreter and project (see local_paths)
        task = apply_local_paths(fetched)
        stop = StopSignal()
        _install_signal_handlers(stop)
        heartbeat = Heartbeat(client, auth.heartbeat_interval, stop)
        heartbeat.start()
        # the secrets it hands the task are masked in every line shipped (secrets_masker)
        shipper = LogShipper(client, masker=task_masker(task.env))
        shipper.start()
        run = TaskRun.from_fetch(task, client, shipper, stop)
        try:
            outcome = await execute(run)
        except AgentError:
            raise
        except Exception as exc:  # a bug of ours: still report, with our traceback
            outcome = Outcome.failed("AgentError", f"leoflow-agent failed: {exc}",
                                     traceback=traceback.format_exc())
        if outcome.state == SUCCESS and not auth.report_takes_xcoms:
            outcome = await push_xcoms(run, outcome)
        elapsed = time.monotonic() - started
        await shipper.agent_line(f"task {outcome.summary()} after {elapsed:.2f} s")
        await _close_logs(shipper)
        if shipper.error:
            print(f"leoflow-agent: some log lines may be missing ({shipper.error})",
                  file=sys.stderr, flush=True)
        await heartbeat.close()
        response = await client.report_state(masked(outcome, shipper.masker).to_request(
            with_xcoms=auth.report_takes_xcoms))
        print(f"leoflow-agent: {task.dag_id}.{task.task_id} try {task.try_number}: reported "
              f"{outcome.state} (recorded {response.recorded_state or outcome.state})",
              file=sys.stderr, flush=True)
        return EXIT_REPORTED
    except AgentError as exc:
        print(f"leoflow-agent: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    finally:
        if heartbeat is not None:
            await heartbeat.close()
        await client.close()
