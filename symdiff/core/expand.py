"""Expanding tensor expressions into scalar expressions.

:func:`to_scalars` evaluates a tensor program with a namespace whose values
are numpy object arrays of scalar nodes, so a tensor expression of small,
concrete shape becomes the scalar DAG the rest of symdiff already knows
(the compare tools, the scalar compiler) and, above all, an independent
oracle for the tensor rules: the tensor gradient must equal the gradient
of the expansion.

Entry ``(i, j)`` of a tensor ``X`` becomes the scalar symbol ``X{i}_{j}``
(``x{i}`` for a vector), as :func:`symdiff.matrix` names them; integer
labels become float symbols of the same names, and ``onehot(y, k)[i, j]``
expands to ``eq(y{i}, j)``.  ``stop_gradient`` expands to its argument:
where a tensor expression uses it (the max shift of logsumexp), the value
is the same and the derivative agrees mathematically.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from symdiff.core import symbolic as S
from symdiff.core.graph import as_outputs
from symdiff.core.namespace import Namespace
from symdiff.core.node import Node, const, symbol
from symdiff.core.ops import OPS, TENSOR_OPS, index_key
from symdiff.core.program import run, schedule
from symdiff.core.shapes import ShapeError, resolve_shape

__all__ = ["to_scalars", "scalar_symbols"]

# Values here are nodes or object arrays of nodes; a node becomes a 0-d
# object array wherever numpy must treat it as an array.
_obj = S.object_scalar


def _plain(x):
    """0-d object arrays back to their node."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return x[()]
    return x


def _elementwise(name: str):
    op = OPS[name]
    fn = np.frompyfunc(lambda *a: S.apply(name, *a), 1 if op.arity == 1 else 2, 1)

    def apply(*args):
        if op.arity == 1 or len(args) == 2:
            return _plain(fn(*[_obj(a) for a in args]))
        out = _obj(args[0])
        for a in args[1:]:                       # max/min of 3 or more arguments
            out = fn(out, _obj(a))
        return _plain(out)

    return apply


def _reduce(name: str):
    pair = np.frompyfunc(lambda a, b: S.apply(name, a, b), 2, 1)

    def reduce(x, axes, keepdims):
        x = _obj(x)
        for a in sorted((a % x.ndim for a in axes), reverse=True):
            x = pair.reduce(x, axis=a, keepdims=keepdims)
        return _plain(x)

    return reduce


def _matmul(a, b):
    out = np.matmul(_obj(a), _obj(b))
    return _plain(out)


# The op table's own numpy implementations work on object arrays as well.
_np_transpose = TENSOR_OPS["transpose"].numpy
_np_index = TENSOR_OPS["index"].numpy


def _transpose(x, perm):
    return _np_transpose(_obj(x), perm)


def _zeros(shape):
    z = np.empty(shape, dtype=object)
    z[...] = const(0.0)
    return z


def _unindex(g, spec, shape):
    g = _obj(g)
    nb = g.ndim - sum(1 for s in spec if not isinstance(s, int))
    z = _zeros(g.shape[:nb] + tuple(shape))
    z[index_key(spec)] = g
    return z


def _onehot(labels, k):
    labels = _obj(labels)
    out = np.empty(labels.shape + (k,), dtype=object)
    for idx in np.ndindex(labels.shape):
        for j in range(k):
            out[idx + (j,)] = S.apply("eq", labels[idx], const(float(j)))
    return out


def _index(x, spec):
    return _plain(_np_index(_obj(x), spec))


def _namespace() -> Namespace:
    impls = {name: _elementwise(name) for name in OPS}
    impls.update({
        "matmul": _matmul,
        "transpose": _transpose,
        "sum": _reduce("add"),
        "reduce_max": _reduce("max"),
        "reshape": lambda x, shape: np.reshape(_obj(x), shape),
        "broadcast_to": lambda x, shape: np.broadcast_to(_obj(x), shape),
        "index": _index,
        "unindex": _unindex,
        "onehot": _onehot,
        "stop_gradient": lambda x: x,
    })
    ns = Namespace("scalars", impls, const=const)
    ns.array = lambda a: np.frompyfunc(lambda v: const(float(v)), 1, 1)(a)

    def eye(n):
        e = _zeros((n, n))
        for i in range(n):
            e[i, i] = const(1.0)
        return e

    ns.eye = eye
    return ns


_SCALARS = _namespace()


def scalar_symbols(x: Node, dims: Mapping | None = None):
    """The scalar symbols standing for the entries of the tensor symbol
    ``x`` (an object array named ``X{i}_{j}``; ``x`` itself if scalar)."""
    if x.op != "sym":
        raise TypeError(f"scalar_symbols needs a symbol, got {x!r}")
    return _scalar_symbols(x.payload, x.shape, dims or {})


def _scalar_symbols(name: str, shape: tuple, dims: Mapping):
    shape = resolve_shape(shape, dims)
    if not shape:
        return symbol(name)
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = symbol(name + "_".join(str(i) for i in idx))
    return out


def to_scalars(expr, dims: Mapping | None = None):
    """Expand tensor expressions into scalar expressions for the given
    dimension sizes (``dims={"m": 3}``): one expression gives a node (for a
    scalar) or an object array of nodes of its shape; a list gives a list.
    Every dimension name must be bound by ``dims``."""
    single = isinstance(expr, Node)
    outs = as_outputs(expr)
    dims = dict(dims or {})
    program = schedule(outs)
    syms = {}
    owner: dict = {}
    # The program's inputs are the free symbols in natural order (input k
    # is instruction k, which keeps its shape).
    for k, name in enumerate(program.inputs):
        syms[name] = _scalar_symbols(name, program.instrs[k].shape, dims)
        for e in np.ravel(np.asarray(syms[name], dtype=object)):
            if owner.setdefault(e.payload, name) != name:
                raise ValueError(f"to_scalars: entries of {owner[e.payload]} and {name} "
                                 f"would both be called {e.payload}; rename one of them")
    for ins in program.instrs:
        try:
            resolve_shape(ins.shape, dims)
        except ShapeError as e:
            raise ShapeError(f"to_scalars: {e}") from None
    values = run(program, _SCALARS, [syms[n] for n in program.inputs], dims=dims)
    values = [_plain(v) for v in values]
    return values[0] if single else values
