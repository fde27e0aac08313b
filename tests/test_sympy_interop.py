"""to_sympy / from_sympy, and every derivative rule checked against sympy.diff
of an independent SymPy oracle (tests/op_specs.py)."""

import math

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from op_specs import OP_SPECS, points

import symdiff as sd
from symdiff.core.node import const, make
from symdiff.core.ops import OPS
from symdiff.core.symbolic import apply
from symdiff.text.sympy_interop import TO_SYMPY

x, y, z = sd.symbols("x y z")
X, Y, Z = sympy.symbols("x y z")                  # what to_sympy gives by default
XR, YR, ZR = sympy.symbols("x y z", real=True)    # to_sympy(..., real=True)


def spec_args(spec):
    """The symdiff and (real) SymPy symbols an op is applied to in these
    tests (the oracles are written for real arguments)."""
    return (x, y, z)[:spec.nargs], [XR, YR, ZR][:spec.nargs]


def sympy_value(expr, syms, pt):
    val = expr.xreplace({s: sympy.Float(v, 30) for s, v in zip(syms, pt)})
    return float(sympy.N(val, 30))


def close(a, b, rtol, atol=0.0):
    if a == b:                       # also equal infinities
        return True
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


# ---------------------------------------------------------------------------
# the table


def test_every_op_has_a_sympy_translation():
    assert set(TO_SYMPY) == set(OPS)


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.name)
def test_round_trip_rebuilds_the_same_node(spec):
    args, _ = spec_args(spec)
    e = make(spec.name, args)
    back = sd.from_sympy(sd.to_sympy(e))
    assert back is apply(spec.name, *args)
    # also without SymPy's automatic evaluation
    assert sd.from_sympy(sd.to_sympy(e, evaluate=False)) is back


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.name)
def test_to_sympy_values_match_the_oracle(spec):
    args, syms = spec_args(spec)
    e = apply(spec.name, *args)
    ours = sd.to_sympy(e, real=True)
    oracle = spec.sympy(*syms)
    for pt in points(spec):
        want = sympy_value(oracle, syms, pt)
        got = sympy_value(ours, syms, pt)
        assert close(got, want, 1e-15, 1e-300), (spec.name, pt, got, want)
        value = sd.evaluate(e, dict(zip([a.name for a in args], pt)))
        assert close(value, want, 1e-13, 1e-300), (spec.name, pt, value, want)


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.name)
def test_derivative_rule_matches_sympy_diff(spec):
    """Each op's vjp rule, through symdiff.grad, against sympy.diff of the oracle."""
    args, syms = spec_args(spec)
    grads = sd.grad(apply(spec.name, *args), list(args))
    oracle = spec.sympy(*syms)
    sympy_grads = [sympy.diff(oracle, v) for v in syms]
    # margin=0: leave out only the kinks themselves, where there is no derivative
    pts = points(spec, n_random=4, margin=0.0)
    assert len(pts) >= 5
    for pt in pts:
        ours = sd.evaluate(grads, dict(zip([a.name for a in args], pt)))
        for i, d in enumerate(sympy_grads):
            want = sympy_value(d, syms, pt)
            assert close(ours[i], want, 1e-10, 1e-12), (spec.name, i, pt, ours[i], want, d)


# ---------------------------------------------------------------------------
# to_sympy details


def test_constants_and_symbols():
    assert sd.to_sympy(const(2.0)) == sympy.Integer(2)
    assert isinstance(sd.to_sympy(const(2.0)), sympy.Integer)
    tenth = sd.to_sympy(const(0.1))
    assert isinstance(tenth, sympy.Float) and float(tenth) == 0.1
    assert float(sd.to_sympy(const(math.pi))) == math.pi
    assert sd.to_sympy(const(math.inf)) is sympy.oo
    assert sd.to_sympy(const(math.nan)) is sympy.nan
    s = sd.to_sympy(x)
    assert s == X and s.is_real is None
    assert sd.to_sympy([x, y * 2]) == [X, 2 * Y]
    r = sd.to_sympy(x, real=True)
    assert r == XR and r.is_real


