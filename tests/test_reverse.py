"""Reverse mode: the Scalar tape (lectures' ag.Scalar, micrograd's Value) and
the program-level adjoint sweep."""

import math
import re

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_specs import OP_SPECS, points

import symdiff as sd
from symdiff.lab.models import corpus
from symdiff.numeric.reference import max_rel_error, reference_gradient
from symdiff.numeric.reverse import (
    Scalar,
    Value,
    build_tape,
    reverse_gradient,
    reverse_op_count,
    vjp,
    zero_grad,
)

x, y, z = sd.symbols("x y z")
CORPUS = corpus()


def test_lazy_exports():
    assert sd.Scalar is Scalar and sd.Value is Scalar and Value is Scalar


def test_micrograd_readme_example():
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b ** 3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert g.data == pytest.approx(24.7041, abs=1e-4)
    assert a.grad == pytest.approx(138.8338, abs=1e-4)
    assert b.grad == pytest.approx(645.5773, abs=1e-4)
    # micrograd's own arithmetic gives these to the last digits shown
    assert g.data == pytest.approx(24.70408163265306, rel=1e-14)
    assert a.grad == pytest.approx(138.83381924198252, rel=1e-14)
    assert b.grad == pytest.approx(645.5772594752186, rel=1e-14)


def test_fields_and_micrograd_aliases():
    a = Scalar(2.0, label="a")
    b = Value(3.0)
    c = a * b
    assert (c.value, c.data, c.op, c._op) == (6.0, 6.0, "mul", "mul")
    assert c.inputs == (a, b) and c._prev == {a, b}
    assert a.inputs == () and a.op == "" and a.label == "a"
    assert callable(c._backward) and callable(a._backward)
    c.data = 7.0
    assert c.value == 7.0
    # micrograd's constructor spelling
    d = Value(1.5, _children=(a,), _op="exp")
    assert d.inputs == (a,) and d.op == "exp"
    # numbers become constants, on either side
    e = 2 - a
    assert e.value == 0.0 and e.inputs[0].op == "const" and e.inputs[0].value == 2.0
    assert repr(a).startswith("Scalar(value=2.0")


def test_number_on_either_side():
    a = Scalar(3.0)
    cases = [(a + 2, 5.0, 1.0), (2 + a, 5.0, 1.0), (a - 2, 1.0, 1.0), (2 - a, -1.0, -1.0),
             (a * 2, 6.0, 2.0), (2 * a, 6.0, 2.0), (a / 2, 1.5, 0.5), (6 / a, 2.0, -6 / 9),
             (a ** 2, 9.0, 6.0), (2 ** a, 8.0, 8 * math.log(2)), (-a, -3.0, -1.0),
             (+a, 3.0, 1.0), (abs(-a), 3.0, 1.0), (a ** 0.5, math.sqrt(3), 0.5 / math.sqrt(3))]
    for expr, value, grad in cases:
        a.grad = 0.0
        expr.backward()
        assert expr.value == pytest.approx(value, rel=1e-15)
        assert a.grad == pytest.approx(grad, rel=1e-15)
    with pytest.raises(TypeError):
        a + "1"
    with pytest.raises(TypeError):
        Scalar.apply("add", a, [1.0])
    with pytest.raises(ValueError):
        Scalar.apply("frobnicate", a)
    with pytest.raises(TypeError):
        Scalar.apply("sin", a, a)


def test_negative_base_with_constant_exponent_has_finite_gradient():
    # Constants get no adjoint, so pow's exponent partial log(-2)*out (NaN)
    # is never computed.
    a = Scalar(-2.0)
    (a ** 3).backward()
    assert a.grad == 12.0


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.name)
def test_every_op_is_a_method_and_applies(spec):
    name = spec.name
    assert hasattr(Scalar, name), name
    for pt in points(spec):
        args = [Scalar(v) for v in pt]
        out = getattr(args[0], name)(*args[1:])
        ref = Scalar.apply(name, *args)
        with mpmath.workdps(30):
            expected = float(spec.mp(*(mpmath.mpf(v) for v in pt)))
        assert out.value == ref.value
        assert out.value == pytest.approx(expected, rel=1e-14, abs=1e-300), (name, pt)
        assert out.op == name


