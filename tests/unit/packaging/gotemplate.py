"""A small renderer for the subset of Go templates (and Helm's functions) that the Leoflow
chart uses, so the chart's templates can be rendered and checked without a ``helm`` binary
(none runs on the machines the suite runs on).

It is stricter than Helm on purpose: reading a key that is not in the values (a typo such as
``.Values.sever.httpPort``) raises ``TemplateError`` naming the template, the line and the
path, where Helm would quietly render nothing; an unknown function or an unbalanced block
raises too. What it leaves out of Go templates: ``template``/``block``, ``break``/``continue``,
method calls, chained field access on a parenthesised pipeline, and every Helm function the
chart does not use (``FUNCTIONS`` lists those it knows).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml


class TemplateError(Exception):
    """A template that does not parse or render; the message names the template and line."""


# -- lexing ----------------------------------------------------------------------------------
_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


@dataclass
class _Token:
    kind: str  # "text" or "action"
    value: str
    line: int


def _lex(source: str, name: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    trim_next = False
    for match in _ACTION.finditer(source):
        text = source[pos:match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        line = source.count("\n", 0, match.start()) + 1
        if text:
            tokens.append(_Token("text", text, line))
        body = match.group(2).strip()
        if "{{" in body:
            raise TemplateError(f"{name}:{line}: an action opened inside another: {{{{{body}}}}}")
        if not (body.startswith("/*") and body.endswith("*/")):
            tokens.append(_Token("action", body, line))
        trim_next = bool(match.group(3))
        pos = match.end()
    rest = source[pos:]
    if "{{" in rest or "}}" in rest:
        line = source.count("\n", 0, pos) + 1
        raise TemplateError(f"{name}:{line}: an unbalanced '{{{{' or '}}}}' after this line")
    if trim_next:
        rest = rest.lstrip()
    if rest:
        tokens.append(_Token("text", rest, source.count("\n", 0, pos) + 1))
    return tokens


# -- expressions -----------------------------------------------------------------------------
_EXPR = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)


def _tokens(expr: str, where: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        match = _EXPR.match(expr, pos)
        if match is None:
            raise TemplateError(f"{where}: cannot read {expr[pos:]!r} in {{{{ {expr} }}}}")
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append((kind, match.group()))
        pos = match.end()
    return out


@dataclass
class _Node:
    kind: str
    line: int
    expr: str = ""
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)
    text: str = ""


_OPENERS = ("if", "range", "with", "define")


def _parse(tokens: list[_Token], name: str) -> tuple[list[_Node], dict[str, list[_Node]]]:
    """The template's nodes, and the ``define``d templates found in it."""
    defines: dict[str, list[_Node]] = {}
    root: list[_Node] = []
    # Each frame: (the node being built or None at the top, the list being filled).
    stack: list[tuple[_Node | None, list[_Node]]] = [(None, root)]
    for token in tokens:
        target = stack[-1][1]
        if token.kind == "text":
            target.append(_Node("text", token.line, text=token.value))
            continue
        word, _, rest = token.value.partition(" ")
        rest = rest.strip()
        where = f"{name}:{token.line}"
        if word in _OPENERS:
            if not rest:
                raise TemplateError(f"{where}: '{word}' without an argument")
            node = _Node(word, token.line, expr=rest)
            target.append(node)
            stack.append((node, node.body))
        elif word == "else":
            opened = stack[-1][0]
            if opened is None or opened.kind not in ("if", "range", "with"):
                raise TemplateError(f"{where}: 'else' outside if/range/with")
            stack.pop()
            if rest.startswith("if "):
                # `else if X` is an `if X` inside the else branch, closed by the same `end`.
                inner = _Node("if", token.line, expr=rest[3:].strip(), text="elseif")
                opened.orelse.append(inner)
                stack.append((opened, opened.orelse))
                stack.append((inner, inner.body))
            else:
                stack.append((opened, opened.orelse))
        elif word == "end":
            if len(stack) == 1:
                raise TemplateError(f"{where}: 'end' with nothing open")
            node, _ = stack.pop()
            while node is not None and node.text == "elseif":
                node, _ = stack.pop()  # the else-if chain ends with its outer if
            if node is not None and node.kind == "define":
                if node in root:
                    root.remove(node)
                defines[_unquote(node.expr, where)] = node.body
        elif word in ("template", "block", "break", "continue"):
            raise TemplateError(f"{where}: '{word}' is not supported by this renderer")
        else:
            target.append(_Node("action", token.line, expr=token.value))
    if len(stack) != 1:
        node = stack[-1][0]
        raise TemplateError(f"{name}:{node.line if node else 0}: '{node.kind if node else '?'}'"
                            " is never closed with {{ end }}")
    return root, defines


