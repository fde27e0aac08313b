"""Shape errors: when an expression is built (the message names the op and
every shape), when it is evaluated (the message names the input), integer
label tensors refused where only onehot takes them, and derivatives that
cannot be taken."""

from __future__ import annotations

import re

import numpy as np
import pytest

import symdiff as sd
from symdiff.core.shapes import broadcast_shapes, check_shape, format_shape

X = sd.tensor("X", ("m", 3))
A = sd.tensor("A", (3, 4))
v = sd.tensor("v", (3,))
y = sd.tensor("y", ("m",), dtype=int)
T3 = sd.tensor("T3", (2, 2, 2))
s = sd.symbol("s")


def _raises(fn, exc, *fragments):
    """``fn()`` raises ``exc`` whose message contains every fragment."""
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    return msg


# ---------------------------------------------------------------------------
# building


BUILD_ERRORS = [
    # (id, builder, fragments of the message: op and both shapes)
    ("elementwise", lambda: A + v, ("add", "(3, 4)", "(3,)", "4 != 3")),
    ("elementwise-3d", lambda: T3 * A, ("mul", "(2, 2, 2)", "(3, 4)")),
    ("named-vs-int", lambda: X + sd.tensor("Y", (3, 3)),
     ("add", "(m, 3)", "(3, 3)", "m vs 3", "a named dimension matches only itself or 1")),
    ("named-vs-named", lambda: X - sd.tensor("Z", ("n", 3)), ("sub", "(m, 3)", "(n, 3)",
                                                            "m vs n")),
    ("named-vs-int-function", lambda: sd.max(X, sd.tensor("W", (2, 3))),
     ("max", "(m, 3)", "(2, 3)")),
    ("matmul", lambda: X @ A.T,
     ("matmul", "(m, 3)", "(4, 3)", "3 (axis 1 of the left) != 4 (axis 0 of the right)")),
    ("matmul-named", lambda: X.T @ sd.tensor("Z", ("n", 2)),
     ("matmul", "(3, m)", "(n, 2)", "m (axis 1 of the left) != n")),
    ("matmul-vector", lambda: A @ v, ("matmul", "(3, 4)", "(3,)", "4 (axis 1 of the left) != 3")),
    ("matmul-vector-vector", lambda: v @ sd.tensor("u", (4,)), ("matmul", "(3,)", "(4,)")),
    ("matmul-scalar", lambda: A @ s, ("matmul", "(3, 4)", "()", "vectors or matrices")),
    ("matmul-3d", lambda: T3 @ T3, ("matmul", "(2, 2, 2)", "stack of matrices")),
    ("sum-axis", lambda: sd.sum(X, axis=2), ("sum", "axis 2", "2-dimensional")),
    ("sum-negative-axis", lambda: sd.sum(v, axis=-2), ("sum", "axis -2", "1-dimensional")),
    ("sum-repeated-axis", lambda: sd.sum(A, axis=(1, -1)), ("sum", "repeated")),
    ("sum-bool-axis", lambda: sd.sum(A, axis=True), ("sum", "axis must be an int")),
    ("mean-float-axis", lambda: sd.mean(A, axis=1.0), ("mean", "axis must be an int")),
    ("max-axis", lambda: sd.max(A, axis=5), ("max", "axis 5")),
    ("logsumexp-axis", lambda: sd.logsumexp(A, axis=-3), ("logsumexp", "axis -3")),
    ("softmax-axis", lambda: sd.softmax(v, axis=1), ("softmax", "axis 1")),
    ("transpose-axes", lambda: sd.transpose(A, (0, 0)), ("transpose", "(0, 0)", "(3, 4)")),
    ("reshape-size", lambda: sd.reshape(A, (5, 2)), ("reshape", "(3, 4)", "(5, 2)")),
    ("reshape-named-moved", lambda: sd.reshape(X, (3, "m")), ("reshape", "(m, 3)", "(3, m)")),
    ("reshape-named-merged", lambda: sd.reshape(X, ("k",)), ("reshape",)),
    ("reshape-named-int", lambda: sd.reshape(X, (6,)), ("reshape",)),
    ("broadcast", lambda: sd.broadcast_to(v, (4,)), ("broadcast_to", "(3,)", "(4,)")),
    ("broadcast-named", lambda: sd.broadcast_to(X, (5, 3)), ("broadcast_to", "(m, 3)",
                                                            "(5, 3)")),
    ("broadcast-fewer-axes", lambda: sd.broadcast_to(A, (4,)), ("broadcast_to", "(3, 4)")),
    ("index-too-many", lambda: A[1, 2, 3], ("index", "3 indices", "(3, 4)")),
    ("index-out-of-range", lambda: A[3], ("index 3", "axis 0", "(3, 4)")),
    ("index-negative-out-of-range", lambda: A[:, -5], ("index -5", "axis 1")),
    ("index-step-0", lambda: A[::0], ("index", "step cannot be 0")),
    ("index-float", lambda: A[1.5], ("index", "1.5")),
    ("index-float-bound", lambda: A[0:1.5], ("index", "slice bounds must be ints")),
    ("index-list", lambda: A[[0, 1]], ("index", "[0, 1]")),
    ("index-scalar", lambda: s[0], ("index", "scalar")),
    ("index-two-ellipses", lambda: T3[..., 0, ...], ("index", "'...'")),
    ("index-named-bounds", lambda: X[1:], ("index", "named dimension m", "only ':'")),
    ("index-named-step", lambda: X[::2, 0], ("index", "named dimension m")),
]


