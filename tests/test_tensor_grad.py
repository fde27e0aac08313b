"""Tensor gradients: the four targets of the lectures (structure and
values), the O(L) size of an L-layer MLP's gradient, hypothesis-generated
random tensor expressions, scalars mixed with tensors, and regressions for
the core bugs these tests found.

Oracles and tolerances: ``tensor_oracles.py``.  Closed forms are written
out with numpy here (the lectures' formulas); "exact" structural equality
means the gradient *is* the node the closed form builds (interning makes
equal structure identical).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tensor_oracles import EXACT, check_grad, check_hessian, check_jacobian, close

import symdiff as sd
from symdiff.core.node import dim


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _ops(exprs, op: str) -> int:
    return sum(1 for n in sd.toposort(list(exprs)) if n.op == op)


# ---------------------------------------------------------------------------
# Target 1: softmax regression, grad = X^T (softmax(X Theta) - I_y) / m


def _softmax_regression(n: int, k: int):
    X = sd.tensor("X", ("m", n))
    Theta = sd.tensor("Theta", (n, k))
    y = sd.tensor("y", ("m",), dtype=int)
    Z = X @ Theta
    loss = sd.mean(sd.logsumexp(Z, axis=1) - sd.sum(sd.onehot(y, k) * Z, axis=1))
    return X, Theta, y, loss


def test_softmax_regression_gradient_is_the_lectures_closed_form(rng):
    X, Theta, y, loss = _softmax_regression(64, 10)
    g = sd.grad(loss, Theta)
    Iy = sd.onehot(y, 10)
    # exactly the node the lectures' formula builds
    assert g is X.T @ (sd.softmax(X @ Theta, axis=1) - Iy) / dim("m")
    # one matrix product forward (X Theta), one for the gradient (X^T G)
    assert _ops([loss, g], "matmul") == 2
    assert sd.count_ops([loss, g]) == 20
    xv, tv = rng.standard_normal((50, 64)), rng.standard_normal((64, 10)) * 0.3
    yv = rng.integers(0, 10, 50)
    lv, gv = sd.evaluate([loss, g], {"X": xv, "Theta": tv, "y": yv})
    Z = xv @ tv
    P = _softmax(Z)
    expected_loss = np.mean(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(50), yv])
    assert lv == pytest.approx(expected_loss, rel=1e-13)
    close(gv, xv.T @ (P - np.eye(10)[yv]) / 50, EXACT, "softmax regression gradient")


def test_softmax_regression_gradient_against_the_expansion(rng):
    X, Theta, y, loss = _softmax_regression(3, 4)
    vals = {"X": rng.standard_normal((2, 3)), "Theta": rng.standard_normal((3, 4)),
            "y": np.array([3, 1])}
    check_grad(loss, Theta, vals, rng, {"m": 2})
    check_grad(loss, X, vals, rng, {"m": 2})


# ---------------------------------------------------------------------------
# Target 2: the two-layer tanh MLP, gradients = the backprop recursion


def _mlp(sizes):
    X = sd.tensor("X", ("m", sizes[0]))
    y = sd.tensor("y", ("m",), dtype=int)
    Ws, bs = [], []
    a = X
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        W = sd.tensor(f"W{layer}", (n_in, n_out))
        b = sd.tensor(f"b{layer}", (n_out,))
        Ws.append(W)
        bs.append(b)
        h = a @ W + b
        a = sd.tanh(h) if layer < len(sizes) - 1 else h
    loss = sd.mean(sd.logsumexp(a, axis=1) - sd.sum(sd.onehot(y, sizes[-1]) * a, axis=1))
    return X, y, Ws, bs, loss


def _numpy_backprop(x, yv, Ws, bs):
    """Hand-written backprop (the lectures' recursion): G_L = (softmax(Z_L)
    - I_y) / m, weight gradient Z_{i-1}^T G_i, bias gradient 1^T G_i,
    G_{i-1} = (G_i W_i^T) * (1 - Z_{i-1}^2)."""
    m = x.shape[0]
    acts = [x]
    for W, b in zip(Ws[:-1], bs[:-1]):
        acts.append(np.tanh(acts[-1] @ W + b))
    Z = acts[-1] @ Ws[-1] + bs[-1]
    G = (_softmax(Z) - np.eye(Z.shape[1])[yv]) / m
    dWs, dbs = [], []
    for i in range(len(Ws) - 1, -1, -1):
        dWs.insert(0, acts[i].T @ G)
        dbs.insert(0, G.sum(axis=0))
        if i:
            G = (G @ Ws[i].T) * (1 - acts[i] ** 2)
    return dWs, dbs


def test_two_layer_mlp_gradients_are_backprop(rng):
    X, y, Ws, bs, loss = _mlp((20, 16, 10))
    grads = sd.grad(loss, Ws + bs)
    assert [g.shape for g in grads] == [W.shape for W in Ws] + [b.shape for b in bs]
    # each layer's product once forward (X W1, Z1 W2) and once per gradient
    # (G2 W2^T, Z1^T G2, X^T G1): 5 matmuls in all, no transposed copies of
    # products
    assert _ops([loss, *grads], "matmul") == 5
    xv = rng.standard_normal((30, 20))
    yv = rng.integers(0, 10, 30)
    wv = [rng.standard_normal((20, 16)) * 0.3, rng.standard_normal((16, 10)) * 0.3]
    bv = [rng.standard_normal(16) * 0.1, rng.standard_normal(10) * 0.1]
    point = {"X": xv, "y": yv, "W1": wv[0], "W2": wv[1], "b1": bv[0], "b2": bv[1]}
    got = sd.evaluate(grads, point)
    dWs, dbs = _numpy_backprop(xv, yv, wv, bv)
    for g, e, what in zip(got, dWs + dbs, ["W1", "W2", "b1", "b2"]):
        close(g, e, EXACT, f"dloss/d{what}")


def test_two_layer_mlp_gradient_against_the_expansion(rng):
    X, y, Ws, bs, loss = _mlp((3, 2, 3))
    vals = {"X": rng.standard_normal((2, 3)), "y": np.array([2, 0]),
            "W1": rng.standard_normal((3, 2)), "W2": rng.standard_normal((2, 3)),
            "b1": rng.standard_normal(2), "b2": rng.standard_normal(3)}
    for p in Ws + bs:
        check_grad(loss, p, vals, rng, {"m": 2}, directions=1)


# Exact operation counts of [loss, *grads] for an L-hidden-layer tanh MLP
# (5 inputs, width 8, 3 classes): 35 for L = 1, then 11 per layer (per
# layer: 3 forward ops; tanh' as (G/cosh(t))/cosh(t), which keeps full
# relative accuracy where 1 - tanh^2 cancels: cosh and two divides in
# place of the old multiply and subtract; the G recursion; the weight and
# bias gradients).
MLP_OPS = {1: 35, 2: 46, 3: 57, 4: 68}


@pytest.mark.parametrize("L", sorted(MLP_OPS))
def test_mlp_gradient_graph_grows_linearly_in_the_layers(L):
    X, y, Ws, bs, loss = _mlp((5,) + (8,) * L + (3,))
    grads = sd.grad(loss, Ws + bs)
    assert sd.count_ops([loss, *grads]) == MLP_OPS[L]
    assert _ops([loss, *grads], "matmul") == 3 * L + 2


# ---------------------------------------------------------------------------
# Targets 3 and 4: quadratic form and least squares


def test_quadratic_form_gradient_and_hessian(rng):
    A = sd.tensor("A", (4, 4))
    x = sd.tensor("x", (4,))
    f = x @ (A @ x)
    g = sd.grad(f, x)
    H = sd.hessian(f, x)
    assert g is (A + A.T) @ x
    assert H is A + A.T
    av, xv = rng.standard_normal((4, 4)), rng.standard_normal(4)
    vals = {"A": av, "x": xv}
    close(sd.evaluate(g, vals), (av + av.T) @ xv, EXACT, "(A + A^T) x")
    np.testing.assert_array_equal(sd.evaluate(H, vals), av + av.T)
    check_grad(f, x, vals, rng)
    check_hessian(f, x, vals, rng)


@pytest.mark.parametrize("form", ["0.5 sum(r^2)", "0.5 sum(r*r)", "(r @ r) / 2"])
def test_least_squares_gradient_and_hessian(rng, form):
    A = sd.tensor("A", (5, 3))
    x = sd.tensor("x", (3,))
    b = sd.tensor("b", (5,))
    r = A @ x - b
    f = {"0.5 sum(r^2)": lambda: 0.5 * sd.sum(r ** 2),
         "0.5 sum(r*r)": lambda: 0.5 * sd.sum(r * r),
         "(r @ r) / 2": lambda: (r @ r) / 2.0}[form]()
    g = sd.grad(f, x)
    H = sd.hessian(f, x)
    assert g is A.T @ (A @ x - b)
    assert H is A.T @ A
    av, xv, bv = rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal(5)
    vals = {"A": av, "x": xv, "b": bv}
    close(sd.evaluate(g, vals), av.T @ (av @ xv - bv), EXACT, "A^T (A x - b)")
    np.testing.assert_array_equal(sd.evaluate(H, vals), av.T @ av)
    check_grad(f, x, vals, rng)
    check_hessian(f, x, vals, rng)
    u = sd.tensor("u", (3,))
    assert sd.hvp(f, x, u) is A.T @ (A @ u)


def test_jacobian_of_a_layer(rng):
    W = sd.tensor("W", (3, 4))
    x = sd.tensor("x", (4,))
    y = sd.tanh(W @ x)
    vals = {"W": rng.standard_normal((3, 4)), "x": rng.standard_normal(4)}
    J = check_jacobian(y, x, vals, rng)
    t = np.tanh(vals["W"] @ vals["x"])
    close(J, (1 - t ** 2)[:, None] * vals["W"], EXACT, "diag(1 - tanh^2) W")
    assert sd.jacobian(W @ x, x) is W


def test_hessian_of_softmax_regression_through_reshape_index_and_max(rng):
    # Batched seeds through matmul with a named batch, onehot, logsumexp,
    # an index with a step and a reduce_max; the parameters are a vector
    # reshaped into Theta so that the Hessian is defined.
    th = sd.tensor("th", (12,))
    X = sd.tensor("X", ("m", 4))
    y = sd.tensor("y", ("m",), dtype=int)
    Z = X @ sd.reshape(th, (4, 3))
    loss = sd.mean(sd.logsumexp(Z, axis=1) - sd.sum(sd.onehot(y, 3) * Z, axis=1))
    other = sd.mean(sd.sum(sd.tanh(Z[:, ::2]) ** 2, axis=1) + sd.max(Z, axis=1))
    vals = {"th": rng.standard_normal(12), "X": rng.standard_normal((2, 4)),
            "y": np.array([2, 0])}
    H = check_hessian(loss, th, vals, rng, {"m": 2})
    # the closed form: sum over samples of kron(x x^T, diag(p) - p p^T) / m
    xv = vals["X"]
    P = _softmax(xv @ vals["th"].reshape(4, 3))
    expected = sum(np.kron(np.outer(xv[i], xv[i]), np.diag(P[i]) - np.outer(P[i], P[i]))
                   for i in range(2)) / 2
    close(H, expected, EXACT, "softmax regression Hessian")
    check_hessian(other, th, vals, rng, {"m": 2})


def test_jacobian_and_hvp_with_respect_to_a_matrix(rng):
    W = sd.tensor("W", (3, 4))
    x = sd.tensor("x", (4,))
    vals = {"W": rng.standard_normal((3, 4)), "x": rng.standard_normal(4)}
    J = check_jacobian(sd.tanh(W @ x), W, vals, rng)
    assert J.shape == (3, 3, 4)
    f = sd.sum(sd.tanh(W @ x) ** 2)
    V = rng.standard_normal((3, 4))
    hv = sd.evaluate(sd.hvp(f, W, V), vals)
    g = sd.grad(f, W)
    h = 1e-5
    fd = (sd.evaluate(g, dict(vals, W=vals["W"] + h * V))
          - sd.evaluate(g, dict(vals, W=vals["W"] - h * V))) / (2 * h)
    close(hv, fd, 1e-7, "hvp wrt a matrix")      # central differences of the gradient


# ---------------------------------------------------------------------------
# Random tensor expressions (hypothesis): small shapes, broadcasting, every
# structural op.  Each subexpression has a shape broadcastable to (r, c):
# (), (c,), (1, c), (r, 1) or (r, c); r may be the named dimension m.


_UNARY = [sd.sin, sd.tanh, sd.sigmoid, sd.softplus, lambda e: sd.exp(sd.sin(e)),
          lambda e: e * e, lambda e: -e]
_BINARY = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
           lambda a, b: a / (2.0 + b * b), lambda a, b: sd.max(a, b)]


STRUCTURAL = ["matmul", "dot", "sum", "max", "mean", "softmax", "logsumexp", "index",
              "column", "reshape", "transpose", "broadcast"]


def _structural(kind, draw, e, r, c, named, salt):
    """The structural op ``kind`` applied to ``e`` (of a shape broadcastable
    to (r, c)), keeping a shape broadcastable to (r, c)."""
    rr = "m" if named else r
    shape = e.shape
    if not shape:
        return sd.broadcast_to(e, (rr, c))
    last = -1 if len(shape) == 1 else draw(st.sampled_from([0, -1]))
    if kind == "matmul":                        # by a constant: (.., k) @ (k, k)
        k = shape[-1]
        return e @ np.random.default_rng(salt).uniform(-1.0, 1.0, (k, k))
    if kind == "dot":                           # u . tanh(u); sum_rows(E^T sin(E))
        if len(shape) == 1:
            return e @ sd.tanh(e)
        return sd.sum(e.T @ sd.sin(e), axis=0, keepdims=True)
    if kind == "sum":
        return sd.sum(e, axis=last, keepdims=len(shape) == 2)
    if kind == "max":
        return sd.max(e, axis=last, keepdims=len(shape) == 2)
    if kind == "mean":
        return sd.mean(e)
    if kind == "softmax":
        return sd.softmax(e, axis=last)
    if kind == "logsumexp":
        return sd.logsumexp(e, axis=last, keepdims=len(shape) == 2)
    if kind == "index":                         # the last axis is an int: reversed
        return e[..., ::-1]
    if kind == "column":                        # last entry of each row, as a column
        return e[-1] if len(shape) == 1 else sd.reshape(e[..., -1], shape[:-1] + (1,))
    if kind == "reshape":                       # through an extra unit axis
        return sd.reshape(sd.sin(sd.reshape(e, shape + (1,))), shape)
    if kind == "transpose":
        if len(shape) == 1:
            return sd.transpose(sd.reshape(e, shape + (1,)))
        return sd.transpose(sd.sin(sd.transpose(e)))
    if kind == "broadcast":
        return sd.broadcast_to(e, (rr, c))
    raise AssertionError(kind)


@st.composite
def tensor_programs(draw):
    r = draw(st.integers(1, 3))
    c = draw(st.integers(1, 3))
    named = draw(st.booleans())
    rr = "m" if named else r
    leaves = [sd.tensor("X", (rr, c)), sd.tensor("u", (c,)), sd.tensor("w", (rr, 1)),
              sd.symbol("s")]
    pool = list(leaves)
    for step in range(draw(st.integers(3, 7))):
        kind = draw(st.sampled_from(["structural", "binary", "unary", "structural"]))
        a = draw(st.sampled_from(pool))
        if kind == "unary":
            e = draw(st.sampled_from(_UNARY))(a)
        elif kind == "binary":
            e = draw(st.sampled_from(_BINARY))(a, draw(st.sampled_from(pool)))
        else:
            e = _structural(draw(st.sampled_from(STRUCTURAL)), draw, a, r, c, named, step)
        pool.append(e)
    out = pool[-1]
    for e in pool[len(leaves):-1]:
        if draw(st.booleans()):
            out = out + e                      # broadcasting sums of earlier results
    return out, leaves, r, c, named


@settings(max_examples=100)
@given(tensor_programs(), st.integers(0, 2 ** 32 - 1))
def test_random_tensor_expressions(program, seed):
    e, leaves, r, c, named = program
    rng = np.random.default_rng(seed)
    dims = {"m": r} if named else {}
    vals = {"X": rng.uniform(-1, 1, (r, c)), "u": rng.uniform(-1, 1, c),
            "w": rng.uniform(-1, 1, (r, 1)), "s": float(rng.uniform(0.5, 1.5))}
    weights = np.random.default_rng(zlib.crc32(b"weights")).uniform(
        -1.0, 1.0, tuple(1 if isinstance(d, str) else d for d in e.shape))
    f = sd.sum(sd.sin(e * weights)) if e.shape else sd.sin(e)
    used = set(sd.free_symbols(f))
    for x in leaves:
        if x in used:
            check_grad(f, x, vals, rng, dims, directions=1)
        else:
            gx = sd.evaluate(sd.grad(f, x), vals, dims=dims)
            assert not np.any(gx)


# ---------------------------------------------------------------------------
# Scalars mixed with tensors; scalar behaviour unchanged


def test_scalar_symbol_times_tensor_gradient_sums(rng):
    s = sd.symbol("s")
    A = sd.tensor("A", (3, 4))
    a = rng.standard_normal((3, 4))
    assert sd.tensor("s", ()) is s
    g = sd.grad(sd.sum(s * A), s)
    assert g is sd.sum(A)
    assert sd.evaluate(g, {"A": a}) == pytest.approx(a.sum(), rel=1e-14)
    f = sd.sum(sd.sin(sd.exp(s) * A))
    vals = {"A": a, "s": 0.3}
    gs = check_grad(f, s, vals, rng)
    assert float(gs) == pytest.approx(float(np.sum(np.cos(np.exp(0.3) * a) * np.exp(0.3) * a)),
                                      rel=1e-13)
    check_grad(f, A, vals, rng)
    gA, gs2 = sd.grad(f, [A, s])
    assert gA.shape == (3, 4) and gs2.shape == ()


def test_numpy_arrays_meet_scalars_and_tensors_as_before():
    x = sd.symbol("x")
    r = np.ones(3) * x
    assert isinstance(r, np.ndarray) and r.dtype == object and r.shape == (3,)
    assert all(v is x for v in r)                 # 1 * x -> x, entry by entry
    r2 = np.arange(3.0) + x
    # 0 + x stays: IEEE's 0 + (-0.0) is +0.0, not x (sd.fast_rules() folds it)
    assert [sd.to_string(v) for v in r2] == ["0 + x", "1 + x", "2 + x"]
    t = sd.tensor("t", (3,))
    c = np.ones(3) * t
    assert isinstance(c, sd.Node) and c.shape == (3,)
    assert c.op == "mul" and any(a.op == "array" for a in c.args)
    assert isinstance(np.ones(3) @ t, sd.Node) and (np.ones(3) @ t).shape == ()
    # object arrays of scalar expressions do not silently become tensors
    with pytest.raises(TypeError, match="object array"):
        np.array([x, x, x], dtype=object) * t


def test_scalar_api_is_unchanged():
    x, y = sd.symbols("x y")
    assert sd.sum([x, y, x]).shape == ()
    assert sd.to_string(sd.sum([x, y])) == "x + y"
    assert sd.to_string(sd.max(x, y)) == "max(x, y)"
    assert sd.grad(x * y, [x, y]) == [y, x]
    assert sd.to_string(sd.grad(sd.sin(x) * y, x)) == "y*cos(x)"
    H = sd.hessian(x * x * y)
    assert [[sd.to_string(h) for h in row] for row in H] == [["2*y", "2*x"],
                                                            ["2*x", "0"]]
    v = sd.vector("v", 3)
    assert sd.evaluate(sd.dot(v, v), {"v0": 1.0, "v1": 2.0, "v2": 3.0}) == 14.0


# ---------------------------------------------------------------------------
# Regressions for core bugs found by these tests


def test_scalar_structural_node_broadcast_against_a_tensor(rng):
    # A scalar-shaped sum / index / dot / max used elementwise with a tensor
    # got a tensor-shaped adjoint (grad raised in broadcast_to(g, ())).
    x = sd.tensor("x", (3,))
    A = sd.tensor("A", (2, 3))
    vals = {"x": rng.standard_normal(3), "A": rng.standard_normal((2, 3))}
    for f in (sd.sum(sd.sin(x * sd.sum(x))), sd.sum(sd.sin(x * x[0])),
              sd.sum(sd.sin(x * (x @ x))), sd.sum(sd.log(2.0 + x / (3.0 + sd.sum(x * x))))):
        check_grad(f, x, vals, rng)
    check_grad(sd.sum(sd.sin(A * sd.max(A))), A, vals, rng)


def test_hessian_with_a_scalar_reduction_broadcast_back():
    # The batched seed's axes must stay leading when a broadcast is summed
    # (the Hessian was silently wrong).  f = sum_i sin(x_i s), s = |x|^2.
    x = sd.tensor("x", (3,))
    x0 = np.array([0.3, -0.5, 0.8])
    H = sd.evaluate(sd.hessian(sd.sum(sd.sin(x * sd.sum(x * x))), x), {"x": x0})
    s = x0 @ x0
    a = x0 * s
    # d/dx_j [cos(a_k) s + 2 x_k sum_i cos(a_i) x_i]
    expected = np.empty((3, 3))
    for k in range(3):
        for j in range(3):
            da_k = s * (k == j) + 2 * x0[k] * x0[j]
            da = s * np.eye(3)[j] + 2 * x0 * x0[j]
            expected[k, j] = (-np.sin(a[k]) * da_k * s + np.cos(a[k]) * 2 * x0[j]
                              + 2 * (k == j) * np.sum(np.cos(a) * x0)
                              + 2 * x0[k] * np.sum(-np.sin(a) * da * x0
                                                   + np.cos(a) * np.eye(3)[j]))
    close(H, expected, EXACT, "hessian")


def test_zero_gradient_of_a_tensor_with_a_named_dimension():
    X = sd.tensor("X", ("m", 3))
    s = sd.symbol("s")
    g = sd.grad(s * s, X)
    assert g.shape == ("m", 3)
    np.testing.assert_array_equal(sd.evaluate(g, {X: np.ones((2, 3)), "s": 1.0}),
                                  np.zeros((2, 3)))
    assert (0.0 * X).shape == ("m", 3)


@settings(max_examples=40)
@given(tensor_programs(), st.integers(0, 2 ** 32 - 1))
def test_random_tensor_expressions_hessian(program, seed):
    # Batched seeds through random structure: the Hessian wrt the vector u.
    e, leaves, r, c, named = program
    u = leaves[1]
    rng = np.random.default_rng(seed)
    dims = {"m": r} if named else {}
    vals = {"X": rng.uniform(-1, 1, (r, c)), "u": rng.uniform(-1, 1, c),
            "w": rng.uniform(-1, 1, (r, 1)), "s": float(rng.uniform(0.5, 1.5))}
    f = sd.sum(sd.sin(e * 0.7)) if e.shape else sd.sin(e)
    # Only expressions of u test anything (about half of the drawn ones):
    # the others are rejected, and max_examples counts the ones checked.
    assume(u in sd.free_symbols(f))
    check_hessian(f, u, vals, rng, dims)
