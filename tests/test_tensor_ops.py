"""Every structural tensor op (matmul, transpose, sum, reduce_max, reshape,
broadcast_to, index, unindex, onehot, stop_gradient) and elementwise
broadcasting: values against numpy and against the scalar expansion;
gradients against the gradient of the expansion and central differences;
batched seeds (jacobian, hessian, hvp) through each op.

Each case of :data:`CASES` builds an expression from symbols of small
shapes (named dimensions bound to small sizes) and says what numpy computes
for it.  Its gradient is checked on ``f = sum(sin(e * C))`` with a fixed
random constant C of e's shape (1 along named axes), so that the entries
of the adjoint differ and it is not a broadcast scalar.  Oracles and tolerances:
``tensor_oracles.py``.
"""

from __future__ import annotations

import zlib
from typing import Callable, NamedTuple

import numpy as np
import pytest
from tensor_oracles import (
    EXACT,
    check_grad,
    check_hessian,
    check_jacobian,
    check_value,
    close,
    expand_eval,
)

import symdiff as sd
from symdiff.core import symbolic as S
from symdiff.core.node import dim


class Case(NamedTuple):
    id: str
    shapes: dict                 # name -> declared shape
    build: Callable              # symbols (dict name -> node) -> expression
    numpy: Callable              # arrays (dict name -> ndarray) -> expected value
    dims: dict = {}


def _c(shape, salt: str) -> np.ndarray:
    """A fixed constant array (seeded by ``salt``, never by hash())."""
    return np.random.default_rng(zlib.crc32(salt.encode())).uniform(-1.0, 1.0, shape)


W34 = _c((3, 4), "W34")
W42 = _c((4, 2), "W42")

