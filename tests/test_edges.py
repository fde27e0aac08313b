"""Compiled code == interpreter at the edges of IEEE double arithmetic.

* ``x ** n`` for constant integers n over the whole float64 range (random
  bit patterns plus the overflow and underflow thresholds of each power):
  never less accurate than libm's ``pow``, against a correctly rounded
  mpmath reference (bug: ``x ** -3`` at 1e103 compiled to 0, not 1e-309);
* C99 ``pow`` special cases on every path (bug: ``(-inf) ** 0.5`` was NaN in
  the interpreter, numpy computing it as ``sqrt``);
* ``max``/``min`` are IEEE 754-2019 maximumNumber/minimumNumber on every
  path: -0.0 < +0.0, a NaN loses to a number (bug: ``1/min(z, -z)`` at
  z = 0 was inf or -inf depending on the path);
* the default rewrite rules are exact IEEE, the sign-of-zero changing ones
  only inside ``fast_rules()`` (bug: ``1/((x - 5)*0)`` was inf, not -inf);
* every op of the table, compiled (``fn``, ``fn.batch``, vector math on and
  off) against the numpy interpreter on edge points: ±0, ±inf, NaN,
  subnormals, 1e±300, ties.

The oracles are independent of the product: glibc's ``pow`` through ctypes
and mpmath at 600 bits rounded once (``symdiff.lab.accuracy.to_double``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import compiler
import symdiff as sd
from symdiff.core.ops import OPS, POW_UNROLLED, VARIADIC
from symdiff.core.program import schedule
from symdiff.core.rules import fast_rules, fast_rules_enabled
from symdiff.core.symbolic import apply
from symdiff.lab import accuracy as A
from symdiff.numeric.interpreter import Interpreter

inf, nan = math.inf, math.nan

_LIBM = ctypes.CDLL(ctypes.util.find_library("m"))
_LIBM.pow.restype = ctypes.c_double
_LIBM.pow.argtypes = [ctypes.c_double, ctypes.c_double]


def libm_pow(a: float, b: float) -> float:
    """glibc's pow (C99 Annex F special cases, < 1 ulp elsewhere)."""
    return _LIBM.pow(float(a), float(b))


def bits(a) -> np.ndarray:
    """The bit patterns of float64 values (so -0.0 != 0.0)."""
    return np.asarray(a, dtype=np.float64).reshape(-1).view(np.int64)


def same(got, want) -> np.ndarray:
    """Elementwise: identical bits, or both NaN (payloads aside)."""
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    want = np.asarray(want, dtype=np.float64).reshape(-1)
    return (bits(got) == bits(want)) | (np.isnan(got) & np.isnan(want))


def interp(exprs, names, columns):
    """The numpy interpreter on arrays (one column per input)."""
    return Interpreter(schedule(exprs, names))([np.asarray(c, float) for c in columns])


def interp_scalar(exprs, names, row):
    """The interpreter on Python floats (the FLOAT-like scalar path)."""
    return Interpreter(schedule(exprs, names))([float(v) for v in row])


x, y, z = sd.symbols("x y z")

# ---------------------------------------------------------------------------
# Item 12: integer powers over the whole float64 range

POWERS = (-8, -5, -4, -3, -2, -1, 2, 3, 4, 5, 8)


def _range_sample(n_random: int, seed: int) -> np.ndarray:
    """Random bit patterns (every sign, exponent and mantissa alike; NaNs
    dropped), then points at each power's overflow and underflow
    thresholds (|x|^n near 2^1024, 2^-1022 and 2^-1074)."""
    rng = np.random.default_rng(seed)
    X = np.frombuffer(rng.bytes(8 * n_random), dtype=np.float64)
    X = X[~np.isnan(X)]
    edges = []
    for n in POWERS:
        for e in (1024, -1022, -1074, -1075):
            if e / abs(n) >= 1024:
                continue                 # |x|^1 reaches 2^1024 only at inf
            base = 2.0 ** (e / abs(n))
            for k in range(-3, 4):
                v = base * (1 + k * 2.0 ** -40)
                edges += [v, -v]
    specials = [0.0, -0.0, inf, -inf, 5e-324, -5e-324, 2.2e-308, 1e300, 1e-300, 1e103,
                1.0, -1.0]
    return np.concatenate([X, np.array(edges), np.array(specials)])


