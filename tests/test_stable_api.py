"""``stable=True`` on ``sd.compile`` and ``sd.evaluate``, and the public
``sd.stabilize``: same values as the naive formula where it is accurate,
finite and correct where it overflows (d/dx log(1 + exp(x)) at x = 800 is
NaN in JAX, PyTorch and SymPy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import symdiff as sd

x, y = sd.symbols("x y")
SOFTPLUS = sd.log(1 + sd.exp(x))


def test_evaluate_stable():
    g = sd.grad(SOFTPLUS)
    assert math.isnan(sd.evaluate(g, {"x": 800.0})[0])
    assert sd.evaluate(g, {"x": 800.0}, stable=True) == [1.0]
    assert sd.evaluate(SOFTPLUS, {"x": 800.0}, stable=True) == 800.0
    # where the naive formula is fine, the stable one gives the same value
    assert math.isclose(sd.evaluate(SOFTPLUS, {"x": 0.5}, stable=True),
                        0.974076984180106681, rel_tol=2.3e-16, abs_tol=0.0)


def test_compile_stable():
    naive = sd.compile([SOFTPLUS, *sd.grad(SOFTPLUS)], [x])
    stable = sd.compile([SOFTPLUS, *sd.grad(SOFTPLUS)], [x], stable=True)
    assert np.isinf(naive(np.array([800.0]))[0]) and np.isnan(naive(np.array([800.0]))[1])
    assert stable(np.array([800.0])).tolist() == [800.0, 1.0]
    # log(1 + e^-40) = 4.24835425529158899e-18 (mpmath, 60 digits); naive 1 + e^-40 rounds to 1
    assert naive(np.array([-40.0]))[0] == 0.0
    assert math.isclose(stable(np.array([-40.0]))[0], 4.24835425529158899e-18,
                        rel_tol=2.3e-16, abs_tol=0.0)
    rows = np.array([[-800.0], [-40.0], [0.0], [40.0], [800.0]])
    assert np.array_equal(stable.batch(rows), np.vstack([stable(r) for r in rows]))


def test_compile_stable_tensor():
    Z = sd.tensor("Z", ("m", 3))
    f = sd.sum(sd.log(1 + sd.exp(Z)))
    fn = sd.compile([f], [Z], stable=True)
    (value,) = fn(np.full((2, 3), 800.0))
    assert float(value) == 4800.0


def test_compile_stable_refuses_a_program():
    with pytest.raises(ValueError, match="does not apply to a Program"):
        sd.compile(sd.schedule([SOFTPLUS]), stable=True)


def test_stabilize_is_public_and_reports_rewrites():
    f, rewrites = sd.stabilize(sd.exp(x) - 1)
    assert sd.to_string(f) == "expm1(x)"
    assert len(rewrites) == 1 and isinstance(rewrites[0], sd.Rewrite)
    assert rewrites[0].before is sd.exp(x) - 1 and rewrites[0].after is f
    assert "expm1" in str(rewrites[0])
    same, none = sd.stabilize(x * y)
    assert same is x * y and none == []


def test_compile_stable_keeps_the_inputs_of_the_expression_as_given():
    # x + y - y stabilizes to x; the compiled function still takes x and y.
    fn = sd.compile([x + y - y], stable=True)
    assert fn.inputs == ("x", "y")
    assert fn(np.array([1.5, 2.0])).tolist() == [1.5]


def test_rules_that_cycle_raise_instead_of_hanging(monkeypatch):
    # Two rules that undo each other (sin -> cos -> sin): following the
    # rewrites costs no budget, so without the cycle check this looped forever.
    from symdiff.core import stabilize as st
    from symdiff.core import symbolic as S
    from symdiff.core.stable_rules import StableRule

    to_cos = StableRule("to_cos", "sin", lambda n: S.cos(n.args[0]), "test")
    to_sin = StableRule("to_sin", "cos", lambda n: S.sin(n.args[0]), "test")
    monkeypatch.setitem(st.RULES_BY_OP, "sin", (to_cos,))
    monkeypatch.setitem(st.RULES_BY_OP, "cos", (to_sin,))
    with pytest.raises(st.StabilizeError, match="the rules cycle"):
        sd.stabilize(sd.sin(x), max_rewrites=50)


def test_exp_rules_keep_halves_of_negated_inputs_apart():
    # exp(-x)*exp(-y) must not become exp(-x/2 - y/2)^2: adding the halves
    # rounds, and squaring doubles that error (65 ulp on average, before).
    import mpmath

    f, _ = sd.stabilize(sd.exp(-x) * sd.exp(-y))
    g, _ = sd.stabilize(sd.exp(-x) / sd.exp(-y))
    assert sd.to_string(f) == "(exp(-0.5*x)*exp(-0.5*y))^2"
    assert sd.to_string(g) == "(exp(-0.5*x)/exp(-0.5*y))^2"
    rng = np.random.default_rng(3)
    for a, b in rng.uniform(1.0, 350.0, (200, 2)):
        with mpmath.workprec(200):
            want_f = float(mpmath.exp(-mpmath.mpf(a) - mpmath.mpf(b)))
            want_g = float(mpmath.exp(-mpmath.mpf(a) + mpmath.mpf(b)))
        for expr, want in ((f, want_f), (g, want_g)):
            got = sd.evaluate(expr, {"x": a, "y": b})
            assert abs(got - want) <= 4 * math.ulp(want), (a, b, got, want)