def _unquote(text: str, where: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return bytes(text[1:-1], "utf-8").decode("unicode_escape")
    if len(text) >= 2 and text[0] == text[-1] == "`":
        return text[1:-1]
    raise TemplateError(f"{where}: expected a quoted string, got {text}")


# -- values and functions --------------------------------------------------------------------
def truthy(value: Any) -> bool:
    """Go templates' truth: false, 0, nil and empty strings, maps and lists are false."""
    return bool(value)


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        raise TemplateError(f"printing a map or list directly: {value!r} (use toYaml)")
    return str(value)


def _to_yaml(value: Any) -> str:
    if value is None:
        return "null"
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")


def _indent(width: Any, text: Any) -> str:
    pad = " " * int(width)
    return "\n".join(pad + line if line else line for line in to_text(text).split("\n"))


def _printf(fmt: str, *args: Any) -> str:
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        if match.group() == "%%":
            return "%"
        return to_text(next(values))

    return re.sub(r"%[svd%]", one, fmt)


def _go_quote(value: Any) -> str:
    text = to_text(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _and(*args: Any) -> Any:
    for arg in args:
        if not truthy(arg):
            return arg
    return args[-1]


def _or(*args: Any) -> Any:
    for arg in args:
        if truthy(arg):
            return arg
    return args[-1]


def _required(message: str, value: Any) -> Any:
    if not truthy(value):
        raise TemplateError(f"required: {message}")
    return value


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "default": lambda fallback, value=None: value if truthy(value) else fallback,
    "quote": _go_quote,
    "toYaml": _to_yaml,
    "indent": _indent,
    "nindent": lambda width, text: "\n" + _indent(width, text),
    "trunc": lambda n, text: to_text(text)[: int(n)],
    "trimSuffix": lambda suffix, text: to_text(text).removesuffix(suffix),
    "replace": lambda old, new, text: to_text(text).replace(old, new),
    "contains": lambda sub, text: sub in to_text(text),
    "printf": _printf,
    "eq": lambda a, *others: any(a == b for b in others),
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "lt": lambda a, b: a < b,
    "ge": lambda a, b: a >= b,
    "le": lambda a, b: a <= b,
    "not": lambda value: not truthy(value),
    "and": _and,
    "or": _or,
    "int": lambda value: int(value or 0),
    "b64enc": lambda value: base64.b64encode(to_text(value).encode()).decode(),
    "required": _required,
    "toString": to_text,
    "lower": lambda value: to_text(value).lower(),
    "upper": lambda value: to_text(value).upper(),
}


# -- rendering -------------------------------------------------------------------------------
class Renderer:
    """Renders the templates of one chart; ``defines`` come from every file, as in Helm."""

    def __init__(self, templates: Mapping[str, str]) -> None:
        self.trees: dict[str, list[_Node]] = {}
        self.defines: dict[str, list[_Node]] = {}
        self.names: dict[int, str] = {}
        for name, source in templates.items():
            tree, defines = _parse(_lex(source, name), name)
            self.trees[name] = tree
            for define, body in defines.items():
                if define in self.defines:
                    raise TemplateError(f"{name}: template {define!r} is defined twice")
                self.defines[define] = body
                self.names[id(body)] = name
        self.current = ""

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        self.current = name
        return self._run(self.trees[name], context, {"$": context}, name)

    # Each node list runs with its own copy of the variables: a := inside a block ends there.
    def _run(self, nodes: list[_Node], dot: Any, variables: dict[str, Any], name: str) -> str:
        scope = dict(variables)
        out: list[str] = []
        for node in nodes:
            where = f"{name}:{node.line}"
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                value = self._statement(node.expr, dot, scope, where)
                if value is not _NOTHING:
                    out.append(to_text(value))
            elif node.kind == "if":
                chosen = node.body if truthy(self._pipeline(node.expr, dot, scope, where)) \
                    else node.orelse
                out.append(self._run(chosen, dot, scope, name))
            elif node.kind == "with":
                value = self._pipeline(node.expr, dot, scope, where)
                out.append(self._run(node.body, value, scope, name) if truthy(value)
                           else self._run(node.orelse, dot, scope, name))
            elif node.kind == "range":
                out.append(self._range(node, dot, scope, name, where))
        return "".join(out)

    def _range(self, node: _Node, dot: Any, scope: dict[str, Any], name: str,
               where: str) -> str:
        expr, names = node.expr, []
        declared = re.match(r"^(\$\w+)(?:\s*,\s*(\$\w+))?\s*:=\s*(.+)$", expr, re.S)
        if declared:
            names = [n for n in declared.groups()[:2] if n]
            expr = declared.group(3)
        items = self._pipeline(expr, dot, scope, where)
        pairs = list(items.items()) if isinstance(items, dict) else list(enumerate(items or []))
        if not pairs:
            return self._run(node.orelse, dot, scope, name)
        out = []
        for key, item in pairs:
            inner = dict(scope)
            if len(names) == 1:
                inner[names[0]] = item
            elif len(names) == 2:
                inner[names[0]], inner[names[1]] = key, item
            out.append(self._run(node.body, item, inner, name))
        return "".join(out)

    def _statement(self, expr: str, dot: Any, scope: dict[str, Any], where: str) -> Any:
        declared = re.match(r"^(\$\w+)\s*(:?=)\s*(.+)$", expr, re.S)
        if declared:
            scope[declared.group(1)] = self._pipeline(declared.group(3), dot, scope, where)
            return _NOTHING
        return self._pipeline(expr, dot, scope, where)

    def _pipeline(self, expr: str, dot: Any, scope: dict[str, Any], where: str) -> Any:
        tokens = _tokens(expr, where)
        value, rest = self._parse_pipeline(tokens, dot, scope, where)
        if rest:
            raise TemplateError(f"{where}: unexpected {rest[0][1]!r} in {{{{ {expr} }}}}")
        return value

    def _parse_pipeline(self, tokens: list[tuple[str, str]], dot: Any, scope: dict[str, Any],
                        where: str) -> tuple[Any, list[tuple[str, str]]]:
        value: Any = _NOTHING
        while True:
            command: list[Any] = []
            while tokens and tokens[0][0] not in ("pipe", "rparen"):
                kind, text = tokens[0]
                if kind == "lparen":
                    inner, tokens = self._parse_pipeline(tokens[1:], dot, scope, where)
                    if not tokens or tokens[0][0] != "rparen":
                        raise TemplateError(f"{where}: a '(' is never closed")
                    command.append(("value", inner))
                    tokens = tokens[1:]
                    continue
                command.append((kind, text))
                tokens = tokens[1:]
            if not command:
                raise TemplateError(f"{where}: an empty command in a pipeline")
            value = self._command(command, value, dot, scope, where)
            if tokens and tokens[0][0] == "pipe":
                tokens = tokens[1:]
                continue
            return value, tokens

    def _command(self, command: list[Any], piped: Any, dot: Any, scope: dict[str, Any],
                 where: str) -> Any:
        head_kind, head = command[0]
        if head_kind == "ident" and head not in ("true", "false", "nil"):
            args = [self._operand(kind, text, dot, scope, where) for kind, text in command[1:]]
            if piped is not _NOTHING:
                args.append(piped)
            if head == "include":
                if len(args) != 2:
                    raise TemplateError(f"{where}: include takes a name and a context")
                return self._include(args[0], args[1], where)
            function = FUNCTIONS.get(head)
            if function is None:
                raise TemplateError(f"{where}: unknown function {head!r} (this renderer knows "
                                    f"{', '.join(sorted(FUNCTIONS))} and include)")
            try:
                return function(*args)
            except TemplateError as exc:
                raise TemplateError(f"{where}: {exc}") from None
            except (TypeError, ValueError) as exc:
                raise TemplateError(f"{where}: {head}: {exc}") from None
        if len(command) != 1 or piped is not _NOTHING:
            raise TemplateError(f"{where}: {head!r} is not a function but has arguments")
        return self._operand(head_kind, head, dot, scope, where)

    def _operand(self, kind: str, text: Any, dot: Any, scope: dict[str, Any],
                 where: str) -> Any:
        if kind == "value":
            return text
        if kind == "string":
            return _unquote(text, where)
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "ident":
            if text in ("true", "false", "nil"):
                return {"true": True, "false": False, "nil": None}[text]
            raise TemplateError(f"{where}: function {text!r} used as a value; wrap it in ( )")
        if kind == "field":
            return dot if text == "." else _walk(dot, text.split(".")[1:], text, where)
        if kind == "var":
            variable, *path = text.split(".")
            if variable not in scope:
                raise TemplateError(f"{where}: undefined variable {variable}")
            return _walk(scope[variable], path, text, where)
        raise TemplateError(f"{where}: unexpected {text!r}")

    def _include(self, name: Any, context: Any, where: str) -> str:
        body = self.defines.get(name)
        if body is None:
            raise TemplateError(f"{where}: include of an undefined template {name!r}")
        return self._run(body, context, {"$": context}, self.names[id(body)])


_NOTHING = object()


def _walk(value: Any, path: list[str], text: str, where: str) -> Any:
    for depth, key in enumerate(path):
        if not isinstance(value, Mapping):
            raise TemplateError(f"{where}: {text}: cannot read {key!r} of a "
                                f"{type(value).__name__}")
        if key not in value:
            known = ", ".join(sorted(str(k) for k in value)) or "none"
            reached = ".".join(path[:depth]) or "."
            raise TemplateError(f"{where}: {text}: no key {key!r} under {reached} "
                                f"(keys there: {known})")
        value = value[key]
    return value


def merge_values(base: Any, override: Any) -> Any:
    """Helm's coalescing of a values file over the chart's values.yaml: maps merge key by
    key, anything else is replaced (a ``null`` removes the key)."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = value
    return merged