def _correctly_rounded_power(v: float, n: int) -> float:
    if v == 0 or not math.isfinite(v):
        return libm_pow(v, n)            # C99's special cases (mpmath has no -0.0)
    with mpmath.workprec(600):           # exact for n > 0, one far rounding for n < 0
        return A.to_double(mpmath.mpf(v) ** n)


@pytest.fixture(scope="module")
def power_sample():
    X = _range_sample(2000, seed=12)
    ref = {n: np.array([_correctly_rounded_power(v, n) for v in X]) for n in POWERS}
    lib = {n: np.array([libm_pow(v, n) for v in X]) for n in POWERS}
    return X, ref, lib


def _check_power_path(X, got, ref, lib, n, who):
    err = A.ulp_errors(got, ref[n])
    err_libm = A.ulp_errors(lib[n], ref[n])
    worse = np.flatnonzero(err > err_libm)
    assert worse.size == 0, (f"{who}: x^{n} less accurate than libm pow at x = "
                             f"{X[worse[0]]!r}: {got[worse[0]]!r} vs libm "
                             f"{lib[n][worse[0]]!r}, exact {ref[n][worse[0]]!r}")
    assert err.max() <= 1, (who, n)
    # Zero and infinite results: the same sign as the exact result.
    special = (ref[n] == 0) | np.isinf(ref[n])
    assert same(got[special], ref[n][special]).all(), (who, n)


@pytest.mark.parametrize("vector_math", [False, True])
def test_compiled_integer_powers_never_less_accurate_than_libm(power_sample, vector_math):
    X, ref, lib = power_sample
    fn = compiler.compile([x ** float(n) for n in POWERS], ["x"], vector_math=vector_math)
    out = fn.batch(X[:, None])
    for j, n in enumerate(POWERS):
        _check_power_path(X, out[:, j], ref, lib, n, f"batch vector_math={vector_math}")
    calls = np.array([fn(np.array([v])) for v in X[::10]])
    for j, n in enumerate(POWERS):
        assert same(calls[:, j], out[::10, j]).all(), n


def test_interpreter_integer_powers_within_one_ulp(power_sample):
    # numpy: x*x for n = 2, 1/x for n = -1, its own pow otherwise (within 1
    # ulp of the exact value, not always glibc's bits).
    X, ref, lib = power_sample
    outs = interp([x ** float(n) for n in POWERS], ["x"], [X])
    for j, n in enumerate(POWERS):
        err = A.ulp_errors(outs[j], ref[n])
        assert err.max() <= 1, (n, X[np.argmax(err)])
        special = (ref[n] == 0) | np.isinf(ref[n])
        assert same(outs[j][special], ref[n][special]).all(), n


def test_negative_power_into_the_subnormal_range():
    # Regression: 1/(x*x*x) overflowed x^3 to inf first and gave 0.0.
    e = x ** -3.0
    for vm in (False, True):
        fn = compiler.compile([e], ["x"], vector_math=vm)
        assert fn(np.array([1e103]))[0] == 1e-309
        assert fn.batch(np.array([[1e103], [-1e103]]))[:, 0].tolist() == [1e-309, -1e-309]
    assert sd.evaluate(e, {"x": 1e103}) == 1e-309
    assert sd.evaluate(e, {"x": np.array([1e103])})[0] == 1e-309


def test_only_correctly_rounded_powers_are_unrolled():
    # x^2 = x*x and x^-1 = 1/x are one correctly rounded operation; the
    # others call pow (which LLVM may still specialise, e.g. 0.5 -> sqrt).
    for n in range(-8, 9):
        ir = compiler.compile([sd.pow(x, sd.const(float(n)))], ["x"], opt=0).llvm_ir
        body = ir[ir.index("define"):]
        assert ("call double @\"llvm.pow.f64\"" in body) == (float(n) not in POW_UNROLLED), n
    ir = compiler.compile([x ** 2.0, x ** -1.0], ["x"], opt=0).llvm_ir
    assert "fmul double %" in ir and "fdiv double 0x3FF0000000000000" in ir