def test_method_gradients_match_the_reference():
    # relu tanh exp log sigmoid sin cos sqrt and friends through the tape.
    a0, b0 = 0.7, 1.3
    a, b = Scalar(a0), Scalar(b0)
    out = ((a * b).tanh() + a.exp() * b.log() - (a - b).relu() + (b - a).relu()
           + a.sigmoid().sin() * b.cos() + (a + b).sqrt() + a.softplus() / b.cosh()
           + a.asin() + b.atan() + a.log1p() - b.expm1() + a.sinh() + (a / 2).tan())
    out.backward()
    f = (sd.tanh(x * y) + sd.exp(x) * sd.log(y) - sd.relu(x - y) + sd.relu(y - x)
         + sd.sin(sd.sigmoid(x)) * sd.cos(y) + sd.sqrt(x + y) + sd.softplus(x) / sd.cosh(y)
         + sd.asin(x) + sd.atan(y) + sd.log1p(x) - sd.expm1(y) + sd.sinh(x) + sd.tan(x / 2))
    v, g = reference_gradient(f, {"x": a0, "y": b0})
    assert out.value == pytest.approx(float(v), rel=1e-14)
    assert max_rel_error([a.grad, b.grad], g) <= 1e-13


def test_lecture_running_example_hand_computed():
    # f(x, y) = log(1 + e^{-(x+y)}) (x + y) at x = 1, y = 2 (s = 3):
    # df/dx = df/dy = log(1 + e^{-s}) - s / (1 + e^{s}).
    xs, ys = Scalar(1.0, label="x"), Scalar(2.0, label="y")
    s = xs + ys
    f = (1 + (-s).exp()).log() * s
    f.backward()
    assert f.value == pytest.approx(0.145762054721226176, rel=1e-15)
    assert xs.grad == pytest.approx(-0.0936902679589582839, rel=1e-14)
    assert ys.grad == pytest.approx(-0.0936902679589582839, rel=1e-14)
    assert xs.grad == pytest.approx(math.log1p(math.exp(-3)) - 3 / (1 + math.exp(3)), rel=1e-14)


def test_lecture_reverse_mode_example_with_intermediates(lecture):
    # y = e^{xz} + xz/ln x + sin(ln x)/(xz) at x = 2, z = 3, with the
    # lecture's intermediate quantities a .. f.
    X, Z = Scalar(2.0, label="x"), Scalar(3.0, label="z")
    a = X * Z
    b = X.log()
    c = b.sin()
    d = a.exp()
    e = a / b
    f = c / a
    Y = d + e + f
    Y.backward()
    l2 = math.log(2)
    e6 = math.exp(6)
    assert Y.grad == d.grad == e.grad == f.grad == 1.0
    assert c.grad == pytest.approx(1 / 6, rel=1e-15)
    assert a.grad == pytest.approx(e6 + 1 / l2 - math.sin(l2) / 36, rel=1e-14)
    assert b.grad == pytest.approx(-6 / l2 ** 2 + math.cos(l2) / 6, rel=1e-14)
    assert [X.grad, Z.grad] == pytest.approx(lecture.gradient, rel=1e-14)
    # Same numbers when the tape is driven from the symbolic DAG.
    value, g = reverse_gradient(lecture.f, lecture.point)
    assert value == pytest.approx(Y.value, rel=1e-15)
    assert g == pytest.approx(lecture.gradient, rel=1e-14)


def test_backward_twice_doubles_and_zero_grad_resets():
    a, b = Scalar(1.5), Scalar(-0.5)
    out = (a * b + a.sin()) * b
    out.backward()
    ga, gb = a.grad, b.grad
    mid = out.inputs[0]
    g_mid = mid.grad
    out.backward()
    assert (a.grad, b.grad) == (2 * ga, 2 * gb)
    assert mid.grad == g_mid            # interior adjoints are this sweep's
    out.zero_grad()
    assert a.grad == b.grad == mid.grad == out.grad == 0.0
    out.backward()
    assert (a.grad, b.grad) == (ga, gb)
    zero_grad(out)
    assert a.grad == 0.0