CASES = [
    # --- matmul: every operand kind, constants on either side, named dims
    Case("matmul-mm", {"A": (3, 4), "B": (4, 2)}, lambda s: s["A"] @ s["B"],
         lambda v: v["A"] @ v["B"]),
    Case("matmul-mm-named", {"X": ("m", 4), "B": (4, 2)}, lambda s: s["X"] @ s["B"],
         lambda v: v["X"] @ v["B"], {"m": 3}),
    Case("matmul-mv", {"A": (3, 4), "x": (4,)}, lambda s: s["A"] @ s["x"],
         lambda v: v["A"] @ v["x"]),
    Case("matmul-vm", {"x": (3,), "A": (3, 4)}, lambda s: s["x"] @ s["A"],
         lambda v: v["x"] @ v["A"]),
    Case("matmul-vv", {"x": (4,), "u": (4,)}, lambda s: s["x"] @ s["u"],
         lambda v: v["x"] @ v["u"]),
    Case("matmul-const-left", {"B": (4, 2)}, lambda s: W34 @ s["B"], lambda v: W34 @ v["B"]),
    Case("matmul-const-right", {"X": ("m", 4)}, lambda s: s["X"] @ W42,
         lambda v: v["X"] @ W42, {"m": 2}),
    Case("matmul-self", {"A": (3, 4)}, lambda s: s["A"] @ s["A"].T,
         lambda v: v["A"] @ v["A"].T),
    # --- transpose
    Case("transpose-2d", {"A": (3, 4)}, lambda s: s["A"].T, lambda v: v["A"].T),
    Case("transpose-named", {"X": ("m", 3)}, lambda s: sd.transpose(s["X"]),
         lambda v: v["X"].T, {"m": 2}),
    Case("transpose-3d-axes", {"T": (2, 3, 4)}, lambda s: sd.transpose(s["T"], (1, 2, 0)),
         lambda v: np.transpose(v["T"], (1, 2, 0))),
    Case("transpose-3d-negative-axes", {"T": (2, 3, 4)},
         lambda s: sd.transpose(s["T"], (-1, 0, -2)),
         lambda v: np.transpose(v["T"], (2, 0, 1))),
    # --- sum: all axes, one axis, negative axes, several axes, keepdims, named
    Case("sum-all", {"A": (3, 4)}, lambda s: sd.sum(s["A"]), lambda v: np.sum(v["A"])),
    Case("sum-axis0", {"A": (3, 4)}, lambda s: sd.sum(s["A"], axis=0),
         lambda v: v["A"].sum(axis=0)),
    Case("sum-axis-1-keepdims", {"A": (3, 4)}, lambda s: sd.sum(s["A"], axis=-1, keepdims=True),
         lambda v: v["A"].sum(axis=-1, keepdims=True)),
    Case("sum-3d-axes", {"T": (2, 3, 4)}, lambda s: sd.sum(s["T"], axis=(0, -1)),
         lambda v: v["T"].sum(axis=(0, 2))),
    Case("sum-3d-keepdims", {"T": (2, 3, 4)},
         lambda s: sd.sum(s["T"], axis=(-3, 1), keepdims=True),
         lambda v: v["T"].sum(axis=(0, 1), keepdims=True)),
    Case("sum-named", {"X": ("m", 3)}, lambda s: sd.sum(s["X"], axis=0),
         lambda v: v["X"].sum(axis=0), {"m": 4}),
    Case("mean-named", {"X": ("m", 3)}, lambda s: sd.mean(s["X"], axis=0),
         lambda v: v["X"].mean(axis=0), {"m": 4}),
    Case("mean-all-keepdims", {"X": ("m", 3)}, lambda s: sd.mean(s["X"], keepdims=True),
         lambda v: v["X"].mean(keepdims=True), {"m": 2}),
    # --- reduce_max (random inputs: no ties; ties are tested below)
    Case("max-all", {"A": (3, 4)}, lambda s: sd.max(s["A"]), lambda v: np.max(v["A"])),
    Case("max-axis1", {"A": (3, 4)}, lambda s: sd.max(s["A"], axis=1),
         lambda v: v["A"].max(axis=1)),
    Case("max-axis-2-keepdims", {"T": (2, 3, 4)},
         lambda s: sd.max(s["T"], axis=-2, keepdims=True),
         lambda v: v["T"].max(axis=-2, keepdims=True)),
    Case("max-named", {"X": ("m", 3)}, lambda s: sd.max(s["X"], axis=0),
         lambda v: v["X"].max(axis=0), {"m": 3}),
    Case("logsumexp", {"A": (3, 4)}, lambda s: sd.logsumexp(s["A"], axis=1),
         lambda v: np.log(np.exp(v["A"]).sum(axis=1))),
    Case("logsumexp-keepdims-all", {"A": (3, 4)},
         lambda s: sd.logsumexp(s["A"], keepdims=True),
         lambda v: np.log(np.exp(v["A"]).sum(keepdims=True))),
    Case("softmax-axis0", {"A": (3, 4)}, lambda s: sd.softmax(s["A"], axis=0),
         lambda v: np.exp(v["A"]) / np.exp(v["A"]).sum(axis=0)),
    # --- reshape
    Case("reshape-2d", {"A": (3, 4)}, lambda s: sd.reshape(s["A"], (2, 6)),
         lambda v: v["A"].reshape(2, 6)),
    Case("reshape-flat", {"A": (3, 4)}, lambda s: sd.reshape(s["A"], (12,)),
         lambda v: v["A"].reshape(12)),
    Case("reshape-3d", {"x": (12,)}, lambda s: sd.reshape(s["x"], (2, 3, 2)),
         lambda v: v["x"].reshape(2, 3, 2)),
    Case("reshape-named-unit-axis", {"X": ("m", 3)}, lambda s: sd.reshape(s["X"], ("m", 1, 3)),
         lambda v: v["X"].reshape(-1, 1, 3), {"m": 2}),
    # --- broadcast_to: scalar, row, column, named
    Case("broadcast-scalar", {"s": ()}, lambda s: sd.broadcast_to(s["s"], (3, 4)),
         lambda v: np.broadcast_to(v["s"], (3, 4))),
    Case("broadcast-row", {"x": (4,)}, lambda s: sd.broadcast_to(s["x"], (3, 4)),
         lambda v: np.broadcast_to(v["x"], (3, 4))),
    Case("broadcast-column", {"c": (3, 1)}, lambda s: sd.broadcast_to(s["c"], (2, 3, 4)),
         lambda v: np.broadcast_to(v["c"], (2, 3, 4))),
    Case("broadcast-named", {"x": (3,)}, lambda s: sd.broadcast_to(s["x"], ("m", 3)),
         lambda v: np.broadcast_to(v["x"], (2, 3)), {"m": 2}),
    # --- index: ints, negative ints, slices with steps (negative too), ...
    Case("index-int", {"A": (3, 4)}, lambda s: s["A"][1], lambda v: v["A"][1]),
    Case("index-negative-int", {"A": (3, 4)}, lambda s: s["A"][:, -1],
         lambda v: v["A"][:, -1]),
    Case("index-scalar", {"A": (3, 4)}, lambda s: s["A"][2, -3], lambda v: v["A"][2, -3]),
    Case("index-step", {"A": (3, 4)}, lambda s: s["A"][::2, 1::2],
         lambda v: v["A"][::2, 1::2]),
    Case("index-negative-step", {"A": (3, 4)}, lambda s: s["A"][::-1, 3:0:-2],
         lambda v: v["A"][::-1, 3:0:-2]),
    Case("index-ellipsis", {"T": (2, 3, 4)}, lambda s: s["T"][..., 1:3],
         lambda v: v["T"][..., 1:3]),
    Case("index-vector-step", {"x": (7,)}, lambda s: s["x"][-2::-3],
         lambda v: v["x"][-2::-3]),
    Case("index-named", {"X": ("m", 4)}, lambda s: s["X"][-1, ::3],
         lambda v: v["X"][-1, ::3], {"m": 3}),
    Case("index-named-colon", {"X": ("m", 4)}, lambda s: s["X"][:, 2],
         lambda v: v["X"][:, 2], {"m": 3}),
    # --- onehot times a float tensor (onehot itself has no derivative)
    Case("onehot", {"y": ("m",), "A": ("m", 4)},
         lambda s: sd.onehot(s["y"], 4) * s["A"],
         lambda v: np.eye(4)[v["y"]] * v["A"], {"m": 3}),
    # --- elementwise broadcasting: scalar, row, column, both, named
    Case("bcast-scalar-tensor", {"s": (), "A": (3, 4)}, lambda s: s["s"] * s["A"],
         lambda v: v["s"] * v["A"]),
    Case("bcast-row", {"x": (4,), "A": (3, 4)}, lambda s: s["A"] - s["x"],
         lambda v: v["A"] - v["x"]),
    Case("bcast-column", {"c": (3, 1), "A": (3, 4)}, lambda s: s["A"] / (2.0 + s["c"] ** 2),
         lambda v: v["A"] / (2.0 + v["c"] ** 2)),
    Case("bcast-outer", {"c": (3, 1), "r": (1, 4)}, lambda s: sd.exp(s["c"]) * s["r"],
         lambda v: np.exp(v["c"]) * v["r"]),
    Case("bcast-named", {"X": ("m", 1), "x": (3,)}, lambda s: sd.tanh(s["X"] + s["x"]),
         lambda v: np.tanh(v["X"] + v["x"]), {"m": 2}),
    Case("bcast-3d", {"T": (2, 3, 4), "c": (3, 1)}, lambda s: s["T"] * s["c"] ** 2,
         lambda v: v["T"] * v["c"] ** 2),
    Case("bcast-const-array", {"A": (3, 4)}, lambda s: np.arange(4.0) * s["A"] + W34,
         lambda v: np.arange(4.0) * v["A"] + W34),
    Case("bcast-pow", {"A": (3, 4), "x": (4,)}, lambda s: (1.5 + sd.sin(s["A"])) ** s["x"],
         lambda v: (1.5 + np.sin(v["A"])) ** v["x"]),
]


