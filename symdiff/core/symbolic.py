"""Simplifying constructors: the only way symdiff builds non-leaf nodes.

``apply(name, *args)`` folds constants, applies the light rewrite rules
below and puts commutative operands in canonical order before interning.
Every rule keeps the IEEE result bit for bit, NaN, infinities and -0.0
included (``x - x -> 0`` and ``x/x -> 1`` are not rules: they are wrong at
inf and at 0); the few rewrites exact only up to the sign of a zero or for
finite values (``0*a -> 0``) apply only inside
:func:`symdiff.core.rules.fast_rules`.

This module doubles as the namespace ``F`` that the op table's derivative
rules are written against: ``F.add``, ``F.mul``, ``F.exp``, ``F.const``,
``F.constant_value`` ... so that the same rule builds expressions here and
computes numbers in :mod:`symdiff.numeric.namespaces`.
"""

from __future__ import annotations

import builtins
import functools
import numbers
import sys
from operator import attrgetter

import numpy as np

from symdiff.core import ops
from symdiff.core.node import FLOAT, Node, array_const, const, dim, eye, make
from symdiff.core.rules import RULES as _RULES
from symdiff.core.shapes import broadcast_shapes, is_concrete, shape_size

# const, array, dim and eye are the leaves run() asks a namespace for.
__all__ = ["apply", "structural", "add", "sub", "mul", "div", "neg", "pow", "const", "array",
           "dim", "eye", "constant_value", "as_node", "fn", "fit", "binary_operator"]

ZERO = const(0.0)
ONE = const(1.0)


def as_node(value) -> Node:
    """Coerce a Node or a real number to a Node (``TypeError`` otherwise)."""
    if isinstance(value, Node):
        return value
    if isinstance(value, (numbers.Real, np.floating, np.integer)):   # bool too: 0.0, 1.0
        return const(float(value))
    if type(value).__module__.split(".")[0] == "sympy":
        # Checked by module name: core never imports sympy.
        raise TypeError(f"cannot use the SymPy object {value!r} in a symdiff expression: "
                        "convert it with sd.from_sympy(...)")
    raise TypeError(f"cannot use {type(value).__name__} {value!r} in a symdiff expression")


def constant_value(node: Node):
    """The float value of a constant node, or ``None`` for anything else."""
    return node.payload if node.op == "const" else None


# Canonical order of commutative operands (see symdiff.core.node): constants
# first (so products print as 2*x), then symbols by natural name, then
# compound expressions by structural hash.  It depends on structure only.
_order_key = attrgetter("order")


_OPS = ops.ALL_OPS


def _apply1(name: str, op, a) -> Node:
    # Fast path for unary ops (the hot path of differentiation).
    if a.__class__ is not Node:
        a = as_node(a)
    if a.shape or a.dtype is not FLOAT:
        return _elementwise(name, op, (a,))
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
    if a.shape or b.shape or a.dtype is not FLOAT or b.dtype is not FLOAT:
        return _elementwise(name, op, (a, b))
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


def _check_float(name: str, args) -> None:
    for a in args:
        if a.dtype is not FLOAT:
            what = f"{a.payload!r} " if a.op == "sym" else ""
            raise TypeError(f"{name}: {what}is an integer tensor (labels); only "
                            f"onehot(labels, k) takes integers")


def _elementwise(name: str, op, args: tuple) -> Node:
    """An elementwise op on tensors: numpy broadcasting, then the same
    folding and rules as for scalars; a rule's result is broadcast back to
    the op's shape if it came out smaller (0 * X -> broadcast 0)."""
    _check_float(name, args)
    shape = broadcast_shapes([a.shape for a in args], name)
    if all(a.op in ("const", "array") for a in args):   # constants fold
        with np.errstate(all="ignore"):
            return array_const(op.numpy(*[a.payload for a in args]))
    if op.commutative:
        args = tuple(sorted(args, key=_order_key))
    rule = _RULES.get(name)
    if rule is not None:
        out = rule(_S, *args)
        if out is not None:
            return fit(out, shape)
    return make(name, args, None, shape)


def fit(node: Node, shape: tuple) -> Node:
    """``node`` broadcast to ``shape`` if its own shape is smaller."""
    if node.shape == shape:
        return node
    return structural("broadcast_to", (node,), (tuple(shape),))