# ---------------------------------------------------------------------------
# Item 13: C99 pow special cases on every path

POW_BASES = [0.0, -0.0, inf, -inf, nan, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 5e-324, -5e-324,
             1e300, -1e300]
POW_EXPONENTS = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 2.0, -2.0, 3.0, -3.0, 4.0,
                 0.25, inf, -inf, nan]


def test_numpy_power_regression_at_half():
    # numpy computes x ** 0.5 as sqrt(x): NaN at -inf and -0.0 at -0.0.
    e = x ** 0.5
    assert sd.evaluate(e, {"x": -inf}) == inf
    got = sd.evaluate(e, {"x": np.array([-inf, -0.0, 4.0])})
    assert same(got, [inf, 0.0, 2.0]).all()
    assert math.copysign(1.0, sd.evaluate(e, {"x": -0.0})) == 1.0


@pytest.mark.parametrize("c", POW_EXPONENTS)
def test_constant_exponent_special_cases_on_every_path(c):
    want = np.array([libm_pow(b, c) for b in POW_BASES])
    e = sd.pow(x, sd.const(c))
    arr = interp([e], ["x"], [POW_BASES])[0]
    assert same(arr, want).all(), (c, arr, want)
    sc = [interp_scalar([e], ["x"], [b])[0] for b in POW_BASES]
    assert same(sc, want).all(), (c, sc)
    for vm in (False, True):
        fn = compiler.compile([e], ["x"], vector_math=vm)
        batch = fn.batch(np.array(POW_BASES)[:, None])[:, 0]
        assert same(batch, want).all(), (c, vm, batch)
        calls = [fn(np.array([b]))[0] for b in POW_BASES]
        assert same(calls, want).all(), (c, vm, calls)


def test_variable_exponent_special_cases_on_every_path():
    pts = np.array(list(itertools.product(POW_BASES, POW_EXPONENTS)))
    want = np.array([libm_pow(b, c) for b, c in pts])
    e = x ** y
    fn = compiler.compile([e], ["x", "y"])
    assert same(fn.batch(pts)[:, 0], want).all()
    assert same([fn(p)[0] for p in pts], want).all()
    assert same([interp_scalar([e], ["x", "y"], p)[0] for p in pts], want).all()
    # numpy's array ** array path (its own SIMD pow) agrees on every special
    # case; at finite points it may differ from glibc by an ulp.
    arr = interp([e], ["x", "y"], [pts[:, 0], pts[:, 1]])[0]
    assert A.ulp_errors(arr, want).max() <= 1
    finite = np.isfinite(want) & (want != 0)
    assert same(arr[~finite], want[~finite]).all()


# ---------------------------------------------------------------------------
# Item 14: max/min are maximumNumber/minimumNumber everywhere

def _all_paths(exprs, names, rows):
    """{path: outputs (rows x outputs)} for the interpreter (arrays, floats)
    and the compiled function (call, batch; vector math on and off)."""
    rows = np.asarray(rows, dtype=np.float64)
    out = {"interp-array": np.array(interp(exprs, names, rows.T)).T,
           "interp-float": np.array([interp_scalar(exprs, names, r) for r in rows])}
    for vm in (False, True):
        fn = compiler.compile(exprs, names, vector_math=vm)
        out[f"batch vm={vm}"] = fn.batch(rows)
        out[f"call vm={vm}"] = np.array([fn(r) for r in rows])
    return out


def test_reciprocal_of_min_and_max_at_signed_zero_ties():
    # Regression: 1/min(z, -z) at z = 0 was inf on some paths, -inf on others.
    exprs = [1 / sd.min(z, -z), 1 / sd.min(-z, z), 1 / sd.max(z, -z), 1 / sd.max(-z, z)]
    for path, got in _all_paths(exprs, ["z"], [[0.0], [-0.0]]).items():
        assert same(got, [[-inf, -inf, inf, inf]] * 2).all(), (path, got)


