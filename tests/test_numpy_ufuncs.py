"""numpy ufuncs on symdiff expressions (Node.__array_ufunc__): numpy-style
model code builds symbolic expressions; numpy scalars and 0-d arrays mixed
in give nodes; unsupported ufuncs fail naming the ufunc."""

from __future__ import annotations

import math

import numpy as np
import pytest

import symdiff as sd
from symdiff.core.ufuncs import UFUNC_OPS

x, y = sd.symbols("x y")
V = sd.tensor("V", (3,))

UNARY = [
    (np.exp, sd.exp), (np.log, sd.log), (np.log1p, sd.log1p), (np.expm1, sd.expm1),
    (np.sqrt, sd.sqrt), (np.sin, sd.sin), (np.cos, sd.cos), (np.tan, sd.tan),
    (np.arcsin, sd.asin), (np.arccos, sd.acos), (np.arctan, sd.atan), (np.sinh, sd.sinh),
    (np.cosh, sd.cosh), (np.tanh, sd.tanh), (np.absolute, sd.abs), (np.fabs, sd.abs),
    (np.sign, sd.sign), (np.negative, lambda a: -a), (np.positive, lambda a: a),
    (np.square, lambda a: a ** 2), (np.reciprocal, lambda a: 1 / a),
]
BINARY = [
    (np.add, lambda a, b: a + b), (np.subtract, lambda a, b: a - b),
    (np.multiply, lambda a, b: a * b), (np.divide, lambda a, b: a / b),
    (np.power, lambda a, b: a ** b), (np.maximum, sd.max), (np.minimum, sd.min),
    (np.fmax, sd.max), (np.fmin, sd.min),
]


@pytest.mark.parametrize("ufunc, builder", UNARY, ids=lambda u: getattr(u, "__name__", ""))
def test_unary_ufuncs_build_the_same_node(ufunc, builder):
    assert ufunc(x) is builder(x)
    assert ufunc(V) is builder(V)


@pytest.mark.parametrize("ufunc, builder", BINARY, ids=lambda u: getattr(u, "__name__", ""))
def test_binary_ufuncs_build_the_same_node(ufunc, builder):
    assert ufunc(x, y) is builder(x, y)
    assert ufunc(x, 2.0) is builder(x, 2.0)
    assert ufunc(np.float64(2.0), x) is builder(2.0, x)
    assert ufunc(V, 2.0) is builder(V, 2.0)


def test_numpy_scalars_and_zero_d_arrays_give_nodes():
    """Regression: np.float64(2.0) * x and np.array(2.0) + x must be nodes,
    not object arrays."""
    for two in (np.float64(2.0), np.array(2.0), np.float32(2.0), np.int64(2)):
        assert two * x is 2 * x
        assert two + x is 2 + x
        assert x - two is x - 2
        assert two * V is 2 * V
        assert two + V is 2 + V
    assert np.array(2.0) / x is 2 / x


def test_numeric_arrays_keep_their_meaning():
    # with a tensor: a constant tensor; with a scalar: entry by entry
    c = np.array([1.0, 2.0, 3.0])
    e = c * V
    assert isinstance(e, sd.Node) and e.shape == (3,)
    assert sd.evaluate(e, {"V": np.ones(3)}).tolist() == [1.0, 2.0, 3.0]
    objs = np.array([1.0, 2.0]) * x
    assert objs.dtype == object and objs[1] is 2 * x


def test_object_arrays_of_nodes():
    """Regression: np.exp on an object array of nodes called node.exp(),
    which did not exist."""
    arr = np.array([x, y], dtype=object)
    out = np.exp(arr)
    assert out.dtype == object and out[0] is sd.exp(x) and out[1] is sd.exp(y)
    assert np.arcsin(arr)[1] is sd.asin(y)
    assert np.tanh(arr * 2)[0] is sd.tanh(2 * x)
    assert np.sqrt(arr)[0] is sd.sqrt(x)
    assert sd.exp(arr)[0] is sd.exp(x)          # symdiff's own, unchanged


def test_abs_builtin():
    """Regression: abs(x) raised 'bad operand type for abs()'."""
    assert abs(x) is sd.abs(x)
    assert abs(V) is sd.abs(V)
    assert sd.evaluate(abs(x - 3), {"x": 1.0}) == 2.0


def test_numpy_style_model_code_differentiates():
    def model(w, b, t):            # written for numpy arrays
        return np.tanh(w * t + b) + np.log1p(np.exp(-np.square(t)))

    w, b, t = sd.symbols("w b t")
    f = model(w, b, t)
    g = sd.grad(f, [w, b])
    at = {"w": 0.3, "b": -0.2, "t": 1.5}
    assert sd.evaluate(f, at) == pytest.approx(model(0.3, -0.2, 1.5), rel=1e-15)
    sech2 = 1 - math.tanh(0.3 * 1.5 - 0.2) ** 2
    assert sd.evaluate(g, at) == pytest.approx([1.5 * sech2, sech2], rel=1e-14)


def test_comparisons_are_identity_as_before():
    assert (np.float64(1.0) == x) is False
    assert (np.float64(1.0) != x) is True
    assert (np.array([1.0, 2.0]) == x).tolist() == [False, False]
    with pytest.raises(TypeError, match="no order"):
        np.less(np.float64(1.0), x)


@pytest.mark.parametrize("call, message", [
    (lambda: np.gcd(x, 2), "ufunc 'gcd' has no symdiff equivalent"),
    (lambda: np.arctan2(x, y), "ufunc 'arctan2' has no symdiff equivalent"),
    (lambda: np.add.accumulate(x), "add.accumulate is not supported"),
    (lambda: np.add.reduce(x), "use sd.sum"),
    (lambda: np.exp(x, out=np.empty(())), "keyword argument"),
])
def test_unsupported_ufuncs_fail_with_a_clear_message(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_every_mapped_ufunc_exists_and_its_op_too():
    from symdiff.core.ops import ALL_OPS

    for name, op in UFUNC_OPS.items():
        assert isinstance(getattr(np, name), np.ufunc), name
        assert op in ALL_OPS, op


def test_object_arrays_use_sd_max_min_sign_and_the_list_names_hypot():
    from symdiff.core.ufuncs import supported_names

    assert "hypot" in supported_names() and "exp" in supported_names()
    p, q = sd.symbols("p q")
    arr = np.array([p, q], dtype=object)
    assert [sd.to_string(e) for e in sd.max(arr, 1.0)] == ["max(1, p)", "max(1, q)"]
    assert [sd.to_string(e) for e in sd.sign(arr)] == ["sign(p)", "sign(q)"]
    assert [sd.to_string(e) for e in np.exp(arr)] == ["exp(p)", "exp(q)"]
