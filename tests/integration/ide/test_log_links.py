"""Beside a task's log: the links to the user's own lines in a traceback, and the reason a
try shows no log (where the log would be)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from leoflow.ide.log_links import editor_link, missing_log_reason, user_places


def test_only_frames_of_the_users_folder_become_places(tmp_path: Path) -> None:
    root = tmp_path / "leoflow"
    (root / "etl").mkdir(parents=True)
    (root / ".venv" / "lib").mkdir(parents=True)
    dag = root / "etl" / "dag.py"
    text = "\n".join([
        "Traceback (most recent call last):",
        f'  File "{tmp_path}/elsewhere/runner.py", line 40, in run',
        f'  File "{dag}", line 12, in load',
        '  File "<frozen os>", line 679, in __getitem__',
        f'  File "{root}/.venv/lib/x.py", line 3, in y',
        f'  File "{root}/site-packages/z.py", line 9, in w',
        f'  File "{dag}", line 12, in load',
        f'  File "{root}/etl/helpers.py", line 7, in parse',
        "KeyError: 'X'",
    ])
    assert user_places(text, root) == [("etl/dag.py", 12), ("etl/helpers.py", 7)]
    assert user_places('File "etl/dag.py", line 3', root) == []  # relative: not ours to guess
    assert editor_link("my etl/dag.py", 12) == "/editor?file=my%20etl/dag.py&line=12"


def detail(*, try_number: int = 1, started: bool = False, reason: str | None = None,
           tries: tuple[Any, ...] = ()) -> Any:
    instance = SimpleNamespace(try_number=try_number, map_index=-1,
                               start_date="2026-01-01T00:00:00Z" if started else None)
    return SimpleNamespace(instance=instance, reason=reason, tries=tries)


def attempt(number: int, error: str | None, *, started: bool) -> Any:
    return SimpleNamespace(try_number=number, error=error,
                           start_date="2026-01-01T00:00:00Z" if started else None)


def test_the_reason_stands_where_the_log_would_be() -> None:
    waiting = detail(reason="waiting for upstream tasks a (running) to finish")
    assert missing_log_reason(waiting, None, 0) == (
        "Not started: waiting for upstream tasks a (running) to finish")
    assert missing_log_reason(waiting, 1, 0) == (
        "Not started: waiting for upstream tasks a (running) to finish")
    assert missing_log_reason(waiting, 1, 3) is None  # it has lines: they speak
    assert missing_log_reason(None, 1, 0) is None
    assert missing_log_reason(detail(), 1, 0) is None  # nothing known: say nothing

    stopped = "Lite was stopping, so the task was not started; clear it to run it."
    never_ran = detail(tries=(attempt(1, stopped, started=False),))
    assert missing_log_reason(never_ran, 1, 0) == f"Try 1 did not run: {stopped}"

    silent = detail(started=True, tries=(attempt(1, "Lite was stopped", started=True),))
    assert missing_log_reason(silent, 1, 0) == (
        "Try 1 ended without a log line: Lite was stopped")
    running = detail(started=True, tries=(attempt(1, None, started=True),))
    assert missing_log_reason(running, 1, 0) is None


def test_the_pinned_copy_a_run_executes_is_the_dags_own_file(tmp_path: Path) -> None:
    root = tmp_path / "leoflow"
    (root / "etl").mkdir(parents=True)
    copy = tmp_path / ".leoflow" / "code" / "etl" / "772cd71a0e7a7082" / "dag.py"
    text = (f'  File "{copy}", line 12, in load\n'
            f'  File "{tmp_path}/.leoflow/code/other/772cd71a0e7a7082/dag.py", line 3, in x\n')
    assert user_places(text, root) == []  # not under the user's folder, nothing known
    assert user_places(text, root, {"etl": root / "etl" / "dag.py"}) == [("etl/dag.py", 12)]