MAXMIN_POINTS = [(0.0, -0.0), (-0.0, 0.0), (-0.0, -0.0), (0.0, 0.0), (nan, 1.0), (1.0, nan),
                 (nan, -0.0), (nan, nan), (-inf, inf), (inf, nan), (2.0, 2.0), (-1.0, 3.0),
                 (5e-324, -5e-324), (-5e-324, 0.0)]


def _maximum_number(a, b):
    # IEEE 754-2019 maximumNumber, written out: NaN loses, -0 < +0.
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    if a == b == 0:
        return a if math.copysign(1, a) > 0 else b
    return a if a > b else b


def _minimum_number(a, b):
    return -_maximum_number(-a, -b)


def test_max_min_follow_ieee_2019_on_every_path():
    exprs = [sd.max(x, y), sd.min(x, y), sd.max(y, x), sd.min(y, x)]
    want = np.array([[_maximum_number(a, b), _minimum_number(a, b),
                      _maximum_number(a, b), _minimum_number(a, b)] for a, b in MAXMIN_POINTS])
    for path, got in _all_paths(exprs, ["x", "y"], MAXMIN_POINTS).items():
        assert same(got, want).all(), (path, got)


def test_three_argument_max_min_with_zeros_and_nan():
    rows = list(itertools.product([0.0, -0.0, nan, -1.0], repeat=3))
    want = []
    for a, b, c in rows:
        want.append([_maximum_number(_maximum_number(a, b), c),
                     _minimum_number(_minimum_number(a, b), c)])
    exprs = [sd.max(x, y, z), sd.min(x, y, z)]
    for path, got in _all_paths(exprs, ["x", "y", "z"], rows).items():
        assert same(got, want).all(), path


def test_tie_gradient_still_split_equally():
    g = sd.grad(sd.max(x, y), [x, y])
    assert sd.evaluate(g, {"x": 0.0, "y": -0.0}) == [0.5, 0.5]
    assert sd.evaluate(sd.grad(sd.min(x, y, z), [x, y, z]),
                       {"x": -0.0, "y": 0.0, "z": 1.0}) == [0.5, 0.5, 0.0]


@given(st.lists(st.sampled_from([0.0, -0.0, nan, inf, -inf, 1.0, -1.0, 5e-324]),
                min_size=2, max_size=4))
def test_max_min_are_order_independent(values):
    # With -0 < +0 and NaN ignored, max and min are commutative to the bit.
    a = OPS["max"].numpy(*values)
    b = OPS["max"].numpy(*values[::-1])
    c = OPS["min"].numpy(*values)
    d = OPS["min"].numpy(*values[::-1])
    assert same(a, b).all() and same(c, d).all()
    want_max = values[0]
    want_min = values[0]
    for v in values[1:]:
        want_max = _maximum_number(want_max, v)
        want_min = _minimum_number(want_min, v)
    assert same(a, want_max).all() and same(c, want_min).all()


# ---------------------------------------------------------------------------
# Item 15: the default rewrite rules are exact IEEE

RULE_POINTS = [0.0, -0.0, inf, -inf, nan, 5.0, -5.0, 5e-324]