@pytest.mark.parametrize("build,fragments", [(b, f) for _, b, f in BUILD_ERRORS],
                         ids=[i for i, _, _ in BUILD_ERRORS])
def test_shape_errors_when_building(build, fragments):
    _raises(build, sd.ShapeError, *fragments)


def test_shape_error_is_a_value_error():
    assert issubclass(sd.ShapeError, ValueError)
    with pytest.raises(ValueError):
        A + v


def test_nothing_numpy_would_refuse_is_broadcast():
    # a name meets only itself or 1, even where the size might match
    assert broadcast_shapes([("m", 1), (1, 3)]) == ("m", 3)
    assert broadcast_shapes([("m", 3), (3,)]) == ("m", 3)
    assert broadcast_shapes([(), ("m",)]) == ("m",)
    for a, b in [(("m",), (3,)), (("m",), ("n",)), ((2,), (3,)), (("m", 2), (3, 1))]:
        with pytest.raises(sd.ShapeError):
            broadcast_shapes([a, b], "add")
    assert format_shape(("m", 64)) == "m x 64" and format_shape(()) == "scalar"


@pytest.mark.parametrize("shape,fragment", [
    ((-1, 2), "-1 is not a dimension"),
    ((2.5,), "2.5 is not a dimension"),
    ((True,), "True is not a dimension"),
    (("1m",), "'1m' is not an identifier"),
    ((None,), "None is not a dimension"),
    (3.0 + 1j, "must be a tuple"),
])
def test_bad_declared_shapes(shape, fragment):
    _raises(lambda: sd.tensor("Q", shape), sd.ShapeError, "tensor 'Q'", fragment)


def test_declared_shapes_accept_ints_names_and_numpy_ints():
    assert check_shape((np.int64(3), "m")) == (3, "m")
    assert check_shape(5) == (5,) and check_shape("m") == ("m",)
    assert sd.tensor("Q", [2, "k"]).shape == (2, "k")
    _raises(lambda: sd.tensor("1Q", (2,)), ValueError, "invalid symbol name")
    _raises(lambda: sd.tensor("exp", (2,)), ValueError, "reserved")
    _raises(lambda: sd.tensor("Q", (2,), dtype=complex), ValueError, "dtype must be float or int")


# ---------------------------------------------------------------------------
# integer label tensors


@pytest.mark.parametrize("build,op", [
    (lambda: y + 1.0, "add"),
    (lambda: 2.0 * y, "mul"),
    (lambda: sd.exp(y), "exp"),
    (lambda: sd.sum(y), "sum"),
    (lambda: sd.max(y), "reduce_max"),
    (lambda: y @ X, "matmul"),
    (lambda: sd.reshape(y, ("m", 1)), "reshape"),
    (lambda: y[0], "index"),
    (lambda: sd.broadcast_to(y, (2, "m")), "broadcast_to"),
    (lambda: sd.tensor("y", (2, 3), dtype=int).T, "transpose"),
], ids=["add", "mul", "exp", "sum", "max", "matmul", "reshape", "index", "broadcast",
        "transpose"])
def test_integer_tensors_are_refused_except_by_onehot(build, op):
    msg = _raises(build, TypeError, "'y'", "integer tensor", "onehot")
    assert msg.startswith(op + ":")


def test_onehot_needs_integer_labels_and_a_positive_k():
    _raises(lambda: sd.onehot(X, 3), sd.ShapeError, "onehot", "integer tensor")
    for k in (0, -1, 2.0, True):
        _raises(lambda k=k: sd.onehot(y, k), ValueError, "onehot", "k must be a positive int")


def test_differentiation_errors():
    _raises(lambda: sd.grad(sd.sum(sd.onehot(y, 3) * X), y), TypeError, "'y'",
            "integer tensor")
    _raises(lambda: sd.grad(A * A, A), ValueError, "grad needs a scalar f", "(3, 4)")
    _raises(lambda: sd.jacobian(A * A, A), ValueError, "jacobian", "(3, 4)")
    _raises(lambda: sd.hessian(sd.sum(A * A), A), ValueError, "hessian needs a vector")
    _raises(lambda: sd.hvp(sd.sum(A * A), A, np.ones(3)), ValueError, "hvp", "(3,)",
            "(3, 4)")
    _raises(lambda: sd.grad(sd.sum(A), sd.sum(A)), TypeError, "symbols")


# ---------------------------------------------------------------------------
# evaluating


def _labels_loss():
    return sd.sum(sd.onehot(y, 3) * X)


