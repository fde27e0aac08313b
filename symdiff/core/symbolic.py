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

import functools
import numbers
import sys

import numpy as np

from symdiff.core import ops
from symdiff.core.rules import RULES as _RULES
from symdiff.core.node import Node, const, make

__all__ = ["apply", "add", "sub", "mul", "div", "neg", "pow", "const",
           "constant_value", "as_node"]

ZERO = const(0.0)
ONE = const(1.0)


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


_OPS = ops.OPS


def _apply1(name: str, op, a) -> Node:
    # Fast path for unary ops (the hot path of differentiation).
    if a.__class__ is not Node:
        a = as_node(a)
    if a.op == "const":                         # constants fold
        return const(ops.fold(op, a.payload))
    rule = _RULES.get(name)
    if rule is not None:
        out = rule(_S, a)
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
        out = rule(_S, a, b)
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
        out = rule(_S, *args)
        if out is not None:
            return out
    return make(name, args)


# ---------------------------------------------------------------------------
# The F namespace used by derivative rules, and the arithmetic behind the
# Node operators.  The fast paths below avoid apply()'s generic
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


def fn(name: str):
    """The builder of op ``name`` (the namespace protocol of
    :func:`symdiff.core.program.run`)."""
    f = _BUILDERS.get(name)
    if f is None:
        if name not in _OPS:
            raise KeyError(f"namespace 'symbolic' has no implementation of op {name!r}")
        f = _BUILDERS[name] = functools.partial(apply, name)
    return f


def binary_operator(name: str, a, b):
    """``a <op> b`` for the Node operators: ``NotImplemented`` for operands
    that are neither nodes nor real numbers (numpy arrays then apply the
    operation elementwise to object arrays of nodes)."""
    if a.__class__ is not Node:
        if isinstance(a, np.ndarray):
            return NotImplemented
        try:
            a = as_node(a)
        except TypeError:
            return NotImplemented
    if b.__class__ is not Node:
        if isinstance(b, np.ndarray):
            return NotImplemented
        try:
            b = as_node(b)
        except TypeError:
            return NotImplemented
    return _apply2(name, _OPS[name], a, b)


_S = sys.modules[__name__]


# The fast builders defined above, by op name (fn() falls back to apply).
_BUILDERS = {name: globals()[name] for name in _OPS
             if name in globals() and name not in ("max", "min")}