# (text of the built expression, builder, the IEEE value of the unsimplified
# expression at (a, b)), for every scalar rule and its fast-rule cousins.
RULE_CASES = [
    ("0*x", lambda: 0.0 * x, lambda a, b: 0.0 * a),
    ("x*0", lambda: x * 0.0, lambda a, b: a * 0.0),
    ("-0*x", lambda: -0.0 * x, lambda a, b: -0.0 * a),
    ("0+x", lambda: 0.0 + x, lambda a, b: 0.0 + a),
    ("-0+x", lambda: -0.0 + x, lambda a, b: -0.0 + a),
    ("x-0", lambda: x - 0.0, lambda a, b: a - 0.0),
    ("x-(-0)", lambda: x - (-0.0), lambda a, b: a - (-0.0)),
    ("0-x", lambda: 0.0 - x, lambda a, b: 0.0 - a),
    ("-0-x", lambda: -0.0 - x, lambda a, b: -0.0 - a),
    ("1*x", lambda: 1.0 * x, lambda a, b: a),
    ("-1*x", lambda: -1.0 * x, lambda a, b: -a),
    ("2*-x", lambda: 2.0 * (-x), lambda a, b: 2.0 * -a),
    ("-x*-y", lambda: (-x) * (-y), lambda a, b: (-a) * (-b)),
    ("-x*y", lambda: (-x) * y, lambda a, b: (-a) * b),
    ("x/1", lambda: x / 1.0, lambda a, b: a),
    ("x/-1", lambda: x / -1.0, lambda a, b: -a),
    ("-x/-y", lambda: (-x) / (-y), lambda a, b: np.divide(-a, -b)),
    ("x/-y", lambda: x / (-y), lambda a, b: np.divide(a, -b)),
    ("--x", lambda: (-x).__neg__(), lambda a, b: a),
    ("-(x-y)", lambda: -(x - y), lambda a, b: -(a - b)),
    ("x+-y", lambda: x + (-y), lambda a, b: a + -b),
    ("-x+y", lambda: (-x) + y, lambda a, b: -a + b),
    ("x--y", lambda: x - (-y), lambda a, b: a - -b),
    ("x^1", lambda: x ** 1.0, lambda a, b: libm_pow(a, 1.0)),
    ("x^0", lambda: x ** 0.0, lambda a, b: libm_pow(a, 0.0)),
    ("1^x", lambda: sd.pow(sd.const(1.0), x), lambda a, b: libm_pow(1.0, a)),
    ("max(x,x)", lambda: sd.max(x, x), lambda a, b: a),
    ("max(max(x,y),x)", lambda: sd.max(sd.max(x, y), x),
     lambda a, b: _maximum_number(_maximum_number(a, b), a)),
    ("min(min(x,y),x)", lambda: sd.min(sd.min(x, y), x),
     lambda a, b: _minimum_number(_minimum_number(a, b), a)),
]


