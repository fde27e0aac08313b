"""Finite differences: accuracy against the reference, step conventions, the
V-shaped error curve, and a central-difference check of every op's rule."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_specs import OP_SPECS, sample

import symdiff as sd
from symdiff.core.ops import OPS
from symdiff.lab.models import corpus
from symdiff.numeric.finite_diff import (
    EPS,
    central_difference,
    complex_function,
    complex_step,
    fd_error_sweep,
    forward_difference,
    graph_function,
    richardson,
)
from symdiff.numeric.namespaces import FLOAT, NUMPY, partials
from symdiff.numeric.reference import max_rel_error, reference_gradient

x, y, z = sd.symbols("x y z")
CORPUS = corpus()


@pytest.mark.parametrize("name, f, point", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_matches_reference(name, f, point):
    names = list(point)
    xv = np.array([point[n] for n in names])
    _, ref = reference_gradient(f, point)
    fn = graph_function(f, names)
    assert max_rel_error(forward_difference(fn, xv).gradient, ref) <= 1e-5
    assert max_rel_error(central_difference(fn, xv).gradient, ref) <= 1e-6
    assert max_rel_error(richardson(fn, xv).gradient, ref) <= 1e-9
    uses_non_analytic = any(not OPS[ins.op].complex_ok for ins in fn.program.instrs
                            if ins.op in OPS)
    if uses_non_analytic:
        with pytest.raises(ValueError, match="complex_ok"):
            complex_function(f, names)
    else:
        cs = complex_step(complex_function(f, names), xv)
        assert max_rel_error(cs.gradient, ref) <= 1e-13


def test_lecture_example_all_methods(lecture):
    f, exact = lecture.f, lecture.gradient
    fn = graph_function(f)
    assert fn.inputs == ("x", "z")
    p = [2.0, 3.0]
    assert central_difference(fn, p).gradient == pytest.approx(exact, rel=1e-9)
    assert forward_difference(fn, p).gradient == pytest.approx(exact, rel=1e-6)
    assert richardson(fn, p).gradient == pytest.approx(exact, rel=1e-12)
    assert complex_step(complex_function(f), p).gradient == pytest.approx(exact, rel=1e-15)


def test_steps_are_scaled_and_exactly_representable():
    fn = graph_function(sd.sin(x) * y + z ** 2)
    p = np.array([3.7e5, 0.1, -2.5e-3])
    r = forward_difference(fn, p)
    expected = math.sqrt(EPS) * np.maximum(np.abs(p), 1.0)
    assert r.step == pytest.approx(expected, rel=1e-6)
    assert np.all((p + r.step) - p == r.step)        # the step actually taken
    assert r.evaluations == 4
    r = central_difference(fn, p)
    assert r.step == pytest.approx(EPS ** (1 / 3) * np.maximum(np.abs(p), 1.0), rel=1e-6)
    assert np.all((p + r.step) - p == r.step)
    assert r.evaluations == 6
    r = complex_step(complex_function(sd.sin(x) * y + z ** 2), p)
    assert r.step == 1e-200 and r.evaluations == 3
    r = richardson(fn, p, levels=5)
    assert r.evaluations == 2 * 3 * 5 and r.step.shape == (5, 3)
    assert np.all(r.step[1:] * 2 == r.step[:-1])     # exact halving
    assert r.error_estimate.shape == (3,) and np.all(r.error_estimate < 1e-6)
    # user steps are absolute, scalar or per coordinate
    r = central_difference(fn, p, h=1e-4)
    assert r.step == pytest.approx([1e-4] * 3, rel=1e-6)
    with pytest.raises(ValueError):
        central_difference(fn, p, h=-1.0)
    with pytest.raises(ValueError):
        richardson(fn, p, levels=0)


def test_error_sweep_is_v_shaped_for_differences_and_flat_for_complex_step(lecture):
    f, p = lecture.f, lecture.point
    steps = 10.0 ** -np.arange(1, 15)
    for method, best in (("forward", 1e-8), ("central", 1e-5)):
        s = fd_error_sweep(f, p, "x", steps, method=method)
        assert s.exact == pytest.approx(lecture.gradient[0], rel=1e-14)
        k = int(np.argmin(s.relative_errors))
        assert 0 < k < len(steps) - 1                      # minimum inside
        assert steps[k] == pytest.approx(best, rel=10)     # near sqrt/cbrt(eps) (x 10^+-1)
        assert s.relative_errors[0] > 100 * s.relative_errors[k]   # truncation side
        assert s.relative_errors[-1] > 100 * s.relative_errors[k]  # rounding side
        # truncation error falls as h (forward) or h^2 (central) on the right
        order = 1 if method == "forward" else 2
        assert s.relative_errors[0] / s.relative_errors[1] == pytest.approx(10 ** order, rel=0.2)
    s = fd_error_sweep(f, p, "x", steps[7:], method="complex")    # h <= 1e-8
    assert np.all(s.relative_errors <= 1e-15)              # no cancellation: flat
    with pytest.raises(ValueError):
        fd_error_sweep(f, p, "q", steps)
    with pytest.raises(ValueError):
        fd_error_sweep(f, p, "x", steps, method="backward")


def test_complex_function_names_the_offending_op():
    with pytest.raises(ValueError, match="relu"):
        complex_function(sd.relu(x) * y)
    with pytest.raises(ValueError, match="max"):
        complex_function(sd.max(x, y) + sd.sin(x))
    fn = complex_function(sd.exp(x) * y)
    assert fn([1.0, 2.0]) == pytest.approx(2 * math.e)


# ---------------------------------------------------------------------------
# every op's derivative rule against central differences

@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.name)
def test_every_op_rule_passes_central_differences(spec, rng):
    op = OPS[spec.name]

    def fn(v):
        with np.errstate(all="ignore"):
            return float(op.numpy(*v))

    for _ in range(10):
        args = list(sample(spec, rng, margin=0.05))   # off kinks and ties
        fd = central_difference(fn, args).gradient
        rule = [float(p) for p in partials(spec.name, args)]
        assert rule == pytest.approx(list(fd), rel=1e-6, abs=1e-7), (spec.name, args)
        # the vectorized (numpy) namespace computes the same numbers
        assert [float(p) for p in partials(spec.name, args, NUMPY)] == pytest.approx(rule,
                                                                                    rel=1e-15)


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.name)
def test_every_op_rule_in_a_random_direction(spec, rng):
    # JAX's check: one central difference along a random direction.
    op = OPS[spec.name]
    args = np.array(sample(spec, rng, margin=0.05))
    d = rng.normal(size=len(args))
    d /= np.linalg.norm(d)

    def along(t):
        with np.errstate(all="ignore"):
            return float(op.numpy(*(args + t[0] * d)))

    fd = central_difference(along, [0.0], h=1e-5).gradient[0]
    exact = float(np.dot([float(p) for p in partials(spec.name, list(args))], d))
    assert exact == pytest.approx(fd, rel=1e-6, abs=1e-7), spec.name


def test_nonsmooth_conventions_of_the_rules():
    assert partials("relu", [0.0]) == [0.0]
    assert partials("abs", [0.0]) == [0.0]
    assert partials("step", [0.0]) == [0.0] and partials("sign", [1.0]) == [0.0]
    assert partials("max", [1.0, 1.0]) == [0.5, 0.5]
    assert partials("max", [2.0, 2.0, 2.0]) == pytest.approx([1 / 3] * 3, rel=1e-15)
    assert partials("min", [1.0, 3.0, 1.0]) == [0.5, 0.0, 0.5]
    assert partials("eq", [1.0, 1.0]) == [0.0, 0.0]
    assert partials("relu", [2.0]) == [1.0] and partials("abs", [-2.0]) == [-1.0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=3, max_size=3),
       st.lists(st.floats(-3, 3), min_size=3, max_size=3))
def test_central_differences_exact_on_quadratics(p, c):
    # f = sum c_i x_i^2 + x0 x1: third derivatives vanish, so only rounding
    # is left.
    def fn(v):
        return float(c[0] * v[0] ** 2 + c[1] * v[1] ** 2 + c[2] * v[2] ** 2 + v[0] * v[1])

    g = central_difference(fn, p).gradient
    exact = [2 * c[0] * p[0] + p[1], 2 * c[1] * p[1] + p[0], 2 * c[2] * p[2]]
    scale = (abs(fn(np.array(p))) + 1) / (EPS ** (1 / 3) * max(max(map(abs, p)), 1.0))
    assert g == pytest.approx(exact, abs=1e-9 * scale + 1e-12)


def test_float_namespace_matches_numpy_bit_for_bit():
    rng = np.random.default_rng(3)
    for _ in range(200):
        a, b = rng.normal(size=2) * 10.0 ** rng.integers(-5, 5, size=2)
        for name in ("add", "sub", "mul", "div"):
            assert getattr(FLOAT, name)(float(a), float(b)) == OPS[name].numpy(a, b)
    assert FLOAT.div(1.0, 0.0) == math.inf and math.isnan(FLOAT.div(0.0, 0.0))
    assert FLOAT.constant_value(2.0) is None and FLOAT.const(2) == 2.0
