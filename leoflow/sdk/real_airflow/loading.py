"""Run a DAG file against the real Airflow and collect its DAGs as Airflow's DAG processor
does, noting the line of the user's code that created each DAG and task.

Airflow 3's importer takes the DAG objects among the module's globals and the ones that
registered themselves when their ``with DAG(...)`` block (or ``@dag`` function call) ended
(``DagContext.autoregistered_dags``); so does this module. Airflow records no source line:
``DAG.__init__`` and ``DAG.add_task`` are wrapped while the file runs, and each notes the
innermost frame that belongs to the project (the line the shim records for the same file).
"""

from __future__ import annotations

import functools
import os
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from leoflow.sdk.location import defining_module_file


@dataclass
class Loaded:
    """The DAGs a file made, in creation order, and where each DAG and task was made."""

    dags: list[Any]
    module: types.ModuleType
    dag_lines: dict[int, int] = field(default_factory=dict)  # id(dag) -> line
    task_lines: dict[int, int] = field(default_factory=dict)  # id(task) -> line


def project_line(project_dir: str) -> int | None:
    """The line of the innermost frame running a file of the project (None outside it)."""
    root = os.path.abspath(project_dir) + os.sep
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith("<") and os.path.abspath(name).startswith(root):
            return frame.f_lineno
        frame = frame.f_back
    return None


@contextmanager
def _recording(project_dir: str, dag_lines: dict[int, int], task_lines: dict[int, int],
               order: list[tuple[Any, str | None]]) -> Iterator[None]:
    from airflow.sdk import DAG

    original_init: Callable[..., None] = DAG.__init__
    original_add: Callable[..., None] = DAG.add_task

    @functools.wraps(original_init)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        line = project_line(project_dir)
        original_init(self, *args, **kwargs)
        if line is not None:
            dag_lines.setdefault(id(self), line)
        order.append((self, defining_module_file()))

    @functools.wraps(original_add)
    def add_task(self: Any, task: Any) -> None:
        line = project_line(project_dir)
        original_add(self, task)
        if line is not None:
            task_lines.setdefault(id(task), line)

    DAG.__init__ = init
    DAG.add_task = add_task
    try:
        yield
    finally:
        DAG.__init__ = original_init
        DAG.add_task = original_add


def load_real_dags(dag_file: str, project_dir: str,
                   load: Callable[[str, str], types.ModuleType]) -> Loaded:
    """Execute ``dag_file`` with ``load`` (the compile child's loader) and return its DAGs:
    the module's globals that are DAGs and the ones registered by their context, in the
    order they were created. A DAG another DAG file made while this one imported it (``from
    other_dag_file import dag``) is that file's, as under the shim (``own_dags``): Airflow
    would find it in both files and refuse the second as a duplicate."""
    from airflow.sdk import DAG
    from airflow.sdk.definitions._internal.contextmanager import DagContext

    name = os.path.splitext(os.path.basename(dag_file))[0]
    dag_lines: dict[int, int] = {}
    task_lines: dict[int, int] = {}
    order: list[tuple[Any, str | None]] = []
    DagContext.autoregistered_dags.clear()
    DagContext.current_autoregister_module_name = name
    try:
        with _recording(project_dir, dag_lines, task_lines, order):
            module = load(dag_file, project_dir)
        found = {id(o): o for o in module.__dict__.values() if isinstance(o, DAG)}
        found.update({id(d): d for d, mod in DagContext.autoregistered_dags if mod is module})
    finally:
        DagContext.current_autoregister_module_name = None
        DagContext.autoregistered_dags.clear()
    rank = {id(d): i for i, (d, _) in enumerate(order)}
    target = os.path.abspath(dag_file)
    elsewhere = {id(d) for d, made_in in order
                 if made_in is not None and os.path.abspath(made_in) != target}
    dags = sorted((d for d in found.values() if id(d) not in elsewhere),
                  key=lambda d: rank.get(id(d), len(rank)))
    for dag in dags:
        dag.fileloc = dag_file
    return Loaded(dags=dags, module=module, dag_lines=dag_lines, task_lines=task_lines)
