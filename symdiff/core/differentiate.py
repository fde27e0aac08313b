"""Symbolic differentiation by reverse accumulation over the DAG.

``grad(f)`` walks f's nodes once in reverse topological order, pushing each
node's adjoint to its arguments with the op table's ``vjp`` rules and summing
contributions.  The partial derivatives are therefore built *into the same
graph* as f and share its subexpressions: the cost of (f, grad f) stays within
a small constant of f's, instead of the n(n-1) blow-up of differentiating
each variable separately.  Only paths that reach a requested variable are
followed, and a missing adjoint is absent rather than a ``0`` node, so no
zero terms are ever built.

Higher derivatives apply the same machinery to the derivative graph.

Tensors use the same loop.  Elementwise ops reuse their scalar rules (the
symbolic namespace broadcasts); structural ops have rules of their own (see
:mod:`symdiff.core.ops`).  An adjoint may be *smaller* than its node (a
scalar ``1/m`` stands for that value in every entry), which keeps
derivatives free of needless broadcasts; where a forward op broadcast an
argument, its contribution is summed back down to the argument's shape
(the "sum of a broadcast" rule makes a broadcast scalar cost nothing).
Jacobians and Hessians are reverse mode with a *batched* seed: the
identity, whose leading axis runs over the outputs, so ``hessian(f, x)`` is
one tensor expression (A + A.T for x @ A @ x), not n^2 scalars.
"""

from __future__ import annotations

import numpy as np

from symdiff.core import symbolic as F
from symdiff.core.display import ExprList
from symdiff.core.graph import as_outputs, free_symbols, paused_gc, sort_symbols, toposort
from symdiff.core.node import FLOAT, Node, const, eye, symbol
from symdiff.core.ops import ALL_OPS

__all__ = ["adjoints", "grad", "jacobian", "hessian", "hvp", "diff", "as_symbols"]

_ZERO = const(0.0)
_ONE = const(1.0)


def _float_symbols(nodes) -> list[Node]:
    """The float symbols among ``nodes``, in natural name order (what an
    omitted ``wrt`` means)."""
    return sort_symbols(n for n in nodes if n.op == "sym" and n.dtype == FLOAT)


def _as_wrt(wrt, outputs) -> tuple[list[Node], object]:
    """Normalize ``wrt`` to a flat list of symbols, remembering the shape of an
    array argument so results can be returned in the same shape."""
    if wrt is None:
        return _float_symbols(free_symbols(outputs)), None
    shape = None
    if isinstance(wrt, np.ndarray):
        shape = wrt.shape
        items = list(wrt.ravel())
    elif isinstance(wrt, (Node, str)):
        items = [wrt]
        shape = ()
    else:
        items = list(wrt)
    if any(isinstance(w, str) for w in items):
        # Names may denote tensors of the expression, not only scalars.
        by_name = {s.payload: s for s in free_symbols(outputs)}
        items = [by_name.get(w, w) if isinstance(w, str) else w for w in items]
    return as_symbols(items), shape


def as_symbols(items) -> list[Node]:
    """Symbols (or their names) as a list of symbol nodes; ``TypeError`` for
    anything that is not a float symbol."""
    syms = []
    for w in items:
        s = symbol(w) if isinstance(w, str) else w
        if not isinstance(s, Node) or s.op != "sym":
            raise TypeError(f"can only differentiate with respect to symbols, got {w!r}")
        if s.dtype != "float64":
            raise TypeError(f"cannot differentiate with respect to {s.payload!r}: it is an "
                            "integer tensor (labels)")
        syms.append(s)
    return syms


def adjoints(f: Node, wrt, seed: Node | None = None) -> dict[Node, Node]:
    """Reverse accumulation: map each node on a path from ``f`` to a symbol in
    ``wrt`` to its adjoint d f / d node (absent means zero).

    ``seed`` is f's own adjoint (default 1); a seed with extra leading axes
    (the identity, for a Jacobian) makes every adjoint carry those axes.
    """
    f = as_outputs(f)[0] if not isinstance(f, Node) else f
    with paused_gc():
        return _adjoints(f, wrt, _ONE if seed is None else seed)


def sum_to(c: Node, shape: tuple, nbatch: int = 0) -> Node:
    """``c`` summed down to ``shape``: over leading axes ``shape`` lacks and
    over axes where ``shape`` has 1 (numpy broadcasting, undone).  A ``c``
    already broadcastable to ``shape`` is returned as it is.  The first
    ``nbatch`` axes of a larger ``c`` and of ``shape`` are batch axes (a
    Jacobian's seed): they stay, and the axes to sum come after them."""
    cs = c.shape
    lead = len(cs) - len(shape)
    if lead <= 0:
        nbatch = 0
    keep = tuple(k - len(cs) for k in range(nbatch + max(lead, 0), len(cs))
                 if shape[k - lead] == 1 and cs[k] != 1)
    if keep:
        c = F.sum(c, keep, True)
    if lead > 0:
        c = F.sum(c, tuple(range(nbatch - len(cs), nbatch - len(cs) + lead)), False)
    return c