def _inputs(case: Case, rng: np.random.Generator) -> dict:
    vals = {}
    for name, shape in case.shapes.items():
        concrete = tuple(case.dims.get(d, d) for d in shape)
        if name == "y":
            vals[name] = rng.integers(0, 4, concrete)
        else:
            vals[name] = rng.standard_normal(concrete) if concrete else float(rng.standard_normal())
    return vals


def _symbols(case: Case) -> dict:
    return {name: sd.tensor(name, shape, dtype=int if name == "y" else float)
            for name, shape in case.shapes.items()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_value(case, rng):
    syms = _symbols(case)
    e = case.build(syms)
    vals = _inputs(case, rng)
    expected = case.numpy(vals)
    assert tuple(case.dims.get(d, d) for d in e.shape) == np.shape(expected)
    check_value(e, vals, expected, case.dims)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gradient(case, rng):
    syms = _symbols(case)
    e = case.build(syms)
    vals = _inputs(case, rng)
    # A named axis may only meet a constant of length 1 (numpy could refuse
    # other lengths): the weights vary along the int axes, and sin makes
    # the adjoint differ along the named ones.
    shape = tuple(1 if isinstance(d, str) else d for d in e.shape)
    f = sd.sum(sd.sin(e * _c(shape, case.id))) if shape else sd.sin(e)
    for _name, x in syms.items():
        if x.dtype == "float64":
            check_grad(f, x, vals, rng, case.dims)


# ---------------------------------------------------------------------------
# Batched seeds: Jacobians and Hessians through every structural op.  The
# input is one vector x; the cases put x through the op and back to a
# vector.

X6 = sd.tensor("x", (6,))
C23 = _c((2, 3), "C23")
C32 = _c((3, 2), "C32")
C46 = _c((4, 6), "C46")

BATCHED = [
    ("matmul-mv", lambda x: C46 @ x),
    ("matmul-vm", lambda x: x @ C46.T),
    ("matmul-mm", lambda x: sd.reshape(sd.reshape(x, (2, 3)) @ C32, (4,))),
    ("matmul-mm-right", lambda x: sd.reshape(C32 @ sd.reshape(x, (2, 3)), (9,))),
    ("matmul-chain", lambda x: sd.tanh(C32.T @ sd.tanh(C23.T @ sd.tanh(C46[:2] @ x)))),
    ("matmul-vv", lambda x: sd.reshape(x @ sd.sin(x), (1,))),
    ("transpose", lambda x: sd.reshape(sd.reshape(x, (2, 3)).T * C32, (6,))),
    ("sum", lambda x: sd.sum(sd.reshape(x * x, (2, 3)), axis=0)),
    ("sum-keepdims", lambda x: x * sd.sum(sd.reshape(x, (3, 2)) ** 2, axis=-1,
                                          keepdims=True).T[0, 0]),
    ("reduce_max", lambda x: sd.max(sd.reshape(x, (3, 2)) * C32, axis=1) * x[:3]),
    ("reshape", lambda x: sd.reshape(sd.reshape(x, (3, 2)) ** 3, (6,))),
    ("broadcast_to", lambda x: sd.sum(sd.broadcast_to(x, (4, 6)) * C46, axis=1) * x[1:5]),
    ("broadcast-column", lambda x: sd.reshape(sd.reshape(x[:2], (2, 1)) * C23, (6,)) * x),
    ("index", lambda x: x[::-2] * x[1::2]),
    ("index-2d", lambda x: sd.exp(sd.reshape(x, (2, 3))[1, ::2] * x[0])),
    ("elementwise", lambda x: sd.sigmoid(x) * sd.softplus(x[::-1]) / (1.0 + x * x)),
    ("softmax", lambda x: sd.softmax(x * C46[0])),
    ("scalar-seed", lambda x: 2.0 * x),
]


@pytest.mark.parametrize("build", [b for _, b in BATCHED], ids=[i for i, _ in BATCHED])
def test_jacobian_batched_seed(build, rng):
    x0 = rng.standard_normal(6)
    check_jacobian(build(X6), X6, {"x": x0}, rng)


@pytest.mark.parametrize("build", [b for _, b in BATCHED], ids=[i for i, _ in BATCHED])
def test_hessian_batched_seed(build, rng):
    x0 = rng.standard_normal(6)
    y = build(X6)
    f = sd.sum(sd.sin(y) * _c(y.shape, "hessian"))
    check_hessian(f, X6, {"x": x0}, rng)


@pytest.mark.parametrize("build", [b for _, b in BATCHED], ids=[i for i, _ in BATCHED])
def test_derivative_expressions_expand_to_their_values(build, rng):
    # The derivative graphs hold ops the forward graphs do not (unindex,
    # eye, broadcast_to of adjoints, batched transposes): their scalar
    # expansion evaluates to what the numpy interpreter computes.
    x0 = rng.standard_normal(6)
    y = build(X6)
    f = sd.sum(sd.sin(y) * _c(y.shape, "hessian"))
    for e in (sd.grad(f, X6), sd.jacobian(y, X6), sd.hessian(f, X6)):
        close(expand_eval(e, {"x": x0}), sd.evaluate(e, {"x": x0}), EXACT, repr(e))


def test_hessian_through_a_matmul_chain_is_one_tensor_expression(rng):
    # f = sum(tanh(W2 tanh(W1 x))): the Hessian is one (4, 4) expression
    # whose graph stays small (no n^2 scalar entries).
    W1, W2 = sd.tensor("W1", (3, 4)), sd.tensor("W2", (2, 3))
    x = sd.tensor("x", (4,))
    f = sd.sum(sd.tanh(W2 @ sd.tanh(W1 @ x)))
    vals = {"W1": rng.standard_normal((3, 4)), "W2": rng.standard_normal((2, 3)),
            "x": rng.standard_normal(4)}
    H = check_hessian(f, x, vals, rng)
    assert H.shape == (4, 4)
    assert sd.count_ops(sd.hessian(f, x)) < 60


# ---------------------------------------------------------------------------
# Ops checked with closed forms where the expansion is no oracle.


def test_reduce_max_ties_split_the_gradient_equally():
    x = sd.tensor("x", (4,))
    A = sd.tensor("A", (2, 3))
    g = sd.evaluate(sd.grad(sd.max(x), x), {"x": np.array([1.0, 3.0, -2.0, 3.0])})
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.0, 0.5])
    gA = sd.evaluate(sd.grad(sd.sum(sd.max(A, axis=0) * np.array([1.0, 2.0, 4.0])), A),
                     {"A": np.array([[5.0, 1.0, 2.0], [5.0, 0.0, 2.0]])})
    np.testing.assert_array_equal(gA, [[0.5, 2.0, 2.0], [0.5, 0.0, 2.0]])