def test_to_sympy_works_with_plain_sympy_symbols():
    """Regression: symbols were Symbol('x', real=True), which is a different
    symbol from the user's Symbol('x'): diff gave 0 and subs did nothing."""
    e = sd.to_sympy(x ** 2 * sd.sin(y))
    u, v = sympy.Symbol("x"), sympy.Symbol("y")
    assert sympy.diff(e, u) == 2 * u * sympy.sin(v)
    assert e.subs({u: 2, v: 0}) == 0
    assert e.subs(u, 3) == 9 * sympy.sin(v)
    # real=True: the same real symbols work
    er = sd.to_sympy(x ** 2, real=True)
    assert sympy.diff(er, XR) == 2 * XR and sympy.diff(er, u) == 0


@pytest.mark.parametrize("make_mix", [
    lambda: x + sympy.Symbol("y"),
    lambda: sympy.Symbol("y") * x,
    lambda: x ** sympy.Symbol("y"),
    lambda: sd.sin(sympy.Symbol("y")),
], ids=["node+sympy", "sympy*node", "node**sympy", "sd.sin(sympy)"])
def test_mixing_sympy_objects_into_expressions_fails_with_a_hint(make_mix):
    with pytest.raises(TypeError, match="from_sympy"):
        make_mix()


def test_a_node_compares_unequal_to_sympy_objects():
    # SymPy's == asks the other operand to convert; a node does not, so
    # comparisons and membership tests are False instead of errors.
    y = sympy.Symbol("y")
    assert (x == y) is False and (y == x) is False
    assert x not in [y] and y not in [x]
    with pytest.raises(sympy.SympifyError):
        sympy.sin(x)


def test_shared_subexpressions_are_built_once(monkeypatch):
    calls = []

    def counting_sin(a):
        calls.append(a)
        return sympy.sin(a)

    monkeypatch.setitem(TO_SYMPY, "sin", counting_sin)
    s = sd.sin(x * y)
    out = sd.to_sympy([s * s + s, sd.cos(s)])
    assert len(calls) == 1
    assert out[0] == sympy.sin(X * Y) ** 2 + sympy.sin(X * Y)


def test_to_sympy_specific_forms():
    from sympy.codegen.cfunctions import expm1, log1p

    assert sd.to_sympy(sd.log1p(x)) == log1p(X)
    assert sd.to_sympy(sd.expm1(x)) == expm1(X)
    assert str(sd.to_sympy(sd.sigmoid(x))) == "sigmoid(x)"
    assert str(sd.to_sympy(sd.softplus(x))) == "softplus(x)"
    assert sd.to_sympy(sd.relu(x)) == sympy.Max(X, 0)
    assert sd.to_sympy(sd.step(x)) == sympy.Heaviside(X, 0)
    assert str(sd.to_sympy(sd.eq(x, y))) == "eq(x, y)"
    # written out on request
    assert sd.to_sympy(sd.sigmoid(x)).rewrite(sympy.exp) == 1 / (1 + sympy.exp(-X))
    assert sd.to_sympy(sd.softplus(x)).rewrite(sympy.exp) == sympy.log(1 + sympy.exp(X))
    assert sd.to_sympy(sd.eq(x, y)).rewrite(sympy.Piecewise) == \
        sympy.Piecewise((1, sympy.Eq(X, Y)), (0, True))


# ---------------------------------------------------------------------------
# from_sympy details


def test_from_sympy_numbers():
    assert sd.from_sympy(sympy.Rational(1, 3)) is const(1 / 3)
    assert sd.from_sympy(sympy.Integer(7)) is const(7.0)
    assert sd.from_sympy(sympy.Float(0.1)) is const(0.1)
    assert sd.from_sympy(sympy.pi) is const(math.pi)
    assert sd.from_sympy(sympy.E) is const(math.e)
    assert sd.from_sympy(sympy.exp(1)) is const(math.e)
    assert sd.from_sympy(sympy.oo) is const(math.inf)
    assert sd.from_sympy(2.5) is const(2.5)


