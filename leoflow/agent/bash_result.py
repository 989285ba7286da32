"""What a bash task that succeeded pushes: the last line of stdout, maybe processed.

As Airflow's ``BashOperator``: the value is ``output_processor(last line)`` (the line itself
without one), and with ``multiple_outputs`` each key of that dict is pushed as its own XCom
before ``return_value``. The processor is user code: it runs in the DAG's interpreter
through the task runner (``leoflow.sdk.bash_output``), a second short process of the same
try, under the same deadline and stop signal.
"""

from __future__ import annotations

from leoflow.agent.assets import outlet_events_of
from leoflow.agent.outcome import Outcome
from leoflow.agent.python_task import result_outcome, run_callable
from leoflow.agent.taskrun import TaskRun
from leoflow.errors import InvariantError
from leoflow.sdk.bash_output import BASH_OUTPUT_KEY


async def bash_outcome(run: TaskRun, output: str) -> Outcome:
    """The success outcome of a bash try whose last stdout line is ``output``."""
    if not run.options.get("output_processor") and not run.options.get("post_execute"):
        return result_outcome(run, output)
    await run.shipper.agent_line("passing the last line of stdout to " + (
        "output_processor" if run.options.get("output_processor") else "post_execute"))
    final, failure = await run_callable(run, extra={BASH_OUTPUT_KEY: output})
    if failure is not None:
        return failure
    if final is None:  # run_callable sets exactly one of the two
        raise InvariantError("run_callable returned neither a result nor a failure")
    outcome = result_outcome(run, final.get("value"))
    outcome.outlet_events = outlet_events_of(final)  # post_execute's outlet_events
    return outcome
