"""The mpmath reference: complete op coverage, IEEE-real edge cases, exact
piecewise conventions, and the worked examples against closed forms."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_specs import OP_SPECS, points

import symdiff as sd
from symdiff.core.ops import OPS
from symdiff.lab.models import corpus
from symdiff.numeric.reference import MP_OPS, max_rel_error, mp_evaluate, reference_gradient

x, y, z = sd.symbols("x y z")
mpf = mpmath.mpf


def test_every_op_has_an_mpmath_implementation():
    assert set(MP_OPS) == set(OPS)


def _same(got: float, want: float) -> bool:
    """Exactly equal, both NaN, or equal infinities."""
    return got == want or (math.isnan(got) and math.isnan(want))


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.name)
def test_mp_ops_and_numpy_agree_with_the_oracle_at_domain_points(spec):
    op = OPS[spec.name]
    for args in points(spec, n_random=17):
        with mpmath.workdps(30):
            mp_args = [mpf(a) for a in args]
            want = spec.mp(*mp_args)
            got = MP_OPS[spec.name](*mp_args)
            assert abs(got - want) <= mpf(10) ** -28 * max(1, abs(want)), (spec.name, args)
        with np.errstate(all="ignore"):
            np_val = float(op.numpy(*args))
        assert np_val == pytest.approx(float(want), rel=1e-14, abs=1e-300), (spec.name, args)


SPECIAL = [(s.name, args, want) for s in OP_SPECS for args, want in s.special]


@pytest.mark.parametrize("name, args, expected", SPECIAL,
                         ids=[f"{n}{a}" for n, a, _ in SPECIAL])
def test_ieee_real_special_values(name, args, expected):
    got = float(MP_OPS[name](*[mpf(a) for a in args]))
    assert _same(got, expected), got
    # The float64 op table agrees on every one of these.
    with np.errstate(all="ignore"):
        np_val = float(OPS[name].numpy(*args))
    assert _same(np_val, expected) or np_val == pytest.approx(expected, rel=1e-15), np_val


def test_lecture_example_value_and_gradient_closed_form():
    # y = e^{xz} + xz/ln x + sin(ln x)/(xz) at x=2, z=3 (the lecture's example).
    f = sd.exp(x * z) + x * z / sd.log(x) + sd.sin(sd.log(x)) / (x * z)
    v, (gx, gz) = reference_gradient(f, {"x": 2.0, "z": 3.0})
    with mpmath.workdps(40):
        l2 = mpmath.log(2)
        e6 = mpmath.exp(6)
        vx = e6 + 6 / l2 + mpmath.sin(l2) / 6
        dx = 3 * e6 + 3 / l2 - 3 / l2 ** 2 + mpmath.cos(l2) / 12 - mpmath.sin(l2) / 12
        dz = 2 * e6 + 2 / l2 - mpmath.sin(l2) / 18
        assert abs(v - vx) < mpf(10) ** -34 * abs(vx)
        assert abs(gx - dx) < mpf(10) ** -34 * abs(dx)
        assert abs(gz - dz) < mpf(10) ** -34 * abs(dz)
    assert isinstance(v, mpf) and isinstance(gx, mpf)
    assert float(gx) == pytest.approx(1208.3812151266096, rel=1e-15)
    assert float(gz) == pytest.approx(809.7074792185641, rel=1e-15)


def test_precision_is_honoured():
    f = sd.exp(sd.sin(x) * y) / (1 + x ** 2)
    p = {"x": 0.3, "y": 1.7}
    _, g40 = reference_gradient(f, p, dps=40)
    _, g80 = reference_gradient(f, p, dps=80)
    with mpmath.workdps(80):
        for a, b in zip(g40, g80):
            assert abs(a - b) <= mpf(10) ** -37 * abs(b)


def test_decimal_points_are_exact():
    # "0.1" is the decimal number, not the float nearest to it.
    with mpmath.workdps(40):
        (v,) = mp_evaluate([x * 10], {"x": "0.1"})
        assert v == 1
        (w,) = mp_evaluate([x * 10], {"x": 0.1})
        assert w != 1 and abs(w - 1) < mpf(10) ** -15


def test_inputs_order_and_unused_inputs():
    v, g = reference_gradient(x * y, [2.0, 3.0, 5.0], inputs=["y", "x", "z"])
    # d(xy)/dy = x = 3, d(xy)/dx = y = 2, z unused
    assert float(v) == 6.0 and [float(t) for t in g] == [3.0, 2.0, 0.0]


def test_nonsmooth_conventions_in_the_reference():
    # relu'(0) = 0, |x|'(0) = 0, ties of max split equally.
    _, g = reference_gradient(sd.relu(x) + sd.abs(y), {"x": 0.0, "y": 0.0})
    assert [float(t) for t in g] == [0.0, 0.0]
    _, g = reference_gradient(sd.max(x, y, z), {"x": 1.0, "y": 1.0, "z": 1.0})
    assert [float(t) for t in g] == pytest.approx([1 / 3] * 3, rel=1e-15)
    _, g = reference_gradient(sd.min(x, y), {"x": -2.0, "y": -2.0})
    assert [float(t) for t in g] == [0.5, 0.5]


@pytest.mark.parametrize("name, f, point", corpus(), ids=[c[0] for c in corpus()])
def test_symbolic_gradient_in_float64_matches_reference(name, f, point):
    names = list(point)
    g = sd.evaluate(sd.grad(f, names), point)
    _, ref = reference_gradient(f, point)
    assert max_rel_error(g, ref) <= 1e-12


def test_max_rel_error_is_normwise_and_nan_aware():
    assert max_rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert max_rel_error([1.0, 2.0 + 2e-10], [1.0, 2.0]) == pytest.approx(1e-10, rel=1e-6, abs=0)
    # normwise: a small component's absolute error is measured against the largest
    assert max_rel_error([1e-20, 4.0], [0.0, 4.0]) == pytest.approx(2.5e-21, rel=1e-12, abs=0)
    assert max_rel_error([math.nan, 1.0], [math.nan, 1.0]) == 0.0
    assert max_rel_error([math.nan, 1.0], [0.5, 1.0]) == math.inf
    assert max_rel_error([1.0, 1.0], [math.nan, 1.0]) == math.inf
    assert max_rel_error([math.inf], [math.inf]) == 0.0
    assert max_rel_error([math.inf], [-math.inf]) == math.inf
    assert max_rel_error([1e-310], [0.0]) == pytest.approx(1e-310 / 1e-300, rel=1e-12, abs=0)
    assert max_rel_error([mpf(1) / 3], [mpf(1) / 3]) == 0.0
    with pytest.raises(ValueError):
        max_rel_error([1.0], [1.0, 2.0])


@settings(max_examples=40, deadline=None)
@given(st.floats(-3, 3), st.floats(-3, 3))
def test_reference_matches_float64_evaluation(a, b):
    f = sd.sin(x * y) + sd.exp(x / 4) * sd.atan(y) - x ** 2 * y
    v, _ = reference_gradient(f, {"x": a, "y": b})
    fv = sd.evaluate(f, {"x": a, "y": b})
    assert float(v) == pytest.approx(fv, rel=1e-12, abs=1e-14)
