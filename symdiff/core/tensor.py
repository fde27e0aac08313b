"""Tensor expressions: symbolic arrays, built and differentiated as matrix
algebra.

``tensor("X", ("m", 64))`` is a symbolic array whose shape may name
dimensions (bound when the expression is evaluated or called).  Arithmetic
and every elementwise primitive apply entry by entry with numpy
broadcasting; ``@`` is the matrix product, ``.T`` the transpose, ``x[i, a:b]``
indexes; :func:`sum`, :func:`mean` and :func:`max` reduce;
:func:`logsumexp` and :func:`softmax` are the stable (max-shifted)
compositions; :func:`onehot` turns integer labels into I_y.  A shape-()
tensor is an ordinary scalar node, so tensors and today's scalar
expressions mix freely.

Every function here is a thin layer over the structural ops of
:mod:`symdiff.core.ops` built through :mod:`symdiff.core.symbolic`: shapes
are checked when the expression is built (a :class:`ShapeError` names the
op and the shapes), never silently broadcast where numpy would refuse.
"""

from __future__ import annotations

import builtins
import numbers

import numpy as np

from symdiff.core import symbolic as S
from symdiff.core.node import FLOAT, INT, Node, array_const, const, dim, symbol
from symdiff.core.shapes import ShapeError, check_shape, normalize_axes, reduce_shape

__all__ = ["tensor", "constant", "as_tensor", "matmul", "transpose", "sum", "mean", "max",
           "logsumexp", "softmax", "onehot", "reshape", "broadcast_to", "stop_gradient",
           "index", "ShapeError"]


def tensor(name: str, shape=(), dtype=float) -> Node:
    """A symbolic array called ``name``.

    ``shape``: a tuple whose entries are ints or dimension names (``"m"``);
    ``()`` gives a scalar symbol, the very node :func:`symdiff.symbol`
    returns.  ``dtype``: ``float`` (default) or ``int`` for integer labels
    (the argument of :func:`onehot`).
    """
    shape = check_shape(shape, f"tensor {name!r}")
    if dtype in (float, "float", "float64", np.float64):
        dt = FLOAT
    elif dtype in (int, "int", "int64", np.int64):
        dt = INT
    else:
        raise ValueError(f"tensor {name!r}: dtype must be float or int, got {dtype!r}")
    return symbol(name, shape, dt)


def constant(values) -> Node:
    """A constant: a float for a Python number, a constant tensor for a
    numpy array or nested list."""
    if isinstance(values, Node):
        return values
    if isinstance(values, numbers.Real) and not isinstance(values, bool):
        return const(float(values))
    return array_const(values)


def as_tensor(value) -> Node:
    """A Node for a node, a number or an array (arrays become constants)."""
    if isinstance(value, Node):
        return value
    if isinstance(value, (np.ndarray, list, tuple)):
        return array_const(value)
    return S.as_node(value)


def matmul(a, b) -> Node:
    """``a @ b``: matrix-matrix, matrix-vector, vector-matrix or
    vector-vector (the dot product)."""
    return S.matmul(as_tensor(a), as_tensor(b))


def transpose(x, axes=None) -> Node:
    """``x.T`` (all axes reversed), or the permutation ``axes`` as in
    :func:`numpy.transpose`.  A vector or scalar is its own transpose."""
    x = as_tensor(x)
    nd = len(x.shape)
    if axes is None:
        perm = tuple(range(nd - 1, -1, -1))
    else:
        perm = tuple(int(a) % nd if nd else int(a) for a in axes)
        if sorted(perm) != list(range(nd)):
            raise ShapeError(f"transpose: axes {tuple(axes)} are not a permutation of the "
                             f"{nd} axes of shape {x.shape}")
    if perm == tuple(range(nd)):
        return x
    return S.transpose(x, perm)


def _axes(x: Node, axis, op: str) -> tuple:
    """``axis`` as negative axes (counted from the end, as the ops store them)."""
    nd = len(x.shape)
    return tuple(a - nd for a in normalize_axes(axis, nd, op))


def sum(x, axis=None, keepdims: bool = False) -> Node:  # noqa: A001 - mirrors numpy.sum
    """Sum over ``axis`` (None: all axes), as :func:`numpy.sum`."""
    x = as_tensor(x)
    axes = _axes(x, axis, "sum")
    if not axes:
        return x
    return S.sum(x, axes, bool(keepdims))


def _count(x: Node, axes: tuple) -> Node:
    """The number of entries summed over ``axes``: a constant, or a product
    of dimension nodes for named dimensions."""
    n = 1
    named = []
    for a in axes:
        d = x.shape[a]
        if isinstance(d, int):
            n *= d
        else:
            named.append(dim(d))
    out = None if n == 1 and named else const(float(n))
    for d in named:
        out = d if out is None else S.mul(out, d)
    return out


