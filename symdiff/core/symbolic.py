"""Simplifying constructors: the only way symdiff builds non-leaf nodes.

``apply(name, *args)`` folds constants, applies the light rewrite rules
below and puts commutative operands in canonical order before interning.
Every rule keeps the IEEE result for finite inputs (the value, up to the
sign of a zero result); rules that would change a result for a finite input
(``x - x -> 0`` at huge x is fine, but ``x/x -> 1`` is not at x = 0) are not
here.

This module doubles as the namespace ``F`` that the op table's derivative
rules are written against: ``F.add``, ``F.mul``, ``F.exp``, ``F.const``,
``F.constant_value`` ... so that the same rule builds expressions here and
computes numbers in :mod:`symdiff.numeric.namespaces`.
"""

from __future__ import annotations

import numbers

import numpy as np

from symdiff.core import ops as ops
from symdiff.core.node import Node, const, make

__all__ = ["apply", "add", "sub", "mul", "div", "neg", "pow", "const",
           "constant_value", "as_node"]

_ZERO = const(0.0)
_ONE = const(1.0)


def as_node(value) -> Node:
    """Coerce a Node or a real number to a Node (``TypeError`` otherwise)."""
    if isinstance(value, Node):
        return value
    if isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, bool):
        return const(float(value))
    if isinstance(value, bool):
        return const(float(value))
    raise TypeError(f"cannot use {type(value).__name__} {value!r} in a symdiff expression")


def constant_value(node: Node):
    """The float value of a constant node, or ``None`` for anything else."""
    return node.payload if node.op == "const" else None


def _order_key(node: Node):
    # Canonical order of commutative operands (see symdiff.core.node): constants
    # first (so products print as 2*x), then symbols by natural name, then
    # compound expressions by structural hash.  It depends on structure only.
    return node.order


# ---------------------------------------------------------------------------
# Rewrite rules.  Each returns a node or None (no rule applies).  Operands
# of commutative ops are already in canonical order, so a constant operand
# is always args[0].


def _rules_add(a, b):
    if a.op == "const" and a.payload == 0.0:   # 0 + b -> b
        return b
    if b.op == "neg":                           # a + -c -> a - c (exact)
        return apply("sub", a, b.args[0])
    if a.op == "neg":                           # -c + b -> b - c (exact)
        return apply("sub", b, a.args[0])
    return None


def _rules_sub(a, b):
    if b.op == "const" and b.payload == 0.0:   # a - 0 -> a
        return a
    if a.op == "const" and a.payload == 0.0:   # 0 - b -> -b
        return apply("neg", b)
    if b.op == "neg":                           # a - -c -> a + c (exact)
        return apply("add", a, b.args[0])
    return None


def _rules_mul(a, b):
    if a.op == "const":
        c = a.payload
        if c == 0.0:                            # 0 * b -> 0 (finite b)
            return _ZERO
        if c == 1.0:                            # 1 * b -> b
            return b
        if c == -1.0:                           # -1 * b -> -b
            return apply("neg", b)
        if b.op == "neg":                       # c * -d -> (-c) * d (exact)
            return apply("mul", const(-c), b.args[0])
    if a.op == "neg":
        if b.op == "neg":                       # -a * -b -> a * b (exact)
            return apply("mul", a.args[0], b.args[0])
        return apply("neg", apply("mul", a.args[0], b))   # -a * b -> -(a*b) (exact)
    if b.op == "neg":                           # a * -b -> -(a*b) (exact)
        return apply("neg", apply("mul", a, b.args[0]))
    return None


def _rules_div(a, b):
    if b.op == "const":
        if b.payload == 1.0:                    # a / 1 -> a
            return a
        if b.payload == -1.0:                   # a / -1 -> -a
            return apply("neg", a)
    if a.op == "neg":
        if b.op == "neg":                       # -a / -b -> a / b (exact)
            return apply("div", a.args[0], b.args[0])
        return apply("neg", apply("div", a.args[0], b))   # -a / b -> -(a/b) (exact)
    if b.op == "neg":                           # a / -b -> -(a/b) (exact)
        return apply("neg", apply("div", a, b.args[0]))
    return None


def _rules_neg(a):
    if a.op == "neg":                           # --a -> a
        return a.args[0]
    if a.op == "sub":                           # -(a - b) -> b - a (exact)
        return apply("sub", a.args[1], a.args[0])
    return None


def _rules_pow(a, b):
    if b.op == "const":
        if b.payload == 1.0:                    # a ^ 1 -> a
            return a
        if b.payload == 0.0:                    # a ^ 0 -> 1 (IEEE: even NaN^0 = 1)
            return _ONE
    if a.op == "const" and a.payload == 1.0:    # 1 ^ b -> 1 (IEEE: even 1^NaN = 1)
        return _ONE
    return None


def _rules_maxmin(name):
    def rules(*args):
        flat = []
        for x in args:                          # max(max(a, b), c) -> max(a, b, c)
            flat.extend(x.args if x.op == name else (x,))
        uniq = list(dict.fromkeys(flat))        # max(a, a) -> a
        if len(uniq) == 1:
            return uniq[0]
        if len(uniq) != len(args) or len(flat) != len(args):
            return apply(name, *uniq)
        return None

    return rules