def test_from_sympy_arithmetic_shapes():
    assert sd.from_sympy(X - Y) is x - y
    assert sd.from_sympy(X / Y) is x / y
    assert sd.from_sympy(X / 3) is x / 3                 # not x * 0.333...
    assert sd.from_sympy(-X) is -x
    assert sd.from_sympy(X - 1) is x - 1
    assert sd.from_sympy(2 * X / (Y * Z)) is (2 * x) / (y * z)
    assert sd.from_sympy(sympy.sqrt(X)) is sd.sqrt(x)
    assert sd.from_sympy(1 / sympy.sqrt(X)) is 1 / sd.sqrt(x)
    assert sd.from_sympy(X ** -2) is x ** -2           # not 1/x^2: another rounding
    assert sd.from_sympy(Y / X ** 2) is y / x ** 2
    assert sd.from_sympy(X ** -1) is 1 / x
    assert sd.from_sympy(2 ** X) is sd.const(2.0) ** x
    assert sd.from_sympy(-X - Y) is -(x + y)
    assert sd.from_sympy(sympy.log(X + Y + 1)) is sd.log1p(x + y)
    assert sd.from_sympy(sympy.exp(X) - 1 + Y) is y + sd.expm1(x)
    assert sd.from_sympy(X / (1 + sympy.exp(-Y))) is x * sd.sigmoid(y)


def op_depth(node, op):
    """Longest chain of nested ``op`` nodes starting at ``node``."""
    best, stack = 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        if n.op == op:
            best = max(best, d)
            stack.extend((a, d + 1) for a in n.args)
    return best


def test_from_sympy_sums_are_balanced():
    ws = sympy.symbols("w0:8", real=True)
    vals = {f"w{k}": float(k + 1) for k in range(8)}
    e = sd.from_sympy(sympy.Add(*ws))
    assert op_depth(e, "add") == 3                    # a chain would be 7 deep
    assert sd.evaluate(e, vals) == 36.0
    p = sd.from_sympy(sympy.Mul(*ws))
    assert op_depth(p, "mul") == 3
    assert sd.evaluate(p, vals) == math.factorial(8)


def test_from_sympy_heaviside_conventions():
    for h0, at0 in [(0, 0.0), (sympy.S.Half, 0.5), (1, 1.0)]:
        e = sd.from_sympy(sympy.Heaviside(X, h0))
        assert sd.evaluate(e, {"x": 0.0}) == at0
        assert sd.evaluate(e, {"x": 2.0}) == 1.0
        assert sd.evaluate(e, {"x": -2.0}) == 0.0
    assert sd.from_sympy(sympy.Heaviside(X, 0)) is sd.step(x)


@pytest.mark.parametrize("bad, word", [
    (sympy.gamma(X), "gamma"),
    (sympy.Piecewise((X, X > 0), (0, True)), "Piecewise"),
    (sympy.I * X, "I"),
    (sympy.asinh(X), "asinh"),
    (sympy.DiracDelta(X), "DiracDelta"),
])
def test_from_sympy_unsupported_raises_clear_error(bad, word):
    with pytest.raises(ValueError, match=word):
        sd.from_sympy(bad)


def test_from_sympy_rejects_strings():
    with pytest.raises(TypeError):
        sd.from_sympy("x + 1")


# ---------------------------------------------------------------------------
# value-preserving round trips of composite expressions