def mean(x, axis=None, keepdims: bool = False) -> Node:
    """Mean over ``axis`` (None: all axes): the sum divided by the number
    of entries (``m`` for a named dimension m)."""
    x = as_tensor(x)
    axes = _axes(x, axis, "mean")
    if not axes:
        return x
    return S.div(S.sum(x, axes, bool(keepdims)), _count(x, axes))


def max(x, axis=None, keepdims: bool = False) -> Node:  # noqa: A001 - mirrors numpy.max
    """Largest entry over ``axis`` (None: all axes), ignoring NaN where
    another entry is a number; at ties the gradient is split equally."""
    x = as_tensor(x)
    axes = _axes(x, axis, "max")
    if not axes:
        return x
    return S.reduce_max(x, axes, bool(keepdims))


def stop_gradient(x) -> Node:
    """The value of ``x``, with zero derivative."""
    return S.stop_gradient(as_tensor(x))


def logsumexp(x, axis=None, keepdims: bool = False) -> Node:
    """``log(sum(exp(x), axis))`` computed stably: with ``c`` the (constant,
    gradient-free) maximum over ``axis``, ``c + log(sum(exp(x - c)))``.
    Its gradient is ``softmax(x, axis)``."""
    x = as_tensor(x)
    axes = _axes(x, axis, "logsumexp")
    if not axes:
        return x
    c = S.stop_gradient(S.reduce_max(x, axes, True))
    s = S.sum(S.exp(S.sub(x, c)), axes, True)
    out = S.add(S.log(s), c)
    if keepdims:
        return out
    nd = len(x.shape)
    return S.reshape(out, reduce_shape(x.shape, tuple(a + nd for a in axes), False))


def softmax(x, axis=-1) -> Node:
    """``exp(x) / sum(exp(x), axis)`` computed stably (shifted by the
    gradient-free maximum over ``axis``)."""
    x = as_tensor(x)
    axes = _axes(x, axis, "softmax")
    c = S.stop_gradient(S.reduce_max(x, axes, True))
    e = S.exp(S.sub(x, c))
    return S.div(e, S.sum(e, axes, True))


def onehot(labels, k: int) -> Node:
    """Rows of the k x k identity picked by integer ``labels``
    (``tensor("y", ("m",), dtype=int)``): I_y, of shape labels.shape + (k,).
    Labels outside 0..k-1 are an error when evaluated."""
    labels = as_tensor(labels)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"onehot: k must be a positive int, got {k!r}")
    return S.onehot(labels, int(k))


def reshape(x, shape) -> Node:
    """The entries of ``x`` in another ``shape`` (named dimensions may only
    gain or lose axes of length 1)."""
    x = as_tensor(x)
    shape = check_shape(shape, "reshape")
    if shape == x.shape:
        return x
    return S.reshape(x, shape)


def broadcast_to(x, shape) -> Node:
    """``x`` broadcast to ``shape`` (numpy rules)."""
    x = as_tensor(x)
    shape = check_shape(shape, "broadcast_to")
    if shape == x.shape:
        return x
    return S.broadcast_to(x, shape)


def index(x, key) -> Node:
    """``x[key]`` with integers and slices (and ``...``)."""
    x = as_tensor(x)
    if not x.shape:
        raise ShapeError("index: a scalar cannot be indexed")
    if not isinstance(key, tuple):
        key = (key,)
    nd = len(x.shape)
    if builtins.sum(1 for k in key if k is Ellipsis) > 1:
        raise ShapeError("index: at most one '...'")
    if Ellipsis in key:
        at = key.index(Ellipsis)
        fill = nd - (len(key) - 1)
        key = key[:at] + (slice(None),) * fill + key[at + 1:]
    if len(key) > nd:
        raise ShapeError(f"index: {len(key)} indices for shape {x.shape}")
    key = key + (slice(None),) * (nd - len(key))
    spec = []
    for k in key:
        if isinstance(k, slice):
            for v in (k.start, k.stop, k.step):
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))):
                    raise ShapeError(f"index: slice bounds must be ints, got {k}")
            if k.step == 0:
                raise ShapeError("index: slice step cannot be 0")
            spec.append((None if k.start is None else int(k.start),
                         None if k.stop is None else int(k.stop),
                         None if k.step is None else int(k.step)))
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            spec.append(int(k))
        else:
            raise ShapeError(f"index: only integers, slices and '...' are supported, got "
                             f"{k!r}")
    spec = tuple(spec)
    if all(s == (None, None, None) for s in spec):
        return x
    return S.index(x, spec)