def structural(name: str, args: tuple, params: tuple) -> Node:
    """Build the structural tensor op ``name`` (matmul, transpose, sum ...)
    on ``args`` with its parameters: shape check, constant folding, the
    tensor rewrite rules, interning."""
    op = _OPS[name]
    args = tuple(a if isinstance(a, Node) else as_node(a) for a in args)
    if not op.check_arity(len(args)):
        raise TypeError(f"{name} takes {op.arity} argument(s), got {len(args)}")
    if not op.int_args:
        _check_float(name, args)
    if name == "transpose":
        # One node per permutation: a permutation of the trailing axes (what
        # batch-polymorphic rules build) is extended to every axis.
        (perm,) = params
        nd = len(args[0].shape)
        if len(perm) < nd:
            lead = nd - len(perm)
            params = (tuple(range(lead)) + tuple(lead + p for p in perm),)
        if params[0] == tuple(range(nd)):
            return args[0]
    shape, dtype = op.shape_rule([a.shape for a in args], [a.dtype for a in args], *params)
    if op.fold_constants and all(a.op in ("const", "array") for a in args) \
            and is_concrete(shape) and shape_size(shape) <= max(
                1, builtins.sum(np.size(a.payload) for a in args)):
        # Constants fold, but never into more numbers than went in: 0 * W
        # stays a broadcast zero, not a 784 x 256 array (named dims are
        # bound only when run).
        with np.errstate(all="ignore"):
            return array_const(op.numpy(*[a.payload for a in args], *params))
    rule = _RULES.get(name)
    if rule is not None:
        out = rule(_S, *args, params=params, shape=shape)
        if out is not None:
            return fit(out, shape)
    return make(name, args, params, shape, dtype)


def apply(name: str, *args, params: tuple | None = None) -> Node:
    """Build ``name(*args)`` with constant folding, rewrite rules and
    canonical operand order.  Arguments may be nodes or real numbers;
    structural tensor ops take their ``params`` (see
    :mod:`symdiff.core.ops`)."""
    op = _OPS.get(name)
    if op is None:
        raise ValueError(f"unknown operation {name!r}")
    if op.kind == "structural":
        return structural(name, args, () if params is None else tuple(params))
    if op.arity == 2 and len(args) == 2:
        return _apply2(name, op, args[0], args[1])
    if op.arity == 1 and len(args) == 1:
        return _apply1(name, op, args[0])
    # Variadic max/min (and wrong arities): the general elementwise path,
    # which on scalars folds, orders and rewrites as the fast paths do.
    args = tuple(a if isinstance(a, Node) else as_node(a) for a in args)
    if not op.check_arity(len(args)):
        raise TypeError(f"{name} takes {op.arity if op.arity > 0 else '2 or more'} "
                        f"arguments, got {len(args)}")
    return _elementwise(name, op, args)


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


def _make_structural(name):
    op = ops.ALL_OPS[name]
    arity = op.arity

    def fn(*args_and_params) -> Node:
        return structural(name, args_and_params[:arity], args_and_params[arity:])

    fn.__name__ = name
    fn.__doc__ = f"{name}(args..., params...): {op.doc or name}"
    return fn


for _name, _op in ops.ALL_OPS.items():
    if _name in globals():
        continue
    if _op.kind == "structural":
        globals()[_name] = _make_structural(_name)
    elif _op.arity == 1:
        globals()[_name] = _make_unary(_name)


def eq(a, b) -> Node:
    """1 if a == b else 0 (a derivative helper for max/min)."""
    return apply("eq", a, b)


#: Leaves of programs, for run() with this namespace.
array = array_const


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
    """``a <op> b`` for the Node operators (``+ - * / ** @``).

    numpy arrays meet scalar expressions entry by entry (an object array of
    expressions, as before tensors existed) and tensor expressions as
    constant tensors; other operand types give ``NotImplemented``.
    """
    if a.__class__ is not Node or b.__class__ is not Node:
        arr = a if isinstance(a, np.ndarray) else b if isinstance(b, np.ndarray) else None
        if arr is not None:
            node = b if arr is a else a
            if isinstance(node, Node) and (node.shape or name == "matmul"):
                if arr.dtype == object:
                    raise TypeError(f"{name}: cannot combine an object array of scalar "
                                    f"expressions with a tensor of shape {node.shape}; use "
                                    "a numeric array or a tensor")
                c = array_const(arr)
                return _binary_node(name, c, node) if arr is a else _binary_node(name, node, c)
            return _object_array_op(name, a, b)
        try:
            a = as_node(a)
            b = as_node(b)
        except TypeError:
            if any(type(v).__module__.split(".")[0] == "sympy" for v in (a, b)):
                raise      # as_node's hint: use sd.from_sympy
            return NotImplemented
    return _binary_node(name, a, b)


def _binary_node(name, a, b):
    if name == "matmul":
        return structural("matmul", (a, b), ())
    return _apply2(name, _OPS[name], a, b)


def object_scalar(x):
    """A node as a 0-d object array, for numpy to broadcast it against
    arrays (nodes opt out of numpy's ufuncs); anything else unchanged."""
    if isinstance(x, Node):
        o = np.empty((), dtype=object)
        o[()] = x
        return o
    return x


def _object_array_op(name, a, b):
    """Entry by entry, into an object array (numpy would refuse: nodes opt
    out of ufuncs)."""
    fn = np.frompyfunc(lambda x, y: binary_operator(name, x, y), 2, 1)
    return fn(object_scalar(a), object_scalar(b))


_S = sys.modules[__name__]


# The fast builders defined above, by op name (fn() falls back to apply).
_BUILDERS = {name: globals()[name] for name in _OPS if name in globals()}
