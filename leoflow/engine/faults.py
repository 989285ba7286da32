"""Test-only fault points: the crash-trial harness (tests/e2e/test_crash_trials.py) kills
the control plane at exact moments, which no outside timing can hit reliably.

Inert unless the control plane's environment sets them (an operator never does):

- ``LEOFLOW_TEST_FAULTS=reported=N``: the process kills itself (SIGKILL, no cleanup) just
  after the ``N``-th ``ReportState`` answer was sent to its agent. What the agent was told
  must then survive the crash.
- ``LEOFLOW_TEST_FREEZE_AGENT=<task_id>:<folder>``: the agent of that task's first try
  writes its pid to ``<folder>/<ti_id>.pid`` and stops itself (SIGSTOP) before it
  authenticates: a freshly started agent frozen across a restart, to be thawed (SIGCONT)
  by the test once the restarted control plane has dealt with its try.

Either value may be ``@<file>``: the setting is then read from that file at each use (a
missing file: no fault), so a test can arm a fault in a running server; the hits of
``reported`` are counted anew whenever the setting's text changes.
"""

from __future__ import annotations

import os
import signal
from typing import Any

FAULTS = "LEOFLOW_TEST_FAULTS"
FREEZE = "LEOFLOW_TEST_FREEZE_AGENT"
AGENT_FREEZE = "LEOFLOW_AGENT_TEST_FREEZE"  # what the chosen agent gets (a pid file path)

_hits: dict[tuple[str, str], int] = {}


def _setting(variable: str) -> str:
    raw = os.environ.get(variable, "")
    if not raw.startswith("@"):
        return raw
    try:
        with open(raw[1:], encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _armed(name: str) -> tuple[str, int | None]:
    setting = _setting(FAULTS)
    for part in setting.split(","):
        key, _, value = part.strip().partition("=")
        value = value.split("#")[0].strip()
        if key == name and value.isdigit():
            return setting, int(value)
    return setting, None


def _die(*_: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def fault_point(name: str, context: Any = None) -> None:
    """Die at the armed hit of ``name``: after ``context``'s call completed (its answer
    sent), or at once without a context."""
    if not os.environ.get(FAULTS):
        return
    setting, target = _armed(name)
    if target is None:
        return
    key = (setting, name)
    _hits[key] = _hits.get(key, 0) + 1
    if _hits[key] != target:
        return
    if context is not None and hasattr(context, "add_done_callback"):
        context.add_done_callback(_die)
    else:
        _die()


def agent_env(ti_id: str, task_id: str, try_number: int) -> dict[str, str]:
    """Extra environment for an agent: the freeze request when it is this agent's."""
    if not os.environ.get(FREEZE):
        return {}
    chosen, _, folder = _setting(FREEZE).partition(":")
    if not chosen or chosen != task_id or try_number != 1 or not folder:
        return {}
    path = os.path.join(folder, f"{ti_id}.pid")
    if os.path.exists(path):  # frozen once already: the re-launched try runs
        return {}
    return {AGENT_FREEZE: path}