@pytest.mark.parametrize("text, build, ieee", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_default_rules_keep_ieee_results(text, build, ieee):
    e = build()
    pts = list(itertools.product(RULE_POINTS, repeat=2))
    with np.errstate(all="ignore"):
        want = [float(ieee(a, b)) for a, b in pts]
    names = ["x", "y"]
    got = interp([e], names, np.array(pts).T)[0]
    got = np.broadcast_to(got, (len(pts),))
    assert same(got, want).all(), (text, sd.to_string(e))


def test_zero_times_regression():
    # Regression: 0*a -> 0 gave inf here, IEEE gives -inf (and NaN at x = inf).
    e = 1 / ((x - 5) * 0)
    assert sd.evaluate(e, {"x": 1.0}) == -inf
    assert math.isnan(sd.evaluate(0 * x, {"x": inf}))
    fn = compiler.compile([e], ["x"])
    assert fn(np.array([1.0]))[0] == -inf
    assert sd.to_string(0 * x) == "0*x"


def test_fast_rules_apply_only_inside_the_block():
    assert not fast_rules_enabled()
    with fast_rules():
        assert fast_rules_enabled()
        assert sd.to_string(0 * x) == "0"
        assert sd.to_string(0.0 + x) == "x"
        assert sd.to_string(0.0 - x) == "-x"
        assert sd.to_string(x - (-0.0)) == "x"
        assert sd.to_string(-(x - y)) == "y - x"
        with fast_rules(False):
            assert sd.to_string(0 * y) == "0*y"
    assert not fast_rules_enabled()
    assert sd.to_string(0.0 + x) == "0 + x"
    assert sd.to_string(-(x - y)) == "-(x - y)"
    # The exact forms of these rules stay on by default.
    assert sd.to_string(-0.0 + x) == "x"
    assert sd.to_string(x - 0.0) == "x"
    assert sd.to_string(-0.0 - x) == "-x"


def test_exact_rules_do_not_grow_derivatives():
    # Differentiation builds no 0*g terms (missing adjoints are absent), so
    # the fast rules change nothing in the lectures' example and a chain.
    def sizes():
        f = sd.exp(x * z) + x * z / sd.log(x) + sd.sin(sd.log(x)) / (x * z)
        g = sd.grad(f, [x, z])
        h = [d for gi in g for d in sd.grad(gi, [x, z])]
        return sd.count_ops([f, *g]), sd.count_ops([f, *g, *h])

    exact = sizes()
    with fast_rules():
        fast = sizes()
    assert exact == fast == (21, 74)


# ---------------------------------------------------------------------------
# Compiled vs interpreter over edge points, for every op of the table

EDGE = [0.0, -0.0, inf, -inf, nan, 5e-324, -5e-324, 2.2e-308, -2.2e-308, 1e300, -1e300,
        1e-300, -1e-300, 1.0, -1.0, 0.5, -2.0, 3.0, 1e22]
EDGE3 = [0.0, -0.0, inf, -inf, nan, 5e-324, -1.0, 2.0]


def _bound(name: str, vector_math: bool) -> float:
    """Allowed ulps between the compiled result and numpy's: 0 where the op
    is exact or correctly rounded (its stated bound is 0), else the stated
    bound of the compiled path plus numpy's own ulp."""
    b = A.ULP_BOUNDS.get(name, {}).get("vector" if vector_math else "libm", 1.0)
    return 0.0 if b == 0 else b + 1.0


@pytest.mark.parametrize("name", sorted(n for n, op in OPS.items() if op.lowering is not None))
def test_compiled_agrees_with_interpreter_at_edge_points(name):
    op = OPS[name]
    nargs = [2, 3] if op.arity == VARIADIC else [op.arity]
    for n in nargs:
        rows = np.array(list(itertools.product(EDGE if n <= 2 else EDGE3, repeat=n)))
        args = [x, y, z][:n]
        names = ["x", "y", "z"][:n]
        e = apply(name, *args)
        want = interp([e], names, rows.T)[0]
        want = np.broadcast_to(want, (len(rows),))
        # numpy's array ** array (its own SIMD pow) may differ from the
        # scalar path (glibc) by an ulp at finite points: 1e300 ** -1.
        floats = np.array([interp_scalar([e], names, r)[0] for r in rows])
        _assert_agree(floats, want, rows, 1.0 if name == "pow" else 0.0,
                      (name, "float vs array interpreter"))
        for vm in (False, True):
            fn = compiler.compile([e], names, vector_math=vm)
            for path, got in (("batch", fn.batch(rows)[:, 0]),
                              ("call", np.array([fn(r)[0] for r in rows]))):
                _assert_agree(got, want, rows, _bound(name, vm), (name, vm, path))


def _assert_agree(got, want, rows, bound, who):
    """NaN-ness, infinities and signed zeros identical; finite results
    within ``bound`` ulps."""
    special = ~np.isfinite(want) | (want == 0) | ~np.isfinite(got) | (got == 0)
    bad = ~same(got[special], want[special])
    assert not bad.any(), (who, rows[special][bad][:3], got[special][bad][:3],
                           want[special][bad][:3])
    err = A.ulp_errors(got, want)
    assert err.max() <= bound, (who, rows[np.argmax(err)], err.max(), bound)


@given(st.floats(allow_nan=True, allow_infinity=True, width=64),
       st.one_of(st.sampled_from([0.5, -0.5, 2.0, -1.0, 3.0, 0.0, -0.0, inf, -inf, nan]),
                 st.floats(width=64)))
def test_interpreter_pow_is_c99_pow(a, b):
    # Scalar and array evaluation of the op table's pow against glibc: the
    # same special cases (bit for bit), within 1 ulp elsewhere.
    want = libm_pow(a, b)
    with np.errstate(all="ignore"):
        for got in (OPS["pow"].numpy(a, b), OPS["pow"].numpy(np.array([a]), b),
                    OPS["pow"].numpy(np.array([a]), np.array([b]))):
            got = np.asarray(got, dtype=np.float64).reshape(-1)
            if want == 0 or not math.isfinite(want):
                assert same(got, want).all(), (a, b, got, want)
            else:
                assert A.ulp_errors(got, np.array([want])).max() <= 1, (a, b, got, want)