def test_reduce_max_ignores_nan_like_the_elementwise_max():
    x = sd.tensor("x", (3,))
    assert sd.evaluate(sd.max(x), {"x": np.array([1.0, np.nan, 2.0])}) == 2.0


def test_stop_gradient_has_the_value_and_no_derivative(rng):
    A = sd.tensor("A", (3, 4))
    a = rng.standard_normal((3, 4))
    f = sd.sum(sd.stop_gradient(A) * A)
    assert sd.evaluate(sd.stop_gradient(A), {"A": a}) == pytest.approx(a, abs=0)
    # d/dA sum(sg(A) * A) = sg(A) = A in value, half the gradient of sum(A*A)
    np.testing.assert_array_equal(sd.evaluate(sd.grad(f, A), {"A": a}), a)
    g = sd.grad(sd.sum(sd.stop_gradient(A * A)), A)
    assert g.op == "broadcast_to" and g.args[0] is sd.const(0.0)   # zeros, not an array
    assert sd.stop_gradient(sd.stop_gradient(A)) is sd.stop_gradient(A)   # sg(sg(a)) -> sg(a)
    X = sd.tensor("X", ("m", 3))
    gX = sd.grad(sd.sum(sd.stop_gradient(X)) + sd.sum(sd.stop_gradient(X) * X), X)
    np.testing.assert_array_equal(sd.evaluate(gX, {"X": a[:, :3]}), a[:, :3])