EVAL_ERRORS = [
    ("wrong-shape", lambda: sd.evaluate(sd.sum(X), {"X": np.ones((2, 4))}), sd.ShapeError,
     ("input X", "expected shape (m, 3)", "got (2, 4)", "axis 1: 4 != 3")),
    ("wrong-rank", lambda: sd.evaluate(sd.sum(X), {"X": np.ones(6)}), sd.ShapeError,
     ("input X", "(m, 3)", "2-dimensional", "got (6,)")),
    ("scalar-for-tensor", lambda: sd.evaluate(sd.sum(A), {"A": 1.0}), sd.ShapeError,
     ("input A", "(3, 4)", "got ()")),
    ("dims-conflict", lambda: sd.evaluate(_labels_loss(), {"X": np.ones((2, 3)),
                                                           "y": np.zeros(3, int)}),
     sd.ShapeError, ("input", "m = ", "but m = ", "from input")),
    ("dims-conflict-given", lambda: sd.evaluate(sd.sum(X), {"X": np.ones((2, 3))},
                                                dims={"m": 3}),
     sd.ShapeError, ("input X", "m = 2", "m = 3 from the given dims")),
    ("unknown-dimension", lambda: sd.evaluate(sd.sum(v) * sd.core.node.dim("n"),
                                              {"v": np.ones(3)}),
     sd.ShapeError, ("unknown dimension 'n'",)),
    ("unknown-dimension-broadcast", lambda: sd.evaluate(sd.broadcast_to(v, ("k", 3)),
                                                        {"v": np.ones(3)}),
     sd.ShapeError, ("unknown dimension 'k'",)),
    ("complex-values", lambda: sd.evaluate(sd.sum(A), {"A": np.ones((3, 4)) * 1j}),
     sd.ShapeError, ("input A", "float64", "complex128")),
    ("non-integer-labels", lambda: sd.evaluate(_labels_loss(), {"X": np.ones((2, 3)),
                                                                "y": np.array([0.5, 1.0])}),
     sd.ShapeError, ("input y", "integer labels", "float64")),
    ("nan-labels", lambda: sd.evaluate(_labels_loss(), {"X": np.ones((2, 3)),
                                                        "y": np.array([0.0, np.nan])}),
     sd.ShapeError, ("input y", "integer labels")),
    ("label-too-large", lambda: sd.evaluate(_labels_loss(), {"X": np.ones((2, 3)),
                                                             "y": np.array([0, 3])}),
     ValueError, ("onehot", "label 3", "0..2")),
    ("label-negative", lambda: sd.evaluate(_labels_loss(), {"X": np.ones((2, 3)),
                                                            "y": np.array([-1, 0])}),
     ValueError, ("onehot", "label -1", "0..2")),
    ("missing-input", lambda: sd.evaluate(sd.sum(X) + sd.sum(A), {"X": np.ones((2, 3))}),
     ValueError, ("no value given for A",)),
    ("same-name-two-shapes", lambda: sd.evaluate(sd.sum(sd.tensor("A", (2, 2))) + sd.sum(A),
                                                 {"A": np.ones((3, 4))}),
     ValueError, ("two different symbols are called 'A'", "(3, 4)", "(2, 2)")),
    ("interpreter", lambda: sd.Interpreter(sd.schedule([sd.sum(X)]))([np.ones((2, 4))]),
     sd.ShapeError, ("input X", "(m, 3)", "(2, 4)")),
    ("to_scalars-unbound", lambda: sd.to_scalars(sd.sum(X)), sd.ShapeError,
     ("unknown dimension 'm'",)),
    ("to_scalars-unbound-op", lambda: sd.to_scalars(sd.broadcast_to(v, ("k", 3))),
     sd.ShapeError, ("to_scalars", "unknown dimension 'k'")),
]


@pytest.mark.parametrize("run,exc,fragments", [(r, e, f) for _, r, e, f in EVAL_ERRORS],
                         ids=[i for i, *_ in EVAL_ERRORS])
def test_evaluation_errors(run, exc, fragments):
    _raises(run, exc, *fragments)


def test_integral_float_and_bool_labels_are_accepted():
    x = np.arange(6.0).reshape(2, 3)
    expected = x[0, 0] + x[1, 2]
    assert sd.evaluate(_labels_loss(), {"X": x, "y": np.array([0.0, 2.0])}) == expected
    assert sd.evaluate(_labels_loss(), {"X": x, "y": [0, 2]}) == expected
    assert sd.evaluate(_labels_loss(), {"X": x, "y": np.array([True, False])}) == x[0, 1] + x[1, 0]


def test_error_messages_show_shapes_as_tuples_of_names():
    # named dimensions print bare (m, 3), as in the examples
    msg = _raises(lambda: X @ A.T, sd.ShapeError)
    assert re.search(r"\(m, 3\)", msg) and "'m'" not in msg


def test_to_scalars_refuses_colliding_entry_names():
    a, b = sd.tensor("x1", (3,)), sd.tensor("x", (13,))
    with pytest.raises(ValueError, match="would both be called x10"):
        sd.to_scalars(sd.sum(a) + sd.sum(b))