def test_custom_backward_like_micrograd():
    a = Scalar(3.0)
    out = Scalar(a.value ** 2, (a,), "square")

    def _backward():
        a.grad += 2 * a.value * out.grad

    out._backward = _backward
    (out * 2).backward()
    assert a.grad == 12.0


@pytest.mark.slow
def test_long_chain_at_default_recursion_limit(default_recursion_limit):
    with default_recursion_limit():
        # 2 * 50_000 operations in a chain: depth 10^5
        n, r = 50_000, 0.99999
        xs = Scalar(0.5, label="x")
        yv = xs
        for _ in range(n):
            yv = yv * r + xs
        yv.backward()
        # y_n = r^n x + x (1 - r^n) / (1 - r): dy/dx in closed form
        rn = r ** n
        assert xs.grad == pytest.approx(rn + (1 - rn) / (1 - r), rel=1e-9)
        assert sum(1 for s in yv.topo() if s.inputs) == 2 * n
        yv.zero_grad()
        assert xs.grad == 0.0
        del yv                            # freeing a deep tape must not recurse


def test_deep_dag_through_the_tape_and_sweep(default_recursion_limit):
    f = x
    for _ in range(10_000):             # depth 2 * 10^4
        f = sd.sin(f) + 0.01 * y
    p = {"x": 0.3, "y": 0.2}
    with default_recursion_limit():
        v1, g1 = reverse_gradient(f, p)
        (v2,), g2 = vjp(f, p, 1.0)
    assert v1 == v2
    assert g1 == pytest.approx(g2, rel=1e-12)


def test_nonsmooth_conventions_on_the_tape():
    a = Scalar(0.0)
    a.relu().backward()
    assert a.grad == 0.0                       # relu'(0) = 0
    a.grad = 0.0
    abs(a).backward()
    assert a.grad == 0.0                       # |x|'(0) = 0
    a = Scalar(2.0)
    a.max(a).backward()
    assert a.grad == 1.0                       # max(x, x): 0.5 + 0.5
    a, b = Scalar(2.0), Scalar(2.0)
    a.max(b).backward()
    assert (a.grad, b.grad) == (0.5, 0.5)      # tie splits 0.5 / 0.5
    a, b, c = Scalar(1.0), Scalar(1.0), Scalar(1.0)
    Scalar.apply("max", a, b, c).backward()
    assert a.grad == b.grad == c.grad == pytest.approx(1 / 3, rel=1e-15)
    a, b, c = Scalar(1.0), Scalar(-1.0), Scalar(1.0)
    Scalar.apply("min", a, b, c).backward()
    assert (a.grad, b.grad, c.grad) == (0.0, 1.0, 0.0)
    # the same conventions when driven from the DAG
    _, g = reverse_gradient(sd.max(x, y, z), {"x": 1.0, "y": 1.0, "z": 1.0})
    assert g == pytest.approx([1 / 3] * 3, rel=1e-15)
    _, g = reverse_gradient(sd.relu(x) + sd.abs(y), {"x": 0.0, "y": 0.0})
    assert list(g) == [0.0, 0.0]