def test_logsumexp_is_stable_and_its_gradient_is_softmax(rng):
    A = sd.tensor("A", (2, 3))
    big = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -1002.0]])
    ref = big.max(axis=1) + np.log(np.exp(big - big.max(axis=1, keepdims=True)).sum(axis=1))
    close(sd.evaluate(sd.logsumexp(A, axis=1), {"A": big}), ref, EXACT)
    p = np.exp(big - big.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    close(sd.evaluate(sd.softmax(A), {"A": big}), p, EXACT)
    g = sd.grad(sd.sum(sd.logsumexp(A, axis=1)), A)
    close(sd.evaluate(g, {"A": big}), p, EXACT)


def test_onehot_value_and_labels_get_no_adjoint():
    y = sd.tensor("y", ("m",), dtype=int)
    Iy = sd.onehot(y, 3)
    assert Iy.shape == ("m", 3) and Iy.dtype == "float64"
    np.testing.assert_array_equal(sd.evaluate(Iy, {"y": np.array([2, 0, 2, 1])}),
                                  np.eye(3)[[2, 0, 2, 1]])
    A = sd.tensor("A", ("m", 3))
    a = np.arange(12.0).reshape(4, 3)
    g = sd.grad(sd.sum(Iy * A * A), A)
    np.testing.assert_array_equal(sd.evaluate(g, {"y": np.array([2, 0, 2, 1]), "A": a}),
                                  2 * a * np.eye(3)[[2, 0, 2, 1]])
    # the expansion: onehot(y)[i, j] = eq(y_i, j)
    np.testing.assert_array_equal(expand_eval(Iy, {"y": np.array([1, 0])}, {"m": 2}),
                                  [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def test_unindex_places_the_adjoint_and_is_the_adjoint_of_index(rng):
    # <index(A), g> == <A, unindex(g)> for every spec: the dot-product test
    A = sd.tensor("A", (3, 4))
    G = sd.tensor("G", (2, 2))
    spec = ((None, None, 2), (3, 0, -2))           # A[::2, 3:0:-2]
    a, g = rng.standard_normal((3, 4)), rng.standard_normal((2, 2))
    u = S.unindex(G, spec, (3, 4))
    assert u.shape == (3, 4)
    uv = sd.evaluate(u, {"G": g})
    expected = np.zeros((3, 4))
    expected[::2, 3:0:-2] = g
    np.testing.assert_array_equal(uv, expected)
    lhs = float(np.sum(sd.evaluate(A[::2, 3:0:-2], {"A": a}) * g))
    assert lhs == pytest.approx(float(np.sum(a * uv)), rel=1e-14)
    # unindex's own adjoint is index: grad of <unindex(G), C> is C[spec]
    C = _c((3, 4), "unindex")
    gG = sd.evaluate(sd.grad(sd.sum(u * C), G), {"G": g})
    np.testing.assert_array_equal(gG, C[::2, 3:0:-2])


def test_mean_divides_by_the_named_dimension():
    X = sd.tensor("X", ("m", 3))
    e = sd.mean(X)
    assert dim("m") in sd.toposort([e])
    assert sd.evaluate(e, {"X": np.arange(12.0).reshape(4, 3)}) == 5.5
    x = np.arange(6.0).reshape(2, 3)
    # the gradient mentions m but not X: X given as a node still binds m
    g = sd.grad(e, X)
    assert X not in sd.free_symbols(g)
    np.testing.assert_array_equal(sd.evaluate(g, {X: x}), np.full((2, 3), 1 / 6))
    np.testing.assert_array_equal(sd.evaluate(g, {}, dims={"m": 2}), np.full((2, 3), 1 / 6))


def test_dims_bind_from_inputs_and_from_the_dims_argument():
    X = sd.tensor("X", ("m", 3))
    n = dim("n")
    assert sd.evaluate(sd.sum(X) * n, {"X": np.ones((2, 3))}, dims={"n": 5}) == 30.0
    z = sd.broadcast_to(0.0, ("m", 3))               # no input binds m
    np.testing.assert_array_equal(sd.evaluate(z, {}, dims={"m": 2}), np.zeros((2, 3)))
    v = sd.evaluate([sd.mean(X), z], {"X": np.ones((4, 3))})
    assert v[0] == 1.0 and v[1].shape == (4, 3)


def test_evaluated_inputs_are_not_modified(rng):
    A = sd.tensor("A", (3, 4))
    a = rng.standard_normal((3, 4))
    keep = a.copy()
    sd.evaluate([sd.grad(sd.sum(A[::2] ** 2), A), sd.reshape(A, (12,))], {"A": a})
    np.testing.assert_array_equal(a, keep)
