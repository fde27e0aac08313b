"""Forward mode: dual numbers over the schedule, with the op table's rules."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_specs import OP_SPECS, points

import symdiff as sd
from symdiff.lab.models import corpus
from symdiff.numeric.forward import (
    forward_gradient,
    forward_gradient_vectorized,
    forward_jacobian,
    forward_op_count,
    jvp,
)
from symdiff.numeric.reference import max_rel_error, reference_gradient
from symdiff.numeric.reverse import reverse_gradient, reverse_op_count, vjp

x, y, z = sd.symbols("x y z")
CORPUS = corpus()


@pytest.mark.parametrize("name, f, point", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_matches_reference(name, f, point):
    v, ref = reference_gradient(f, point)
    value, g = forward_gradient(f, point)
    assert max_rel_error(g, ref) <= 1e-12
    assert value == pytest.approx(float(v), rel=1e-14)
    value_v, gv = forward_gradient_vectorized(f, point)
    assert max_rel_error(gv, ref) <= 1e-12
    assert value_v == value


def test_lecture_example_closed_form(lecture):
    f, point = lecture.f, lecture.point
    for vec in (False, True):
        _, g = forward_gradient(f, point, vectorized=vec)
        assert g == pytest.approx(lecture.gradient, rel=1e-14)
    # one pass = one directional derivative: d/dz alone
    (val,), (t,) = jvp(f, point, {"x": 0.0, "z": 1.0})
    assert t == pytest.approx(lecture.gradient[1], rel=1e-14)
    assert val == pytest.approx(lecture.value, rel=1e-14)


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.name)
def test_every_op_forward_reverse_and_symbolic_agree(spec):
    # The three evaluators of each op's rule, at the spec's points off kinks.
    syms = [x, y, z][:spec.nargs]
    f = sd.function(spec.name)(*syms)
    symbolic = sd.grad(f, syms)
    for pt in points(spec, margin=0.0):
        value, g = forward_gradient(f, list(pt))
        value_r, r = reverse_gradient(f, list(pt))
        want = sd.evaluate(symbolic, list(pt), inputs=syms)
        assert value == value_r
        assert list(g) == pytest.approx(want, rel=1e-15, abs=1e-300), (spec.name, pt)
        assert list(r) == pytest.approx(want, rel=1e-15, abs=1e-300), (spec.name, pt)


def test_jvp_is_directional_derivative_and_accepts_many_directions():
    f = sd.sin(x * y) * sd.exp(z) + x ** 2 / (1 + y ** 2)
    p = [0.4, -1.2, 0.3]
    _, g = forward_gradient(f, p)
    v = np.array([0.5, -2.0, 1.5])
    (_,), (t,) = jvp(f, p, v)
    assert t == pytest.approx(g @ v, rel=1e-14)
    # a (3, k) block of directions in one pass
    V = np.random.default_rng(1).normal(size=(3, 4))
    (_,), (T,) = jvp(f, p, list(V))
    assert T.shape == (4,)
    assert T == pytest.approx(g @ V, rel=1e-13)


def test_forward_jacobian_matches_symbolic():
    outs = [x * y * z, sd.tanh(x - z), sd.log(1 + y ** 2) * x]
    p = {"x": 0.7, "y": -0.3, "z": 1.1}
    values, J = forward_jacobian(outs, p)
    Js = np.array([sd.evaluate(row, p) for row in sd.jacobian(outs, [x, y, z])])
    assert values == pytest.approx(sd.evaluate(outs, p), rel=1e-15)
    assert J == pytest.approx(Js, rel=1e-14, abs=1e-300)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=3, max_size=3),
       st.lists(st.floats(-2, 2), min_size=3, max_size=3),
       st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_dot_product_identity(p, u, v):
    # <u, J v> (one forward pass) == <J^T u, v> (one reverse pass)
    outs = [x * sd.exp(y) - z, sd.sin(x + y * z), sd.sqrt(1 + x ** 2) * sd.atan(z)]
    (_, tv) = jvp(outs, p, v)
    (_, w) = vjp(outs, p, u)
    lhs = float(np.dot(u, tv))
    rhs = float(np.dot(w, v))
    # |J| <= 10 entrywise here; 1-norms do not underflow for tiny u, v
    scale = np.abs(u).sum() * np.abs(v).sum() * 10 + 1e-300
    assert abs(lhs - rhs) <= 1e-13 * scale


def test_outputs_independent_of_inputs_and_unused_inputs():
    (vals, tans) = jvp([x * 2, sd.const(3.0)], {"x": 1.0, "y": 5.0}, [1.0, 1.0])
    assert vals == [2.0, 3.0] and tans == [2.0, 0.0]
    _, g = forward_gradient(x * x, [3.0, 1.0], inputs=["x", "y"])
    assert list(g) == [6.0, 0.0]
    _, g = forward_gradient(x * x, [3.0, 1.0], inputs=["x", "y"], vectorized=True)
    assert list(g) == [6.0, 0.0]
    with pytest.raises(ValueError):
        forward_gradient([x, y], [1.0, 2.0])
    with pytest.raises(ValueError):
        jvp(x * y, [1.0, 2.0], [1.0])


def test_constant_exponent_of_negative_base():
    # The exponent is a constant: no tangent, so log(-2) * out is never formed.
    _, g = forward_gradient(x ** 3, [-2.0])
    assert list(g) == [12.0]
    # With a variable exponent the exponent partial is genuinely NaN, in
    # forward and reverse mode alike.
    _, g = forward_gradient(x ** y, {"x": -2.0, "y": 2.0})
    _, r = vjp(x ** y, {"x": -2.0, "y": 2.0}, 1.0)
    assert g[0] == r[0] == -4.0 and math.isnan(g[1]) and math.isnan(r[1])


def test_nonsmooth_conventions():
    _, g = forward_gradient(sd.relu(x) + sd.abs(y), {"x": 0.0, "y": 0.0})
    assert list(g) == [0.0, 0.0]
    for vec in (False, True):
        _, g = forward_gradient(sd.max(x, y, z), [1.0, 1.0, 1.0], vectorized=vec)
        assert g == pytest.approx([1 / 3] * 3, rel=1e-15)
        _, g = forward_gradient(sd.min(x, y), [2.0, 2.0], vectorized=vec)
        assert list(g) == [0.5, 0.5]
        _, g = forward_gradient(sd.max(x, y), [2.0, 1.0], vectorized=vec)
        assert list(g) == [1.0, 0.0]


def test_deep_chain_at_default_recursion_limit(default_recursion_limit):
    f = x
    for _ in range(5_000):
        f = sd.tanh(f) * 1.01 + 0.001 * y
    with default_recursion_limit():
        _, g = forward_gradient(f, [0.2, 0.1], vectorized=True)
        _, r = vjp(f, [0.2, 0.1], 1.0)
    assert g == pytest.approx(r, rel=1e-12)


def test_op_counts_grow_as_n_times_f_for_forward_and_c_times_f_for_reverse():
    rows = []
    for n in (10, 100, 300):
        f = sd.prod(sd.symbols(f"x0:{n}"))
        size = sd.count_ops(f)
        assert size == n - 1
        rows.append((n, forward_op_count(f) / size, reverse_op_count(f) / size))
    for n, fwd, rev in rows:
        # n passes, each re-evaluating f (n*|f|) plus the tangent updates
        # along one root-to-leaf path of the balanced product (3 log2 n)
        assert n <= fwd <= n + 3 * math.ceil(math.log2(n)) + 1
        assert rev == 3.0
    # linear growth: 10x the inputs, about 10x the work per operation of f
    assert rows[1][1] / rows[0][1] == pytest.approx(100 / 10, rel=0.25)
    assert rows[2][1] / rows[1][1] == pytest.approx(300 / 100, rel=0.1)


def test_vectorized_op_count_and_partial_passes():
    for n in (10, 100, 1000):
        f = sd.prod(sd.symbols(f"x0:{n}"))
        size = sd.count_ops(f)
        # one evaluation plus three n-wide tangent operations per product
        assert forward_op_count(f, vectorized=True) == size + 3 * n * size
    f = sd.sum([sd.sin(s) * s for s in sd.symbols("x0:40")])
    counts = [forward_op_count(f, n_inputs=k) for k in (0, 10, 20, 40)]
    size = sd.count_ops(f)
    assert counts[0] == size                  # no direction: one evaluation
    # each pass: one evaluation of f + 5 tangent operations (sin' = cos, two
    # products and their sum); exactly linear in the number of passes
    assert counts[1] == 10 * (size + 5)
    assert counts[2] == 2 * counts[1] and counts[3] == 4 * counts[1]
    with pytest.raises(ValueError):
        forward_op_count(f, n_inputs=41)


def test_op_counts_do_not_accumulate_dual_namespaces():
    # Each forward_op_count wraps a fresh CountingNamespace, whose dual
    # namespace must be collected with it rather than cached for good.
    import gc

    from symdiff.core.program import schedule
    from symdiff.numeric.forward import DualNamespace

    f = sd.sin(x * y) + x / y

    def live_duals():
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, DualNamespace))

    expected = forward_op_count(f)
    before = live_duals()
    for _ in range(50):
        assert forward_op_count(f) == expected
    assert live_duals() == before
    # A scheduled program counts the same, without rescheduling f.
    assert forward_op_count(schedule([f])) == expected
    assert reverse_op_count(schedule([f])) == reverse_op_count(f)