def _adjoints(f: Node, wrt, seed: Node, nodes: list | None = None) -> dict[Node, Node]:
    """:func:`adjoints`; ``nodes`` is ``toposort([f])`` if the caller has it."""
    targets = set(wrt)
    if nodes is None:
        nodes = toposort([f])
    # Forward pass: which nodes depend on a requested variable at all.
    dep = set()
    for n in nodes:
        if n in targets:
            dep.add(n)
        elif n.args:
            for a in n.args:
                if a in dep:
                    dep.add(n)
                    break
    adj: dict[Node, Node] = {}
    if f not in dep:
        return adj
    batch = seed.shape[:len(seed.shape) - len(f.shape)]
    adj[f] = seed
    add = F.add
    for n in reversed(nodes):
        if not n.args or n not in dep:
            continue
        g = adj.get(n)
        if g is None:
            continue
        op = ALL_OPS[n.op]
        args = n.args
        if op.kind == "structural":
            full = batch + n.shape
            if g.shape != full and (g.shape or not op.scalar_adjoint):
                g = F.broadcast_to(g, full)
            params = n.payload
            for i, a in enumerate(args):
                if a not in dep:
                    continue
                c = op.vjp(F, i, args, n, g, params)
                if c is not None:
                    _accumulate(adj, a, c, batch, add)
            continue
        vjp = op.vjp
        for i, a in enumerate(args):
            if a not in dep:
                continue
            c = vjp(F, i, args, n, g)
            if c is None:
                continue
            if a.shape != n.shape:
                # a was broadcast by this op: its adjoint sums the entries
                # it was copied to (c stands for its broadcast to n).
                full = batch + n.shape
                if c.shape != full:
                    c = F.broadcast_to(c, full)
            _accumulate(adj, a, c, batch, add)
    return adj


def _accumulate(adj: dict, a: Node, c: Node, batch: tuple, add) -> None:
    if a.shape or batch or c.shape:
        target = batch + a.shape
        if c.shape != target and len(c.shape) >= len(target):
            c = sum_to(c, target, len(batch))
    prev = adj.get(a)
    adj[a] = c if prev is None else add(prev, c)


def _exact(c: Node | None, shape: tuple) -> Node:
    """An adjoint as a result of exactly ``shape`` (zeros if absent)."""
    if c is None:
        return F.broadcast_to(_ZERO, shape) if shape else _ZERO
    if c.shape != shape:
        c = sum_to(c, shape) if len(c.shape) > len(shape) else c
        if c.shape != shape:
            c = F.broadcast_to(c, shape)
    return c


def _shape(items: list, shape):
    if shape is None:
        return ExprList(items)
    if shape == ():
        return items[0]
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    return arr.reshape(shape)


def grad(f, wrt=None):
    """Gradient of the scalar expression ``f``.

    ``wrt``: symbols or tensors (or names, or an object array of symbols);
    defaults to all free float symbols of ``f`` in natural name order.
    Returns one expression per entry of ``wrt`` with that entry's shape
    (a tensor of X's shape for a tensor X), as a list, or a single
    expression for a single ``wrt`` (an array of the same shape if
    ``wrt`` is an array).  Variables ``f`` does not depend on get zeros.
    """
    f = _single(f)
    if f.shape:
        raise ValueError(f"grad needs a scalar f (shape ()), got shape {f.shape}; "
                         "use jacobian for a vector")
    with paused_gc():
        if wrt is None:
            # One walk: the sorted nodes give both the variables and the
            # order of the reverse sweep.
            nodes = toposort([f])
            syms, shape = _float_symbols(nodes), None
        else:
            nodes = None
            syms, shape = _as_wrt(wrt, [f])
        adj = _adjoints(f, syms, _ONE, nodes)
    return _shape([_exact(adj.get(s), s.shape) for s in syms], shape)


def _tensor_jacobian(y: Node, x: Node, nodes: list | None = None) -> Node:
    """d y / d x for a vector (or scalar) y and a tensor x: shape
    y.shape + x.shape, by reverse mode seeded with the identity (``nodes``:
    ``toposort([y])`` if the caller has it)."""
    if len(y.shape) > 1:
        raise ValueError(f"jacobian needs a vector or scalar expression, got shape {y.shape}")
    seed = eye(y.shape[0]) if y.shape else _ONE
    with paused_gc():
        adj = _adjoints(y, [x], seed, nodes)
    return _exact(adj.get(x), y.shape + x.shape)