def composite_expressions():
    f = sd.exp(x * z) + x * z / sd.log(x) + sd.sin(sd.log(x)) / (x * z)
    return [
        f, *sd.grad(f, [x, z]),
        sd.sigmoid(x * y) + sd.softplus(x - y) * sd.tanh(z),
        sd.log1p(x ** 2) - sd.expm1(-y) / (1 + z ** 2),
        sd.sqrt(x ** 2 + y ** 2) * sd.atan(z) - sd.abs(x - z),
        sd.max(x, y, z) - sd.min(x, y) + sd.relu(z) ** 2,
        sd.cosh(y) / sd.sinh(1 + x ** 2) + sd.asin(sd.tanh(z)) * sd.acos(sd.tanh(y)),
        sd.pow(x, y) + sd.const(2.5) ** z - 3 * x / 7,
    ]


@pytest.fixture(scope="module")
def round_trips():
    """(original, from_sympy(to_sympy(original))) pairs, converted once."""
    return [(e, sd.from_sympy(sd.to_sympy(e))) for e in composite_expressions()]


@settings(max_examples=40, deadline=None)
@given(st.floats(0.1, 3.0), st.floats(-3.0, 3.0), st.floats(-3.0, 3.0))
def test_round_trip_preserves_values(round_trips, xv, yv, zv):
    values = [xv, yv, zv]
    for e, back in round_trips:
        # both sides take x, y, z in that order, used or not
        a = sd.evaluate(e, values, inputs=[x, y, z])
        b = sd.evaluate(back, values, inputs=[x, y, z])
        # SymPy regroups sums, so values that cancel to ~0 may differ by
        # rounding of the O(1) terms: an absolute tolerance covers that.
        assert close(a, b, 1e-12, 1e-12), (e, back, values, a, b)


def test_deep_from_sympy_does_not_recurse(default_recursion_limit):
    e = x
    for _ in range(5000):
        e = sd.sin(e)
    with default_recursion_limit():
        s = sd.to_sympy(e, evaluate=False)
        assert sd.from_sympy(s) is e


def test_mixing_a_sympy_object_into_a_symdiff_function_fails_with_a_hint():
    with pytest.raises(TypeError, match="from_sympy"):
        sd.sin(sympy.Symbol("y"))


# ---------------------------------------------------------------------------
# round trips of random expressions over the whole op table

from symdiff.core.ops import VARIADIC  # noqa: E402

# Ops that are defined (finite or a definite inf) for every real argument:
# SymPy's identities on them (sin(asin(u)) = u, pow(nan, 0) ...) cannot
# change a value, so round trips through SymPy's automatic simplification
# keep values on expressions built from them.
TOTAL_OPS = ["add", "sub", "mul", "neg", "exp", "log1p", "expm1", "sin", "cos", "atan",
             "sinh", "cosh", "tanh", "sigmoid", "softplus", "relu", "abs", "max", "min",
             "step", "sign", "hypot", "logsumexp"]
LEAVES = [x, y, const(0.5), const(2.0), const(-3.0), const(1e-3)]
POINTS = [(0.3, -1.7), (-0.5, 0.25), (2.5, 0.0), (800.0, 800.0), (-800.0, 2.0),
          (800.0, -800.0), (1e300, -1e300), (-1e300, 1e300), (1e-300, 5.0)]


def expressions(op_names):
    """Random symdiff expressions over ``op_names`` (simplified as the
    builders simplify them), on x, y and a few constants."""
    def extend(children):
        def one(name):
            op = OPS[name]
            n = st.integers(2, 3) if op.arity == VARIADIC else st.just(op.arity)
            return n.flatmap(lambda k: st.tuples(*[children] * k)).map(
                lambda args: apply(name, *args))
        return st.sampled_from(sorted(op_names)).flatmap(one)

    return st.recursive(st.sampled_from(LEAVES), extend, max_leaves=8)


def values_at(e, point):
    return sd.evaluate(e, dict(zip("xy", point)), inputs=[x, y])


def same_float(a, b) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=150, deadline=None)
@given(expressions(OPS))
def test_round_trip_without_evaluation_keeps_every_value(e):
    """Structure-preserving conversion (evaluate=False) over the whole op
    table: the same float (or both NaN) at every point, huge ones included."""
    back = sd.from_sympy(sd.to_sympy(e, evaluate=False))
    for p in POINTS:
        assert same_float(values_at(e, p), values_at(back, p)), (e, back, p)


