"""``DAG`` and the ``@dag`` decorator: the container of tasks, with Airflow's arguments."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from leoflow.sdk import context, registry
from leoflow.sdk.errors import DagDefinitionError, DuplicateTaskIdFound
from leoflow.sdk.location import defining_module_file, user_frame_location
from leoflow.sdk.params import Param

if TYPE_CHECKING:
    from leoflow.sdk.baseoperator import BaseOperator

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")
MAX_ID_LENGTH = 250


def check_id(kind: str, value: object) -> str:
    """Validate a dag_id / task_id / group_id with Airflow's rules, naming the bad value."""
    if not isinstance(value, str) or not value:
        raise DagDefinitionError(f"{kind} must be a non-empty string, got {value!r}",
                                 **_where())
    if len(value) > MAX_ID_LENGTH:
        raise DagDefinitionError(f"{kind} {value[:40]!r}... is longer than {MAX_ID_LENGTH} "
                                 "characters", **_where())
    if not ID_PATTERN.match(value):
        raise DagDefinitionError(
            f"{kind} {value!r} may contain only letters, digits, '_', '-' and '.'", **_where()
        )
    return value


def _where() -> dict[str, Any]:
    file, line = user_frame_location()
    return {"file": file, "line": line}


class DAG:
    """A directed acyclic graph of tasks, usable as ``with DAG(...) as dag:``.

    Accepts Airflow's common arguments; ``schedule_interval`` (Airflow 2) is accepted as an
    alias of ``schedule``. Unknown keyword arguments raise a clear error rather than being
    silently ignored, so a typo does not change behaviour unnoticed.
    """

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        schedule: Any = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        catchup: bool = False,
        default_args: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        max_active_runs: int = 16,
        max_active_tasks: int = 16,
        dagrun_timeout: timedelta | None = None,
        doc_md: str | None = None,
        *,
        schedule_interval: Any = None,
        dag_display_name: str | None = None,
        owner_links: dict[str, str] | None = None,
        render_template_as_native_obj: bool = False,
        template_searchpath: str | Iterable[str] | None = None,
        is_paused_upon_creation: bool | None = None,
        fail_fast: bool = False,
        concurrency: int | None = None,
        **unknown: Any,
    ) -> None:
        file, line = user_frame_location()
        self.fileloc = file
        self.line = line
        # whose module-level code made it (see compile_child: a DAG belongs to that file)
        self.module_file = defining_module_file()
        if unknown:
            names = ", ".join(sorted(unknown))
            raise DagDefinitionError(f"DAG() got unknown argument(s): {names}",
                                     file=file, line=line)
        self.dag_id = check_id("dag_id", dag_id)
        self.description = description
        self.schedule = schedule if schedule is not None else schedule_interval
        self.default_args = dict(default_args or {})
        self.start_date = start_date or self.default_args.get("start_date")
        self.end_date = end_date or self.default_args.get("end_date")
        self.catchup = bool(catchup)
        self.params: dict[str, Param] = {
            name: value if isinstance(value, Param) else Param(value)
            for name, value in (params or {}).items()
        }
        self.tags = list(tags or [])
        self.max_active_runs = max_active_runs
        self.max_active_tasks = concurrency if concurrency is not None else max_active_tasks
        self.dagrun_timeout = dagrun_timeout
        self.doc_md = doc_md
        self.dag_display_name = dag_display_name or dag_id
        self.owner_links = dict(owner_links or {})
        self.render_template_as_native_obj = render_template_as_native_obj
        # folders where template files are found besides the DAG's own (leoflow.sdk.templating)
        self.template_searchpath = ([template_searchpath] if isinstance(template_searchpath, str)
                                    else list(template_searchpath or []))
        self.is_paused_upon_creation = is_paused_upon_creation
        self.fail_fast = fail_fast
        self.task_dict: dict[str, BaseOperator] = {}
        self.edge_labels: dict[tuple[str, str], str] = {}
        self.group_ids: set[str] = set()
        registry.register(self)

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> DAG:
        context.push_dag(self)
        return self

    def __exit__(self, *exc: object) -> None:
        context.pop_dag()

    # -- tasks -----------------------------------------------------------------------------
    @property
    def tasks(self) -> list[BaseOperator]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    def get_task(self, task_id: str) -> BaseOperator:
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise KeyError(f"DAG {self.dag_id!r} has no task {task_id!r}") from None

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    def add_task(self, task: BaseOperator, *, dedupe: bool = False) -> None:
        """Attach ``task``; decorated tasks (``dedupe``) get ``__1``, ``__2`` suffixes."""
        if task.task_id in self.task_dict:
            if not dedupe:
                raise DuplicateTaskIdFound(
                    f"task_id {task.task_id!r} is used twice in DAG {self.dag_id!r}",
                    file=task.fileloc, line=task.line,
                )
            task.task_id = self._unique_task_id(task.task_id)
        task.dag = self
        self.task_dict[task.task_id] = task

    def _unique_task_id(self, task_id: str) -> str:
        base = re.split(r"__\d+$", task_id)[0]
        suffixes = [
            int(existing.rsplit("__", 1)[1])
            for existing in self.task_dict
            if existing.startswith(base + "__") and existing.rsplit("__", 1)[1].isdigit()
        ]
        return f"{base}__{max(suffixes, default=0) + 1}"

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"


def dag(
    dag_id: str | Callable[..., Any] | None = None, **dag_kwargs: Any
) -> Any:
    """Decorator form: ``@dag(schedule=...)`` on a function whose body defines the tasks.

    Calling the decorated function builds the DAG (the function's parameters become DAG
    params with their defaults) and returns it, as Airflow's ``@dag`` does.
    """

    def wrap(func: Callable[..., Any]) -> Callable[..., DAG]:
        @functools.wraps(func)
        def factory(*args: Any, **kwargs: Any) -> DAG:
            import inspect

            from leoflow.sdk.xcom_arg import DagParam

            params = dict(dag_kwargs.get("params") or {})
            call_kwargs: dict[str, Any] = {}
            for name, p in inspect.signature(func).parameters.items():
                if p.default is not inspect.Parameter.empty:
                    params.setdefault(name, p.default)
                    call_kwargs[name] = DagParam(name)
            options = {**dag_kwargs, "params": params}
            options.setdefault("doc_md", func.__doc__)
            the_dag = DAG(dag_id=dag_id if isinstance(dag_id, str) else func.__name__, **options)
            with the_dag:
                func(*args, **{**call_kwargs, **kwargs})
            return the_dag

        return factory

    if callable(dag_id):
        func, dag_id = dag_id, None
        return wrap(func)
    return wrap