_RULES = {
    "add": _rules_add,
    "sub": _rules_sub,
    "mul": _rules_mul,
    "div": _rules_div,
    "neg": _rules_neg,
    "pow": _rules_pow,
    "max": _rules_maxmin("max"),
    "min": _rules_maxmin("min"),
}

_OPS = ops.OPS


def _apply1(name: str, op, a) -> Node:
    # Fast path for unary ops (the hot path of differentiation).
    if a.__class__ is not Node:
        a = as_node(a)
    if a.op == "const":                         # constants fold
        return const(ops.fold(op, a.payload))
    rule = _RULES.get(name)
    if rule is not None:
        out = rule(a)
        if out is not None:
            return out
    return make(name, (a,))


def _apply2(name: str, op, a, b) -> Node:
    # Fast path for binary ops: no generic tuple/sort machinery.
    if a.__class__ is not Node:
        a = as_node(a)
    if b.__class__ is not Node:
        b = as_node(b)
    if a.op == "const" and b.op == "const":     # constants fold
        return const(ops.fold(op, a.payload, b.payload))
    if op.commutative and b.order < a.order:
        a, b = b, a
    rule = _RULES.get(name)
    if rule is not None:
        out = rule(a, b)
        if out is not None:
            return out
    return make(name, (a, b))


def apply(name: str, *args) -> Node:
    """Build ``name(*args)`` with constant folding, rewrite rules and
    canonical operand order.  Arguments may be nodes or real numbers."""
    op = _OPS.get(name)
    if op is None:
        raise ValueError(f"unknown operation {name!r}")
    if op.arity == 2 and len(args) == 2:
        return _apply2(name, op, args[0], args[1])
    if op.arity == 1 and len(args) == 1:
        return _apply1(name, op, args[0])
    args = tuple(a if isinstance(a, Node) else as_node(a) for a in args)
    if not op.check_arity(len(args)):
        raise TypeError(f"{name} takes {op.arity if op.arity > 0 else '2 or more'} "
                        f"arguments, got {len(args)}")
    if all(a.op == "const" for a in args):      # constants fold
        return const(ops.fold(op, *(a.payload for a in args)))
    if op.commutative:
        args = tuple(sorted(args, key=_order_key))
    rule = _RULES.get(name)
    if rule is not None:
        out = rule(*args)
        if out is not None:
            return out
    return make(name, args)


# ---------------------------------------------------------------------------
# The F namespace used by derivative rules, and the arithmetic used by the
# operator overloads.  The fast paths below avoid apply()'s generic
# dispatch on the hot path of differentiation.


_ADD, _SUB, _MUL, _DIV, _NEG, _POW = (_OPS[k] for k in ("add", "sub", "mul", "div", "neg", "pow"))


def add(a, b) -> Node:
    """a + b"""
    return _apply2("add", _ADD, a, b)


def sub(a, b) -> Node:
    """a - b"""
    return _apply2("sub", _SUB, a, b)


def mul(a, b) -> Node:
    """a * b"""
    return _apply2("mul", _MUL, a, b)


def div(a, b) -> Node:
    """a / b"""
    return _apply2("div", _DIV, a, b)


def neg(a) -> Node:
    """-a"""
    return _apply1("neg", _NEG, a)


def pow(a, b) -> Node:  # noqa: A001 - mirrors the op name
    """a ^ b"""
    return _apply2("pow", _POW, a, b)


def _make_unary(name):
    op = ops.OPS[name]

    def fn(a) -> Node:
        return _apply1(name, op, a)

    fn.__name__ = name
    fn.__doc__ = f"{name}(a): {ops.OPS[name].doc or name}"
    return fn


for _name, _op in ops.OPS.items():
    if _name not in globals() and _op.arity == 1:
        globals()[_name] = _make_unary(_name)


def eq(a, b) -> Node:
    """1 if a == b else 0 (a derivative helper for max/min)."""
    return apply("eq", a, b)


# ---------------------------------------------------------------------------
# Operator overloads on Node.  Returning NotImplemented for numpy arrays lets
# numpy apply the operation elementwise to object arrays of nodes.


def _binary(name, reflected=False):
    op = _OPS[name]

    def method(self, other):
        if other.__class__ is not Node:
            if isinstance(other, np.ndarray):
                return NotImplemented
            try:
                other = as_node(other)
            except TypeError:
                return NotImplemented
        return _apply2(name, op, other, self) if reflected else _apply2(name, op, self, other)

    return method


Node.__add__ = _binary("add")
Node.__radd__ = _binary("add", True)
Node.__sub__ = _binary("sub")
Node.__rsub__ = _binary("sub", True)
Node.__mul__ = _binary("mul")
Node.__rmul__ = _binary("mul", True)
Node.__truediv__ = _binary("div")
Node.__rtruediv__ = _binary("div", True)
Node.__pow__ = _binary("pow")
Node.__rpow__ = _binary("pow", True)
Node.__neg__ = lambda self: _apply1("neg", _NEG, self)
Node.__pos__ = lambda self: self
