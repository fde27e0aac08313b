"""The Python builder API: symbols, vectors and matrices of symbols,
elementwise functions, and balanced sums and dot products."""

from __future__ import annotations

import re

import numpy as np

from symdiff.core import ops, tensor
from symdiff.core import symbolic as build
from symdiff.core.node import Node, array_const, symbol

__all__ = ["symbols", "vector", "matrix", "sum", "max", "prod", "dot", "function"]

_RANGE = re.compile(r"^([A-Za-z_][A-Za-z_0-9]*?)(\d*):(\d+)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")


def symbols(names: str):
    """Create symbols like :func:`sympy.symbols`.

    ``symbols("x y z")`` or ``symbols("x, y, z")`` gives a tuple of three
    symbols; ``symbols("x")`` a single symbol; ``symbols("w0:650")`` the tuple
    w0 ... w649 (``w:3`` gives w0, w1, w2; ``w2:5`` gives w2, w3, w4).
    """
    if not isinstance(names, str):
        raise TypeError("symbols() takes a string of names")
    parts = [p for p in re.split(r"[\s,]+", names.strip()) if p]
    if not parts:
        raise ValueError("symbols() needs at least one name")
    out: list[Node] = []
    ranged = False
    for p in parts:
        m = _RANGE.match(p)
        if m:
            ranged = True
            stem, start, stop = m.group(1), int(m.group(2) or 0), int(m.group(3))
            out.extend(symbol(f"{stem}{k}") for k in range(start, stop))
        elif _NAME.match(p):
            out.append(symbol(p))
        else:
            raise ValueError(f"invalid symbol name {p!r}")
    if len(out) == 1 and not ranged and len(parts) == 1:
        return out[0]
    return tuple(out)


def vector(name: str, n: int) -> np.ndarray:
    """A 1-D object array of symbols ``name0 .. name{n-1}``."""
    arr = np.empty(n, dtype=object)
    arr[:] = [symbol(f"{name}{i}") for i in range(n)]
    return arr


def matrix(name: str, m: int, n: int) -> np.ndarray:
    """An (m, n) object array of symbols ``name{i}_{j}``."""
    arr = np.empty((m, n), dtype=object)
    for i in range(m):
        for j in range(n):
            arr[i, j] = symbol(f"{name}{i}_{j}")
    return arr


def balanced(items: list, combine):
    """Reduce ``items`` with ``combine`` pairwise: depth log2(n) instead of
    n, which keeps printed expressions shallow and rounding error small.
    ``None`` for no items."""
    if not items:
        return None
    while len(items) > 1:
        nxt = [combine(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
    return items[0]


def sum(values, axis=None, keepdims: bool = False):  # noqa: A001 - mirrors numpy
    """Sum, as :func:`numpy.sum`.

    For an expression (a tensor, or a scalar node) it is the tensor sum over
    ``axis`` (None: every axis), see :func:`symdiff.core.tensor.sum`.  For
    an iterable or object array of scalar expressions it is a balanced-tree
    sum (over ``axis`` for arrays).
    """
    if isinstance(values, Node):
        return tensor.sum(values, axis, keepdims)
    if isinstance(values, np.ndarray) and axis is not None:
        return np.apply_along_axis(lambda v: sum(list(v)), axis, values)
    items = list(np.asarray(values, dtype=object).ravel()) if isinstance(values, np.ndarray) \
        else list(values)
    r = balanced(items, build.add)
    return build.const(0.0) if r is None else build.as_node(r)


def prod(values):
    """Balanced-tree product of an iterable or array of expressions."""
    items = list(np.asarray(values, dtype=object).ravel()) if isinstance(values, np.ndarray) \
        else list(values)
    r = balanced(items, build.mul)
    return build.const(1.0) if r is None else build.as_node(r)


def dot(a, b):
    """Dot product like :func:`numpy.dot` (1-D.1-D, 2-D.1-D, 1-D.2-D, 2-D.2-D)
    with balanced-tree sums.  Works on object arrays of nodes and on float
    arrays mixed with them."""
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    if a.ndim == 1 and b.ndim == 1:
        if a.shape != b.shape:
            raise ValueError(f"dot: shapes {a.shape} and {b.shape} do not match")
        return sum([x * y for x, y in zip(a.tolist(), b.tolist())])
    if a.ndim == 2 and b.ndim == 1:
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"dot: shapes {a.shape} and {b.shape} do not match")
        out = np.empty(a.shape[0], dtype=object)
        out[:] = [dot(row, b) for row in a]
        return out
    if a.ndim == 1 and b.ndim == 2:
        return dot(b.T, a)
    if a.ndim == 2 and b.ndim == 2:
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"dot: shapes {a.shape} and {b.shape} do not match")
        out = np.empty((a.shape[0], b.shape[1]), dtype=object)
        bt = b.T
        for i in range(a.shape[0]):
            for j in range(b.shape[1]):
                out[i, j] = dot(a[i], bt[j])
        return out
    raise ValueError(f"dot: unsupported shapes {a.shape} and {b.shape}")


def max(*args, axis=None, keepdims: bool = False):  # noqa: A001 - mirrors numpy/builtins
    """``max(t, axis=...)`` of one tensor is the reduction
    (:func:`symdiff.core.tensor.max`); ``max(a, b, ...)`` of two or more
    expressions is the elementwise, NaN-ignoring maximum (ties split the
    gradient equally)."""
    if len(args) == 1 and isinstance(args[0], Node):
        return tensor.max(args[0], axis, keepdims)
    if axis is not None or keepdims:
        raise TypeError("max(..., axis=) reduces one tensor; the elementwise max of "
                        f"{len(args)} arguments takes no axis")
    return _ELEMENTWISE_MAX(*args)


def function(name: str):
    """The elementwise builder for the op-table primitive ``name``: applies
    to nodes, numbers and object arrays (elementwise)."""
    op = ops.OPS[name]
    ufuncs: dict = {}       # arity -> the entry-by-entry ufunc, made once

    def fn(*args):
        if any(isinstance(a, np.ndarray) for a in args):
            if any(isinstance(a, Node) and a.shape for a in args):
                return build.apply(name, *[array_const(a) if isinstance(a, np.ndarray)
                                           else a for a in args])
            n = len(args)
            uf = ufuncs.get(n)
            if uf is None:
                uf = ufuncs[n] = np.frompyfunc(lambda *xs: build.apply(name, *xs), n, 1)
            return uf(*[build.object_scalar(a) for a in args])
        return build.apply(name, *args)

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = f"{name}(...): {op.doc or name}; elementwise on arrays."
    return fn


_ELEMENTWISE_MAX = function("max")
_ELEMENTWISE_LOGSUMEXP = function("logsumexp")


def logsumexp(*args, axis=None, keepdims: bool = False):
    """``logsumexp(t, axis=...)`` of one tensor is the reduction
    (:func:`symdiff.core.tensor.logsumexp`); ``logsumexp(a, b, ...)`` of two
    or more expressions is log(e^a + e^b + ...) computed without overflow
    (the scalar primitive; its gradient is the softmax weights)."""
    if len(args) == 1 and isinstance(args[0], Node):
        return tensor.logsumexp(args[0], axis, keepdims)
    if axis is not None or keepdims:
        raise TypeError("logsumexp(..., axis=) reduces one tensor; the elementwise "
                        f"logsumexp of {len(args)} arguments takes no axis")
    return _ELEMENTWISE_LOGSUMEXP(*args)
