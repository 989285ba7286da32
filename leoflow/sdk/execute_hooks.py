"""``pre_execute`` / ``post_execute``: Airflow's hooks around a task's ``execute``.

Both forms Airflow runs: the ``pre_execute=`` / ``post_execute=`` arguments of any operator
(called with ``(context)`` and ``(context, result)``) and a user operator's own
``pre_execute(context)`` / ``post_execute(context)`` methods. Like the task's callable they
may ``yield Metadata(...)`` and write ``context["outlet_events"]``: a classic operator's
``post_execute`` is how it annotates its outlet events. They run in the task runner: for a
bash task, in the short second process that follows bash (``leoflow.sdk.bash_output``).

Standard library only: this runs in the DAG's own interpreter.
"""

from __future__ import annotations

from typing import Any

from leoflow.sdk.asset_outlet_events import run_callable


def _own_method(task: Any, name: str) -> Any:
    """A hook method a user's class defines (Leoflow's own classes define none)."""
    for cls in type(task).__mro__:
        if name in cls.__dict__:
            return getattr(task, name) if not cls.__module__.startswith("leoflow.") else None
    return None


def has_post_execute(task: Any) -> bool:
    return (callable(getattr(task, "_post_execute_hook", None))
            or _own_method(task, "post_execute") is not None)


def call_pre_execute(task: Any, context: dict[str, Any]) -> None:
    events = context.get("outlet_events")
    hook = getattr(task, "_pre_execute_hook", None)
    if callable(hook):
        run_callable(hook, [context], {}, events)
    method = _own_method(task, "pre_execute")
    if method is not None:
        run_callable(method, [context], {}, events)


def call_post_execute(task: Any, context: dict[str, Any], result: Any) -> None:
    events = context.get("outlet_events")
    hook = getattr(task, "_post_execute_hook", None)
    if callable(hook):
        run_callable(hook, [context, result], {}, events)
    method = _own_method(task, "post_execute")
    if method is not None:
        run_callable(method, [context], {}, events)


def hook_options(op: Any) -> dict[str, Any]:
    """dag.json options: ``post_execute`` tells the agent a bash task needs the runner after
    bash (empty for other tasks, so their specs and hashes stay as they were)."""
    return {"post_execute": True} if has_post_execute(op) else {}