@settings(max_examples=150, deadline=None)
@given(expressions(OPS))
def test_round_trip_always_converts_back(e):
    """Regression: SymPy's re/im/conjugate/arg/atan2, zoo and Max(nan, ...)
    made from_sympy(to_sympy(e)) raise; every expression converts back."""
    for real in (False, True):
        back = sd.from_sympy(sd.to_sympy(e, real=real))
        assert isinstance(back, sd.Node)


@settings(max_examples=150, deadline=None)
@given(expressions(TOTAL_OPS))
def test_round_trip_keeps_values_and_never_overflows(e):
    """With SymPy's simplification, on everywhere-defined ops: a finite
    value stays finite (stable functions come back unexpanded) and equal up
    to SymPy's regrouping of sums (an absolute slack at the inputs' scale,
    for sums that cancel)."""
    back = sd.from_sympy(sd.to_sympy(e))
    # Not at 1e300: SymPy regroups sums, and 0.7 + (1e300 - 1e300) regrouped
    # is 0 (the structure-keeping round trip above covers those points).
    for p in POINTS:
        if max(abs(p[0]), abs(p[1])) > 800.0:
            continue
        a, b = values_at(e, p), values_at(back, p)
        if not math.isfinite(a):
            continue
        scale = 1.0 + max(abs(p[0]), abs(p[1]))
        assert math.isfinite(b), (e, back, p, a, b)
        assert close(a, b, 1e-9, 1e-9 * scale), (e, back, p, a, b)


@pytest.mark.parametrize("text, at, want", [
    ("softplus(softplus(x))", 800.0, 800.0),          # was log(2 + exp(x)): inf
    ("softplus(softplus(x))", -800.0, 0.6931471805599453),
    ("sigmoid(sigmoid(x) - x)", 800.0, 0.0),
    ("log1p(expm1(x))", 1e-20, 1e-20),
    ("logsumexp(x, x)", 800.0, 800.6931471805599),
    ("hypot(x, x)", 1e300, 1.4142135623730952e300),
])
def test_stable_functions_survive_the_round_trip(text, at, want):
    e = sd.parse(text)
    back = sd.from_sympy(sd.to_sympy(e))
    assert back is e
    assert sd.evaluate(back, {"x": at}) == want


def test_round_trip_of_complex_parts():
    """Regression: SymPy writes |exp(asin(x))| as exp(re(asin(x))), which
    from_sympy refused; symdiff's variables are real, so re(u) = u."""
    e = sd.parse("abs(exp(asin(x)))")
    s = sd.to_sympy(e)
    assert s.has(sympy.re)
    back = sd.from_sympy(s)
    assert back is sd.exp(sd.asin(x))
    for v in (0.5, -0.9, 1.5):
        assert same_float(values_at(back, (v, 0.0)), values_at(e, (v, 0.0)))
    parts = sd.from_sympy(sympy.im(X) + sympy.conjugate(Y))      # 0 + y
    assert values_at(parts, (2.0, 3.0)) == 3.0
    assert sd.from_sympy(sympy.arg(X)) is math.pi * sd.step(-x)
    at2 = sd.from_sympy(sympy.atan2(Y, X))
    for yv, xv in [(1.0, 1.0), (1.0, -1.0), (-1.0, -1.0), (2.0, 3.0), (1.0, 0.0), (-1.0, 0.0)]:
        assert values_at(at2, (xv, yv)) == math.atan2(yv, xv)


def test_round_trip_of_division_by_zero_keeps_ieee_signs():
    e = x / 0
    back = sd.from_sympy(sd.to_sympy(e))
    assert [values_at(back, (v, 0.0)) for v in (2.0, -2.0)] == [math.inf, -math.inf]
    assert math.isnan(values_at(back, (0.0, 0.0)))
    assert math.isnan(sd.evaluate(sd.from_sympy(sympy.zoo), {}))
