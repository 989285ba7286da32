"""Loading a YAML file an untrusted project wrote, with its size and its aliases bounded.

``yaml.safe_load`` builds only plain data, but it expands aliases: a 1 KB "billion laughs"
file (``a: &a [x, x, ...]``, ``b: &b [*a, *a, ...]``, ...) becomes a structure of 10⁹ nodes
and costs the control plane about a gigabyte before any check runs. Here the document is
composed first (aliases stay shared references, so composing is cheap), the number of nodes
it expands to is counted on that graph (each node once, memoized), and only a document
within ``max_nodes`` is constructed. A recursive alias is refused too.
"""

from __future__ import annotations

from typing import Any

from leoflow.engine.spec.errors import SpecError

MAX_YAML_BYTES = 1 << 20  # leoflow.yaml is settings: 1 MiB is far more than any needs
MAX_YAML_NODES = 100_000  # nodes after alias expansion


def load_yaml(text: str, *, file: str, max_nodes: int = MAX_YAML_NODES,
              max_bytes: int = MAX_YAML_BYTES) -> tuple[Any, Any]:
    """``(composed root node, data)`` of YAML ``text``; ``SpecError`` naming ``file``
    (and the line) when it is not YAML, too large, or expands too much."""
    import yaml

    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise SpecError(f"is larger than {max_bytes >> 10} KiB; refused", file=file, line=1)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"not valid YAML: {problem}", file=file,
                        line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise SpecError("is nested too deeply to read; refused", file=file) from None
    if root is None:
        return None, None
    try:
        _check_expansion(root, file, max_nodes)
    except RecursionError:
        raise SpecError("is nested too deeply to read; refused", file=file) from None
    loader = yaml.SafeLoader("")
    try:
        return root, loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"not valid YAML: {problem}", file=file,
                        line=mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()


def _check_expansion(root: Any, file: str, max_nodes: int) -> None:
    """Refuse a document whose aliases expand past ``max_nodes`` nodes, or loop."""
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise SpecError("holds a recursive YAML alias (an anchor used inside itself); "
                            "refused", file=file, line=node.start_mark.line + 1)
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > max_nodes:
                raise SpecError(
                    f"expands to more than {max_nodes:,} values through YAML aliases (an "
                    "alias bomb?); refused", file=file, line=node.start_mark.line + 1)
        active.discard(key)
        sizes[key] = total
        return total

    size(root)
