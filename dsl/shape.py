"""The shape of a parsed job: long AND / OR / || chains rebalanced, nesting bounded (issue 12).

Everything after the parser (analyzer, typer, optimizer, printer, the polars expressions)
walks expressions recursively, so a tree thousands of levels deep would exhaust Python's
stack. Two rules keep every tree shallow, applied once to the whole program, iteratively:

* a chain of one associative operator (`a OR b OR c ...`, `AND`, `||`), as generated queries
  write them by the thousand, is rebuilt as a balanced tree once it is longer than
  `BALANCE_FROM` terms (the same value: AND, OR and || are associative, NULLs included);
  shorter chains keep their written shape, so the printer gives them back as written;
* what is still deeper than `MAX_EXPRESSION_DEPTH` (nested calls, CASE, parentheses around
  arithmetic, a `+` chain) or a pattern nested deeper than `MAX_PATTERN_DEPTH` is refused
  with its position.
"""

from __future__ import annotations

import dataclasses

from frys.dsl import ast
from frys.dsl.errors import Diagnostic, Span

BALANCE_FROM = 32
MAX_EXPRESSION_DEPTH = 100
MAX_PATTERN_DEPTH = 30
ASSOCIATIVE = frozenset({"AND", "OR", "||"})


class TooDeep(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


_FIELDS: dict[type, tuple[str, ...]] = {}


def _is_node(value: object) -> bool:
    return hasattr(type(value), "__dataclass_fields__") and not isinstance(value, Span)


def _children(node: object) -> list[tuple[str, int | None, object]]:
    """(field, index in a tuple or None, child) for the AST nodes directly under `node`."""
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(
            f.name for f in dataclasses.fields(node)  # type: ignore[arg-type]
            if f.name not in ("span", "type"))
    found: list[tuple[str, int | None, object]] = []
    for name in names:
        value = getattr(node, name)
        if isinstance(value, tuple | list):
            found.extend((name, i, v) for i, v in enumerate(value) if _is_node(v))
        elif _is_node(value):
            found.append((name, None, value))
    return found


def reshape(program: ast.Program) -> ast.Program:
    """The program with long associative chains balanced; raises TooDeep where an expression
    or a pattern is still nested too deeply."""
    depth: dict[int, int] = {}  # id(new node) -> its expression or pattern depth
    done: dict[int, object] = {}  # id(old node) -> its rebuilt node
    # id(node) -> the operator of the chain it is the left or right operand of
    inside_chain: dict[int, str] = {}
    kids: dict[int, list[tuple[str, int | None, object]]] = {}
    stack: list[tuple[object, bool]] = [(program, False)]
    while stack:
        node, expanded = stack.pop()
        if not expanded:
            children = kids[id(node)] = _children(node)
            stack.append((node, True))
            chain = node.op if (isinstance(node, ast.BinaryOp)
                                and node.op in ASSOCIATIVE) else None
            for _, _, child in children:
                if chain is not None:
                    inside_chain[id(child)] = chain
                stack.append((child, False))
            continue
        changes: dict[str, object] = {}
        below = 0
        for name, index, child in kids.pop(id(node)):
            new = done[id(child)]
            below = max(below, depth.get(id(new), 0))
            if new is child:
                continue
            if index is None:
                changes[name] = new
            else:
                current = changes.get(name, getattr(node, name))
                items = list(current)  # type: ignore[call-overload]
                items[index] = new
                changes[name] = type(current)(items)  # type: ignore[call-arg]
        rebuilt = dataclasses.replace(node, **changes) if changes else node  # type: ignore
        if isinstance(rebuilt, ast.BinaryOp) and rebuilt.op in ASSOCIATIVE:
            if inside_chain.get(id(node)) == rebuilt.op:
                depth[id(rebuilt)] = below + 1  # a link: checked once balanced, at the top
            else:
                rebuilt = _balanced(rebuilt, depth)
        else:
            _record(rebuilt, below, depth)
        done[id(node)] = rebuilt
    return done[id(program)]  # type: ignore[return-value]


def _record(node: object, below: int, depth: dict[int, int]) -> None:
    """Record the node's depth, `below` being its deepest child's (an expression or pattern
    node counts one level; any other node, as a CASE's WHEN, passes its children's on), and
    refuse it if that is over its limit."""
    if isinstance(node, ast.Expr):
        limit, what = MAX_EXPRESSION_DEPTH, "an expression"
    elif isinstance(node, ast.PatternNode):
        limit, what = MAX_PATTERN_DEPTH, "a pattern"
    else:
        depth[id(node)] = below
        return
    depth[id(node)] = below + 1
    if below + 1 > limit:
        raise TooDeep(Diagnostic(f"{what} nested more than {limit} levels deep; write it "
                                 "flatter (a long AND/OR chain is fine)",
                                 node.span))  # type: ignore[attr-defined]


def _balanced(node: ast.BinaryOp, depth: dict[int, int]) -> ast.BinaryOp:
    """The chain of `node.op` under `node` as a balanced tree if it is long enough, checked
    against the depth limit either way."""
    terms: list[ast.Expr] = []
    pending: list[ast.Expr] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, ast.BinaryOp) and current.op == node.op:
            pending.append(current.right)
            pending.append(current.left)
        else:
            terms.append(current)
    if len(terms) < BALANCE_FROM:
        _record(node, max(depth.get(id(node.left), 0), depth.get(id(node.right), 0)), depth)
        return node
    level: list[ast.Expr] = terms
    while len(level) > 1:
        paired: list[ast.Expr] = []
        for i in range(0, len(level) - 1, 2):
            left, right = level[i], level[i + 1]
            joined = ast.BinaryOp(node.op, left, right, span=_spanning(left, right))
            _record(joined, max(depth.get(id(left), 0), depth.get(id(right), 0)), depth)
            paired.append(joined)
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]  # type: ignore[return-value]


def _spanning(left: ast.Expr, right: ast.Expr) -> Span:
    return Span(left.span.line, left.span.column, right.span.end_line, right.span.end_column)
