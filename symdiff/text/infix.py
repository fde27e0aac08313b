"""Infix printing with minimal parentheses.

The printed text parses back (with :func:`symdiff.parse`) to the very same
node: parentheses are kept wherever dropping them would regroup the
operations and so change IEEE rounding (``a + (b + c)`` is not ``a + b + c``).
Printing is iterative (an explicit stack), so deep expressions print at the
default recursion limit.  Shared subexpressions are printed each time they
occur; :func:`symdiff.to_program` prints the CSE'd form instead.
"""

from __future__ import annotations

import math

from symdiff.core.node import Node
from symdiff.core.ops import OPS, PREC_ATOM, PREC_NEG, PREC_POW

__all__ = ["to_string", "format_number"]

_SPACED = {"+", "-"}


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


def _prec(node: Node) -> int:
    """Binding strength of the printed form of ``node``."""
    if node.op == "const":
        v = node.payload
        return PREC_NEG if (v < 0 or (v == 0 and math.copysign(1, v) < 0)) else PREC_ATOM
    if node.op == "sym":
        return PREC_ATOM
    op = OPS[node.op]
    return op.precedence if op.infix else PREC_ATOM


def to_string(expr, names: dict | None = None) -> str:
    """Infix text of an expression with minimal parentheses.

    ``names`` optionally maps nodes to text printed in their place (used by
    :func:`symdiff.to_program` for CSE temporaries).
    """
    if not isinstance(expr, Node):
        from symdiff.core.symbolic import as_node

        expr = as_node(expr)
    out: list[str] = []
    # Work items: a str to emit, or (node, minimum precedence without parens).
    stack: list = [(expr, 0)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        node, need = item
        if names is not None and node is not expr and node in names:
            out.append(names[node])
            continue
        p = _prec(node)
        paren = p < need
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
        op = OPS[node.op]
        a = node.args
        if op.infix is None:
            stack.append(")")
            for i in range(len(a) - 1, -1, -1):
                stack.append((a[i], 0))
                if i:
                    stack.append(", ")
            out.append(node.op + "(")
        elif node.op == "neg":
            stack.append((a[0], PREC_NEG))
            out.append("-")
        elif node.op == "pow":
            # Right-associative; the exponent may carry a unary minus (2^-x).
            stack.append((a[1], PREC_NEG))
            stack.append("^")
            stack.append((a[0], PREC_POW + 1))
        else:
            sym = f" {op.infix} " if op.infix in _SPACED else op.infix
            # Left-associative: the right operand needs strictly higher
            # precedence, or the regrouping would change rounding.
            stack.append((a[1], op.precedence + 1))
            stack.append(sym)
            stack.append((a[0], op.precedence))
    return "".join(out)
