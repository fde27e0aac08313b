"""Infix printing with minimal parentheses.

The printed text parses back (with :func:`symdiff.parse`) to the very same
node: parentheses are kept wherever dropping them would regroup the
operations and so change IEEE rounding (``a + (b + c)`` is not ``a + b + c``).
Operators, precedences and associativity are the op table's, through
:mod:`symdiff.text.operators`: a binary op prints between its operands
with its ``infix`` spelling (``x*y``, ``x + y``, ``X @ Theta``), a unary op
with a spelling as a prefix (``-x``), a structural tensor op as its
``spell`` says (``X.T``, ``X[0, 1:3]``, ``sum(Z, axis=1)``,
``onehot(y, 10)``), every other op as a call (``sin(x)``,
``max(x, y, z)``).  Composites (:mod:`symdiff.text.composites`) print as
the call that builds them (``softmax(Z, axis=1)``, ``mean(...)``).

Leaves: a dimension prints as its name (``m``), the identity as
``eye(n)``, a constant array of at most :data:`SMALL_ARRAY` entries as a
nested list (``[[1, 2], [3, 4]]``) and a larger one as a name (``C1``,
``C2`` ... in order of appearance, unless ``names`` names it): its values
are not text, so such an expression parses back only with that name bound
(``parse(text, symbols={"C1": node})``).

Tensor-valued sums, differences, products and quotients are spaced
(``A @ x - b``, ``t1 * t1``), as are ``@`` and the loosest operators of
scalar expressions (``x*y + 2*z``); scalar printing is unchanged by
tensors.  Printing is iterative (an explicit stack), so deep expressions
print at the default recursion limit.  Shared subexpressions are printed
each time they occur; :func:`symdiff.to_program` prints the CSE'd form
instead.
"""

from __future__ import annotations

import math

import numpy as np

from symdiff.core.node import Node
from symdiff.core.ops import ALL_OPS, PREC_ADD, PREC_ATOM, PREC_MUL
from symdiff.text import operators as _operators
from symdiff.text.composites import View, keyword_text
from symdiff.text.operators import Prefix

__all__ = ["to_string", "format_number", "array_text", "subscript_text", "call_text",
           "leaf_text", "ConstantNames", "constant_prefix", "unused_prefix", "is_signed",
           "SMALL_ARRAY"]

#: Constant arrays with at most this many entries print as nested lists.
SMALL_ARRAY = 16


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


def is_signed(v: float) -> bool:
    """Whether the number ``v`` prints with a leading '-' (-0 included)."""
    return v < 0 or (v == 0 and math.copysign(1.0, v) < 0)


def array_text(values: np.ndarray) -> str:
    """A constant array as a nested list of exact numbers: ``[[1, 2], [3, 4]]``."""
    items = [format_number(v) for v in values.ravel().tolist()]
    for n in reversed(values.shape):
        items = ["[" + ", ".join(items[i:i + n]) + "]" for i in range(0, len(items), n)]
    return items[0]


def is_small_array(values: np.ndarray) -> bool:
    """Whether a constant array prints as its values (else as a name)."""
    return 0 < values.size <= SMALL_ARRAY


def subscript_text(spec: tuple, trim: bool = True) -> str:
    """An index spec as the inside of a subscript: ``0, 1:3``, ``:, ::2``.
    With ``trim``, trailing full slices are left out (``X[0]`` indexes the
    first axis of a matrix as ``X[0, :]`` does)."""
    items = []
    for item in spec:
        if isinstance(item, tuple):
            start, stop, step = ("" if v is None else str(v) for v in item)
            items.append(f"{start}:{stop}" + (f":{step}" if step else ""))
        else:
            items.append(str(item))
    if trim:
        while len(items) > 1 and items[-1] == ":":
            items.pop()
    return ", ".join(items)


def _literal(value) -> str:
    """A structural parameter as text (an index spec in brackets)."""
    if isinstance(value, tuple) and any(isinstance(v, tuple) for v in value):
        return "[" + subscript_text(value, trim=False) + "]"
    return keyword_text(value)


def call_text(spelled: tuple) -> tuple[str, str]:
    """The text around the argument of a ``("call", name, keywords[,
    positional])`` spelling: ``("sum(", ", axis=1)")``."""
    name, keywords = spelled[1], spelled[2]
    positional = spelled[3] if len(spelled) > 3 else ()
    tail = [_literal(v) for v in positional]
    tail += [f"{k}={_literal(v)}" for k, v in keywords.items()]
    return name + "(", "".join(", " + t for t in tail) + ")"


def unused_prefix(candidates, taken) -> str | None:
    """The first of ``candidates`` that no name in ``taken`` uses followed
    by digits (so that ``C1`` or ``t1`` cannot be confused with a name the
    text already has), or None."""
    taken = list(taken)
    for prefix in candidates:
        if not any(n.startswith(prefix) and n[len(prefix):].isdigit() for n in taken):
            return prefix
    return None


