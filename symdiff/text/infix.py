"""Infix printing with minimal parentheses.

The printed text parses back (with :func:`symdiff.parse`) to the very same
node: parentheses are kept wherever dropping them would regroup the
operations and so change IEEE rounding (``a + (b + c)`` is not ``a + b + c``).
Operators, precedences and associativity are the op table's, through
:mod:`symdiff.text.operators`: a binary op prints between its operands
with its ``infix`` spelling (``x*y``, ``x + y``), a unary op with a
spelling as a prefix (``-x``), every other op as a call (``sin(x)``,
``max(x, y, z)``).  Printing is iterative (an explicit stack), so deep
expressions print at the default recursion limit.  Shared subexpressions
are printed each time they occur; :func:`symdiff.to_program` prints the
CSE'd form instead.
"""

from __future__ import annotations

import math

from symdiff.core.node import Node
from symdiff.core.ops import PREC_ADD, PREC_ATOM
from symdiff.text import operators as _operators
from symdiff.text.operators import Prefix

__all__ = ["to_string", "format_number"]


def format_number(value: float) -> str:
    """Shortest text that reads back as exactly ``value``."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e16:
        text = str(int(value))
        if value == 0 and math.copysign(1.0, value) < 0:
            return "-0"
        return text
    return repr(value)


def signed_precedence(operators: _operators.Operators) -> int:
    """How tightly a negative number binds: :func:`format_number` writes it
    with a leading '-', which the parser reads as the prefix operator '-'
    applied to the magnitude (and folds)."""
    return operators.prefix["-"].precedence


def _is_signed(v: float) -> bool:
    return v < 0 or (v == 0 and math.copysign(1.0, v) < 0)


def _prec(node: Node, by_op: dict, signed: int) -> int:
    """Binding strength of the printed form of ``node``."""
    if node.op == "const":
        return signed if _is_signed(node.payload) else PREC_ATOM
    if node.op == "sym":
        return PREC_ATOM
    form = by_op.get(node.op)
    return PREC_ATOM if form is None else form[1].precedence


def _starts_with_prefix(node: Node, by_op: dict) -> bool:
    """Whether the printed form of ``node`` begins with a prefix operator or
    a sign (such an operand may follow ``^`` bare: ``2^-x``)."""
    if node.op == "const":
        return _is_signed(node.payload)
    form = by_op.get(node.op)
    return form is not None and isinstance(form[1], Prefix)


def to_string(expr, names: dict | None = None) -> str:
    """Infix text of an expression with minimal parentheses.

    ``names`` optionally maps nodes to text printed in their place (used by
    :func:`symdiff.to_program` for CSE temporaries).
    """
    if not isinstance(expr, Node):
        from symdiff.core.symbolic import as_node

        expr = as_node(expr)
    operators = _operators.OPERATORS
    by_op = operators.by_op
    signed = signed_precedence(operators)
    out: list[str] = []
    # Work items: a str to emit, or (node, minimum precedence without
    # parentheses, minimum precedence if it begins with a prefix operator).
    stack: list = [(expr, 0, 0)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        node, need, prefix_need = item
        if names is not None and node is not expr and node in names:
            out.append(names[node])
            continue
        if prefix_need != need and _starts_with_prefix(node, by_op):
            need = prefix_need
        paren = _prec(node, by_op, signed) < need
        if paren:
            stack.append(")")
        if node.op == "sym":
            out.append(("(" if paren else "") + node.payload)
            continue
        if node.op == "const":
            out.append(("(" if paren else "") + format_number(node.payload))
            continue
        if paren:
            out.append("(")
        a = node.args
        form = by_op.get(node.op)
        if form is None:
            stack.append(")")
            for i in range(len(a) - 1, -1, -1):
                stack.append((a[i], 0, 0))
                if i:
                    stack.append(", ")
            out.append(node.op + "(")
            continue
        spelling, f = form
        if isinstance(f, Prefix):
            stack.append((a[0], f.need, f.prefix_need))
            out.append(spelling)
        else:
            stack.append((a[1], f.right_need, f.prefix_need))
            # The loosest operators are spaced, so that the terms of a sum
            # stand out: x*y + 2*z, x^2 - 1.
            stack.append(f" {spelling} " if f.precedence <= PREC_ADD else spelling)
            stack.append((a[0], f.left_need, f.left_need))
    return "".join(out)