def jacobian(outputs, wrt=None):
    """Jacobian ``J[i][j] = d outputs[i] / d wrt[j]``.

    For a vector expression ``y`` and a tensor ``x`` (one each) it is one
    tensor expression of shape ``y.shape + x.shape``.  For a list of scalar
    expressions it is a list of lists (a 2-D object array if ``wrt`` is an
    array)."""
    if isinstance(outputs, Node) and (outputs.shape or (isinstance(wrt, Node) and wrt.shape)):
        nodes = None
        if wrt is not None:
            xs = _as_wrt(wrt, [outputs])[0]
        else:
            with paused_gc():
                nodes = toposort([outputs])
            xs = _single_wrt(nodes)
        if len(xs) != 1:
            raise ValueError("the jacobian of a tensor expression takes one wrt tensor")
        return _tensor_jacobian(outputs, xs[0], nodes)
    outs = as_outputs(outputs)
    syms, shape = _as_wrt(wrt, outs)
    rows = []
    for o in outs:
        if o.shape:
            raise ValueError("jacobian of several outputs needs scalar expressions; "
                             "pass one vector expression instead")
        adj = adjoints(o, syms)
        rows.append(ExprList(_exact(adj.get(s), s.shape) for s in syms))
    if shape is None:
        return ExprList(rows)
    arr = np.empty((len(outs), len(syms)), dtype=object)
    for i, r in enumerate(rows):
        arr[i, :] = r
    return arr


def _single_wrt(nodes: list) -> list:
    syms = _float_symbols(nodes)
    if len(syms) != 1:
        raise ValueError(f"jacobian of a tensor needs wrt (the expression depends on "
                         f"{len(syms)} variables)")
    return syms


def hessian(f, wrt=None):
    """Hessian of the scalar ``f``: the Jacobian of its gradient, both built by
    reverse accumulation, so all entries share one graph with f.  Over
    scalar symbols it is a list of rows (a 2-D object array for an array
    ``wrt``) holding the upper triangle mirrored, so ``H[i][j] is
    H[j][i]``.  For a vector ``x`` it is one tensor expression of shape
    (n, n)."""
    f = _single(f)
    if isinstance(wrt, Node) and wrt.shape:
        if len(wrt.shape) != 1:
            raise ValueError(f"hessian needs a vector x, got shape {wrt.shape}")
        return _tensor_jacobian(grad(f, wrt), wrt)
    syms, shape = _as_wrt(wrt, [f])
    rows = _symmetric_hessian(f, syms)
    if shape is None:
        return ExprList(ExprList(r) for r in rows)
    arr = np.empty((len(syms), len(syms)), dtype=object)
    for i, r in enumerate(rows):
        arr[i, :] = r
    return arr


def _symmetric_hessian(f: Node, syms: list) -> list[list]:
    """Rows of the Hessian of ``f`` over the scalar ``syms``, built for the
    upper triangle only and mirrored: H[j][i] is the very node H[i][j], so
    the matrix is exactly symmetric (differentiating in the two orders
    builds different roundings of the same value) and about half the
    second-derivative graph is never built."""
    n = len(syms)
    g = grad(f, syms)
    rows: list[list] = [[None] * n for _ in range(n)]
    for i in range(n):
        if g[i].shape:
            raise ValueError(f"hessian over a list needs scalar symbols; "
                             f"{syms[i].payload!r} has shape {g[i].shape}")
        # Only paths to syms[i:] are followed: the entries j < i are the
        # mirror images computed by earlier rows.
        adj = adjoints(g[i], syms[i:])
        for j in range(i, n):
            rows[i][j] = rows[j][i] = _exact(adj.get(syms[j]), ())
    return rows


def hvp(f, x, v) -> Node:
    """Hessian-vector product H(f) v for a tensor (or scalar) ``x`` and
    ``v`` of the same shape (a tensor expression or an array): the gradient
    of ``<grad f, v>``, never forming H."""
    from symdiff.core.tensor import as_tensor

    f = _single(f)
    v = as_tensor(v)
    (xs,), _ = _as_wrt([x], [f])
    if v.shape != xs.shape:
        raise ValueError(f"hvp: v has shape {v.shape}, x has shape {xs.shape}")
    g = grad(f, xs)
    inner = F.mul(g, v)
    if inner.shape:
        inner = F.sum(inner, tuple(range(-len(inner.shape), 0)), False)
    return grad(inner, xs)


def diff(f, x, n: int = 1) -> Node:
    """The ``n``-th derivative of the scalar ``f`` with respect to the single
    symbol ``x``."""
    if n < 0 or int(n) != n:
        raise ValueError("the order n must be a non-negative integer")
    f = _single(f)
    syms, _ = _as_wrt([x], [f])
    for _ in range(int(n)):
        f = adjoints(f, syms).get(syms[0], _ZERO)
    return f


def _single(f) -> Node:
    outs = as_outputs(f)
    if len(outs) != 1:
        raise ValueError(f"expected one scalar expression, got {len(outs)}")
    return outs[0]