def constant_prefix(taken) -> str:
    """The first of C, const, _C ... such that no name in ``taken`` is that
    prefix followed by digits (the names of large constant arrays)."""
    return unused_prefix(("C", "const", "_C"), taken) or "_const_"


class ConstantNames:
    """The names of the large constant arrays of one printed text: C1, C2
    ... in the order :meth:`name` is first asked for each, with the
    :func:`constant_prefix` of the names ``taken()`` returns (called only
    when the first array is named).  Every printer (infix, LaTeX, programs,
    DOT) names its arrays here."""

    def __init__(self, taken):
        self._taken = taken
        self.prefix: str | None = None
        self.names: dict[Node, str] = {}

    @classmethod
    def of(cls, expr) -> "ConstantNames":
        """The names for printing ``expr`` (one expression or several):
        the prefix avoids the names of its free symbols."""
        def taken():
            from symdiff.core.graph import free_symbols

            return [s.payload for s in free_symbols(expr)]

        return cls(taken)

    def name(self, node: Node) -> str:
        """The name of the constant array ``node``."""
        name = self.names.get(node)
        if name is None:
            if self.prefix is None:
                self.prefix = constant_prefix(self._taken())
            name = self.names[node] = f"{self.prefix}{len(self.names) + 1}"
        return name


def leaf_text(node: Node, constants: ConstantNames) -> str:
    """The text of a leaf: a symbol's or dimension's name, an exact number,
    ``eye(n)``, a small constant array's values, a large one's name from
    ``constants``."""
    op = node.op
    if op == "sym" or op == "dim":
        return node.payload
    if op == "const":
        return format_number(node.payload)
    if op == "eye":
        return f"eye({node.payload})"
    if op == "array":
        if is_small_array(node.payload):
            return array_text(node.payload)
        return constants.name(node)
    raise ValueError(f"cannot print leaf {op!r}")


def to_string(expr, names: dict | None = None, view: View | None = None) -> str:
    """Infix text of an expression with minimal parentheses.

    ``names`` optionally maps nodes to text printed in their place (used by
    :func:`symdiff.to_program` for CSE temporaries); ``view`` is the
    :class:`~symdiff.text.composites.View` to print composites with (one is
    made if not given).
    """
    if not isinstance(expr, Node):
        from symdiff.core.symbolic import as_node

        expr = as_node(expr)
    operators = _operators.OPERATORS
    by_op = operators.by_op
    signed = signed_precedence(operators)
    view = View() if view is None else view
    match = view.match
    constants = ConstantNames.of(expr)
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
        a = node.args
        if not a:
            text = leaf_text(node, constants)
            if node.op == "const" and is_signed(node.payload):
                # A sign reads as the prefix operator '-'.
                if signed < (prefix_need if prefix_need != need else need):
                    text = "(" + text + ")"
            out.append(text)
            continue
        m = match(node)
        form = by_op.get(node.op) if m is None else None
        if form is None:
            # Calls, postfix and subscript forms bind like atoms.
            _push_atom_form(node, m, stack, out)
            continue
        spelling, f = form
        if prefix_need != need and isinstance(f, Prefix):
            need = prefix_need
        paren = f.precedence < need
        if paren:
            stack.append(")")
            out.append("(")
        if isinstance(f, Prefix):
            stack.append((a[0], f.need, f.prefix_need))
            out.append(spelling)
        else:
            stack.append((a[1], f.right_need, f.prefix_need))
            # The loosest operators are spaced, so that the terms of a sum
            # stand out (x*y + 2*z, x^2 - 1), and so is matrix algebra
            # (X.T @ (P - Iy) / m); scalar products stay tight.
            spaced = f.precedence <= PREC_ADD or (
                f.precedence <= PREC_MUL
                and (node.shape or ALL_OPS[node.op].kind == "structural"))
            stack.append(f" {spelling} " if spaced else spelling)
            stack.append((a[0], f.left_need, f.left_need))
    return "".join(out)


def _push_atom_form(node: Node, m, stack: list, out: list) -> None:
    """Print a composite, a structural op or a called op (none needs
    parentheses around it)."""
    if m is not None:
        head, tail = call_text(("call", m.name, m.keywords))
        stack.append(tail)
        stack.append((m.x, 0, 0))
        out.append(head)
        return
    a = node.args
    op = ALL_OPS[node.op]
    if op.spell is not None:
        spelled = op.spell(node.payload, [x.shape for x in a])
        kind = spelled[0]
        if kind == "postfix":
            stack.append(spelled[1])
            stack.append((a[0], PREC_ATOM, PREC_ATOM))
            return
        if kind == "subscript":
            stack.append("[" + subscript_text(spelled[1]) + "]")
            stack.append((a[0], PREC_ATOM, PREC_ATOM))
            return
        head, tail = call_text(spelled)
        stack.append(tail)
        stack.append((a[0], 0, 0))
        out.append(head)
        return
    stack.append(")")
    for i in range(len(a) - 1, -1, -1):
        stack.append((a[i], 0, 0))
        if i:
            stack.append(", ")
    out.append(node.op + "(")
