"""``XComArg.map(fn)``, ``.zip(*others)`` and ``.concat(*others)``: Airflow's lazy results.

Each stands for a sequence derived from upstream results, usable wherever an upstream result
is: as a task's argument or as what ``.expand()`` maps over. The scheduler needs only their
*length* (``map`` keeps it, ``zip`` takes the shortest, or the longest with a ``fillvalue``,
``concat`` adds them up), which it computes from the upstream values in dag.json terms.

A ``map`` function is user code, so it never runs in the control plane: the control plane
resolves the source values and hands each item over wrapped as
``{"__leoflow_map__": {"fns": [k, ...], "value": item}}``; the task runner, in the user's
process, replaces every wrapper by ``fn_k(item)`` before the task runs. ``k`` numbers the
``.map()`` calls of the DAG in the order the DAG file makes them, which is the same when
the runner executes the file again; dag.json also records each function's name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leoflow.sdk.errors import DagDefinitionError
from leoflow.sdk.location import user_frame_location
from leoflow.sdk.xcom_arg import NOTSET, XComArg

if TYPE_CHECKING:
    from leoflow.sdk.baseoperator import BaseOperator
    from leoflow.sdk.dag import DAG

MAP_MARKER = "__leoflow_map__"
_FUNCTIONS_ATTR = "_leoflow_map_functions"


def map_functions(dag: DAG) -> list[Callable[..., Any]]:
    """The ``.map()`` functions of ``dag``, by number (kept on the DAG object itself)."""
    found = dag.__dict__.get(_FUNCTIONS_ATTR)
    if found is None:
        found = []
        setattr(dag, _FUNCTIONS_ATTR, found)
    return found


def _error(message: str) -> DagDefinitionError:
    file, line = user_frame_location()
    return DagDefinitionError(message, file=file, line=line)


def _check_xcom_args(method: str, others: tuple[Any, ...]) -> None:
    for other in others:
        if not isinstance(other, XComArg):
            raise _error(f"XComArg.{method}() takes results of tasks (XComArg), got {other!r}")


class MapXComArg(XComArg):
    """``source.map(fn)``: each item of ``source`` passed through ``fn`` (then the next)."""

    def __init__(self, source: XComArg, functions: list[tuple[int, str]]) -> None:
        super().__init__(source.operator, source.key)
        self.source = source
        self.functions = functions  # (number in the DAG's list, qualified name)

    def references(self) -> list[BaseOperator]:
        return self.source.references()

    def map(self, fn: Callable[..., Any]) -> MapXComArg:
        # Airflow chains the callables of a map of a map: one wrapper, applied in order.
        return MapXComArg(self.source, [*self.functions, _register(self.source, fn)])

    def __repr__(self) -> str:
        return f"MapXComArg({self.source!r}, {[name for _, name in self.functions]})"


class ZipXComArg(XComArg):
    """``a.zip(b, c)``: the i-th item is ``[a[i], b[i], c[i]]`` (lists: JSON has no tuples)."""

    def __init__(self, args: list[XComArg], fillvalue: Any = NOTSET) -> None:
        super().__init__(args[0].operator, args[0].key)
        self.args = args
        self.fillvalue = fillvalue

    @property
    def longest(self) -> bool:
        return self.fillvalue is not NOTSET

    def references(self) -> list[BaseOperator]:
        return [op for arg in self.args for op in arg.references()]

    def __repr__(self) -> str:
        return f"ZipXComArg({self.args!r})"


class ConcatXComArg(XComArg):
    """``a.concat(b)``: the items of ``a`` then those of ``b``."""

    def __init__(self, args: list[XComArg]) -> None:
        super().__init__(args[0].operator, args[0].key)
        self.args = args

    def references(self) -> list[BaseOperator]:
        return [op for arg in self.args for op in arg.references()]

    def __repr__(self) -> str:
        return f"ConcatXComArg({self.args!r})"


def _register(source: XComArg, fn: Callable[..., Any]) -> tuple[int, str]:
    if not callable(fn):
        raise _error(f"XComArg.map() takes a function, got {fn!r}")
    if getattr(fn, "__wrapped__", None) is not None and hasattr(fn, "operator_class"):
        raise _error("XComArg.map() takes a plain function, not a @task")
    dag = source.references()[0].dag if source.references() else None
    if dag is None:
        raise _error("XComArg.map() is used on a value that comes from no task")
    functions = map_functions(dag)
    functions.append(fn)
    name = getattr(fn, "__qualname__", None) or repr(fn)
    return len(functions) - 1, name


def make_map(source: XComArg, fn: Callable[..., Any]) -> MapXComArg:
    if isinstance(source, MapXComArg):
        return source.map(fn)
    return MapXComArg(source, [_register(source, fn)])


def make_zip(source: XComArg, others: tuple[Any, ...], fillvalue: Any) -> ZipXComArg:
    _check_xcom_args("zip", others)
    return ZipXComArg([source, *others], fillvalue)


def make_concat(source: XComArg, others: tuple[Any, ...]) -> ConcatXComArg:
    _check_xcom_args("concat", others)
    return ConcatXComArg([source, *others])


def apply_map_functions(value: Any, dag: DAG) -> Any:
    """In the user's process: replace every map wrapper in ``value`` by the function's result.

    Inner wrappers are applied first (a zip of maps holds one wrapper per item)."""
    if isinstance(value, list):
        return [apply_map_functions(v, dag) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and MAP_MARKER in value and isinstance(value[MAP_MARKER], dict):
            body = value[MAP_MARKER]
            result = apply_map_functions(body.get("value"), dag)
            functions = map_functions(dag)
            for number in body.get("fns") or ():
                if not isinstance(number, int) or not 0 <= number < len(functions):
                    raise LookupError(
                        f"DAG {dag.dag_id!r} has no .map() function number {number!r} (it has "
                        f"{len(functions)}); was the file changed since it was compiled?")
                result = functions[number](result)
            return result
        return {k: apply_map_functions(v, dag) for k, v in value.items()}
    return value


def has_map_wrapper(value: Any) -> bool:
    if isinstance(value, list):
        return any(has_map_wrapper(v) for v in value)
    if isinstance(value, dict):
        return MAP_MARKER in value or any(has_map_wrapper(v) for v in value.values())
    return False