@pytest.mark.parametrize("name, f, point", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_matches_reference(name, f, point):
    _, ref = reference_gradient(f, point)
    value, g = reverse_gradient(f, point)
    assert max_rel_error(g, ref) <= 1e-12
    (v2,), g2 = vjp(f, point, 1.0)
    assert max_rel_error(g2, ref) <= 1e-12
    assert v2 == pytest.approx(value, rel=1e-15)


def test_vjp_of_several_outputs_is_u_transpose_jacobian():
    outs = [x * y * z, sd.sin(x) + z ** 2, sd.exp(y - z)]
    p = {"x": 0.3, "y": -0.4, "z": 0.8}
    u = np.array([1.5, -2.0, 0.25])
    values, g = vjp(outs, p, u)
    J = np.array([sd.evaluate(row, p) for row in sd.jacobian(outs, [x, y, z])])
    assert values == pytest.approx(sd.evaluate(outs, p), rel=1e-15)
    assert g == pytest.approx(u @ J, rel=1e-13)
    # a repeated output receives both cotangents
    _, g = vjp([x * y, x * y], [2.0, 3.0], [1.0, 1.0])
    assert list(g) == [6.0, 4.0]
    with pytest.raises(ValueError):
        vjp(outs, p, [1.0, 2.0])


def test_op_count_is_bounded_multiple_of_f():
    ratios = []
    for n in (10, 100, 1000):
        f = sd.prod(sd.symbols(f"x0:{n}"))
        ratios.append(reverse_op_count(f) / sd.count_ops(f))
    # evaluation (1 per op) + two multiplications per product node
    assert ratios == [3.0, 3.0, 3.0]
    # general graphs: still a small constant, independent of the inputs
    for _, f, _ in CORPUS:
        assert reverse_op_count(f) <= 8 * sd.count_ops(f)


def test_to_dot_draws_the_tape():
    X, Z = Scalar(2.0, label="x"), Scalar(3.0, label="z")
    out = (X * Z).exp() + X / 2
    out.label = "y"
    out.backward()
    dot = out.to_dot()
    assert dot.startswith("digraph tape {") and dot.rstrip().endswith("}")
    assert '"x | value 2.0000 | grad ' in dot
    assert '"y | + | value' in dot and "grad 1.0000" in dot
    assert "rankdir=BT" in dot and "ordering=in" in dot
    # the operands of / are numbered: X / 2 has X as #1, 2 as #2
    assert len(re.findall(r'-> n\d+ \[label="#1"\]', dot)) == 1
    assert len(re.findall(r'-> n\d+ \[label="#2"\]', dot)) == 1
    # left to right, fields stack in braces
    assert "{ x | value 2.0000 | grad " in out.to_dot(rankdir="LR")
    assert "exp" in dot and "lightgrey" in dot and "lightblue" in dot
    order = out.topo()
    assert dot.count("->") == sum(len(n.inputs) for n in order)
    # leaves have no incoming edges
    leaf_ids = {f"n{k}" for k, n in enumerate(order) if not n.inputs}
    targets = {line.split("->")[1].strip(" ;") for line in dot.splitlines() if "->" in line}
    assert not leaf_ids & targets
    # quotes and record separators in labels are escaped
    q = Scalar(1.0, label='a|"b"')
    assert r'a\|\"b\"' in (q * 2).to_dot()


def test_build_tape_labels_inputs():
    (out,), leaves = build_tape(sd.sin(x) * y + 2, {"x": 0.5, "y": 1.5})
    assert [leaf.label for leaf in leaves] == ["x", "y"]
    out.backward()
    assert leaves[0].grad == pytest.approx(math.cos(0.5) * 1.5, rel=1e-15)
    assert leaves[1].grad == pytest.approx(math.sin(0.5), rel=1e-15)
    assert set(out.leaves()) == set(leaves)


def _expr(a, b, T):
    """The same expression on Scalars (T=None: methods) or symdiff nodes."""
    tanh = (lambda u: u.tanh()) if T is None else sd.tanh
    exp = (lambda u: u.exp()) if T is None else sd.exp
    relu = (lambda u: u.relu()) if T is None else sd.relu
    c = a * b + b ** 3 - 1.5 / (1 + a * a)
    d = tanh(c) * exp(b / 4) + relu(a - 0.25) * 2
    return d * d - a / (2 + b * b)


@settings(max_examples=60, deadline=None)
@given(st.floats(-2, 2), st.floats(-2, 2))
def test_tape_matches_reference_on_random_points(av, bv):
    a, b = Scalar(av), Scalar(bv)
    out = _expr(a, b, None)
    out.backward()
    f = _expr(x, y, sd)
    v, g = reference_gradient(f, {"x": av, "y": bv})
    if abs(av - 0.25) < 1e-9:
        return                                # relu kink
    assert out.value == pytest.approx(float(v), rel=1e-12, abs=1e-12)
    assert max_rel_error([a.grad, b.grad], g) <= 1e-11
