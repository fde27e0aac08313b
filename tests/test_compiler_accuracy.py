"""Compiled primitives keep the ulp bounds that symdiff.lab.accuracy states
(issue #3): every op on both paths against a correctly rounded mpmath
reference, glibc and LLVM-intrinsic calls within 1 ulp, x ** n lowered to
multiplications, and the measuring machinery itself (rounding of the
reference, ulp distance)."""

from __future__ import annotations

import math
import sys

import mpmath
import numpy as np
import pytest
from mpmath import mpf

import compiler
import symdiff as sd
from compiler import vecmath
from symdiff.core.ops import OPS
from symdiff.core.symbolic import apply
from symdiff.lab import accuracy as A

# Random points per op (plus special values and hard cases).  Seed 1 with
# 3,000 points draws a different sample from the table's (seed 0, 20,000
# points) and from the 200,000-point sweeps the bounds were read from.
N = 3000
SEED = 1

# The functions issue #3 wants within 1 ulp on the libm path (pow with a
# non-constant exponent: glibc's pow).
LIBM_ONE_ULP = ["exp", "log", "sin", "cos", "sqrt", "tanh", "tan", "asin", "acos", "atan",
                "sinh", "cosh", "log1p", "expm1", "pow"]

PIECEWISE = ["relu", "step", "sign", "eq", "abs", "max", "min"]


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory, monkeypatch):
    # One temporary disk cache for this module (never the user's ~/.cache).
    d = tmp_path_factory.getbasetemp() / "symdiff-cache-accuracy"
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(d))


# ---------------------------------------------------------------------------
# The table


def test_table_covers_every_op_and_path():
    assert set(A.ULP_BOUNDS) == set(OPS)
    assert set(A.NOTES) == set(OPS)
    assert set(A.DOMAINS) == set(OPS)
    for name in OPS:
        assert set(A.ULP_BOUNDS[name]) == set(A.PATHS), name
        assert set(A.DOMAINS[name]) == set(A.PATHS), name
        for path in A.PATHS:
            b = A.ULP_BOUNDS[name][path]
            assert isinstance(b, float) and 0 <= b <= 2, (name, path, b)
            assert A.DOMAINS[name][path].text, (name, path)
        assert A.NOTES[name], name


def test_bounds_above_one_ulp_are_explained():
    # Whatever is not within 1 ulp says so, and why, in its note, and its
    # witnesses are part of every sample.
    for name in OPS:
        if max(A.ULP_BOUNDS[name].values()) > 1:
            assert "ulp" in A.NOTES[name], name
            assert A.HARD_CASES.get(name), name
            hard = np.array(A.HARD_CASES[name])
            X = A.sample(name, "libm", 10, 0)
            assert np.array_equal(X[-len(hard):], hard), name


@pytest.mark.parametrize("name", PIECEWISE + ["add", "sub", "mul", "div", "neg", "sqrt"])
def test_exact_and_correctly_rounded_ops_state_zero(name):
    assert A.ULP_BOUNDS[name] == {"libm": 0.0, "vector": 0.0}


def test_vecmath_bounds_not_looser_than_one_ulp():
    # vecmath's own functions are below 1 ulp against the exact value, so
    # within 1 ulp of the correctly rounded result.
    for name in vecmath.SUPPORTED:
        assert A.ULP_BOUNDS[name]["vector"] <= 1.0, name


# ---------------------------------------------------------------------------
# The measurement


@pytest.mark.parametrize("name", sorted(OPS))
def test_within_stated_bound(name):
    for path in A.PATHS:
        got = A.measure(name, path, N, SEED)
        bound = A.ULP_BOUNDS[name][path]
        assert got <= bound, (f"{name} on the {path} path: {got} ulp > stated {bound}; "
                              f"worst point {A.worst(name, path, N, SEED)}")


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(
        reason=f"stated {A.ULP_BOUNDS[n]['libm']:g} ulp: {A.NOTES[n]}", strict=False))
    if A.ULP_BOUNDS[n]["libm"] > 1 else n
    for n in LIBM_ONE_ULP])
def test_libm_within_one_ulp(name):
    # glibc's documented accuracy on x86-64 is below 1 ulp for these; where a
    # measurement showed otherwise (sinh, cosh, tanh) the table states the
    # real bound and this test is an expected failure.
    got = A.measure(name, "libm", N, SEED)
    assert got <= 1.0, A.worst(name, "libm", N, SEED)


@pytest.mark.parametrize("c", A.POW_CONST_EXPONENTS)
def test_pow_constant_non_integer_exponent_within_one_ulp(c):
    assert A.measure_pow(c, N, SEED) <= 1.0


@pytest.mark.parametrize("n", [n for n in sorted(A.POW_INT_BOUNDS) if n not in (0, 1)])
def test_pow_small_integer_exponent(n):
    # Repeated multiplication: within the stated first-order bound.
    assert A.measure_pow(float(n), N, SEED) <= A.POW_INT_BOUNDS[n]


@pytest.mark.parametrize("n", [-4, -3, -2, -1, 2, 3, 4])
def test_pow_small_integer_exponent_as_accurate_as_libm(n):
    # Only x*x and 1/x are unrolled (one correctly rounded operation each);
    # x^3 = x*x*x used to be 2 ulp off, x^-4 4 ulp: now glibc's pow.
    assert A.measure_pow(float(n), N, SEED) <= 1.0


def test_vector_path_uses_vecmath():
    # Otherwise the "vector" rows would silently measure libm again.
    x = sd.symbol("x")
    for name in ("exp", "log", "sin", "cos", "tanh", "log1p", "expm1", "sigmoid", "softplus"):
        on = compiler.compile([apply(name, x)], ["x"], vector_math=True)
        off = compiler.compile([apply(name, x)], ["x"], vector_math=False)
        assert "symdiff.v" in on.llvm_ir, name
        assert "symdiff.v" not in off.llvm_ir, name


def test_measure_sees_errors():
    # A deliberately wrong kernel: exp(x) * (1 + 2^-52) is 2 ulp off somewhere.
    x = sd.symbol("x")
    fn = compiler.compile([sd.exp(x) * (1.0 + 2.0 ** -52)], ["x"], vector_math=False)
    X = A.sample("exp", "libm", 500, 0)
    err = A.ulp_errors(fn.batch(X)[:, 0], A.reference("exp", X))
    assert 1 <= err.max() <= 3


def test_measure_validates():
    with pytest.raises(ValueError):
        A.measure("nope", "libm", 10)
    with pytest.raises(ValueError):
        A.measure("exp", "fast", 10)


def test_sample_respects_domains():
    assert A.sample("log", "libm", 1000, 0).shape[1] == 1
    assert A.sample("pow", "libm", 1000, 0).shape[1] == 2
    u = A.sample("asin", "libm", 1000, 0)[:1000, 0]
    assert np.all(np.abs(u) <= 1)
    v = A.sample("sin", "vector", 1000, 0)[:, 0]
    v = v[np.isfinite(v)]
    assert np.abs(v).max() <= 1e22 and np.abs(v).max() > 2.0 ** 45
    assert np.array_equal(A.sample("exp", "libm", 100, 3), A.sample("exp", "libm", 100, 3),
                          equal_nan=True)


# ---------------------------------------------------------------------------
# The reference: rounding and distances


def test_to_double_rounds_once_in_the_subnormal_range():
    # (n + 1/2 -+ tiny) * 2^-1074 lies just below / above the midpoint of two
    # subnormals.  Rounding to 53 bits first (what mpmath's float() does
    # before ldexp rounds again) lands exactly on the midpoint, and ties to
    # even then goes the wrong way half of the time.
    for n in (1, 2, 3, 1000, 2 ** 40 + 1, 2 ** 52 - 1):
        for tiny, want in ((-1, n), (1, n + 1), (0, n + (n & 1))):
            with mpmath.workprec(4000):
                v = (mpf(n) + mpf(0.5) + tiny * mpmath.ldexp(1, -80)) * mpmath.ldexp(1, -1074)
            assert A.to_double(v) == math.ldexp(want, -1074), (n, tiny)
    with mpmath.workprec(4000):
        v = (mpf(1.5) - mpmath.ldexp(1, -80)) * mpmath.ldexp(1, -1074)
    assert A.to_double(v) == 5e-324 and float(v) == 1e-323


def test_to_double_normal_range_and_limits():
    with mpmath.workprec(200):
        one = mpf(1)
        ulp = mpmath.ldexp(1, -52)
        assert A.to_double(one + ulp / 2) == 1.0                      # tie to even
        assert A.to_double(one + ulp / 2 + mpmath.ldexp(1, -150)) == 1.0 + 2 ** -52
        big = mpmath.ldexp(2 ** 53 - 1, 971)                          # DBL_MAX
        assert A.to_double(big) == sys.float_info.max
        assert A.to_double(big + mpmath.ldexp(1, 970) - mpmath.ldexp(1, 900)) == sys.float_info.max
        assert A.to_double(big + mpmath.ldexp(1, 970)) == math.inf    # overflow threshold
        assert A.to_double(-big * 2) == -math.inf
        assert A.to_double(mpmath.ldexp(1, -1075)) == 0.0              # tie to even: 0
        assert A.to_double(mpmath.ldexp(3, -1076)) == 5e-324                # 0.75 * 2^-1074
        assert A.to_double(mpmath.ldexp(3, -1077)) == 0.0                   # 0.375 * 2^-1074
        assert A.to_double(mpmath.ldexp(1, -1076)) == 0.0
    assert A.to_double(mpf(0)) == 0.0
    assert math.isnan(A.to_double(mpf("nan")))
    assert A.to_double(mpf("-inf")) == -math.inf
    assert A.to_double(0.1) == 0.1


def test_ulp_errors():
    big = sys.float_info.max
    got = np.array([1.0, np.nextafter(1.0, 2), -0.0, math.nan, math.nan, 1.0, math.inf,
                    -5e-324, np.nextafter(1.0, 0)])
    ref = np.array([1.0, 1.0, 0.0, math.nan, 1.0, math.nan, big, 5e-324, 1.0])
    assert A.ulp_errors(got, ref).tolist() == [0, 1, 0, 0, math.inf, math.inf, 1, 2, 1]


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "sqrt"])
def test_reference_matches_ieee_basic_operations(name):
    # Python's float arithmetic and numpy's sqrt are correctly rounded, so the
    # reference must agree with them bitwise (including subnormal results).
    X = A.sample(name, "libm", 2000, 5)
    with np.errstate(all="ignore"):
        if name == "sqrt":
            want = np.sqrt(X[:, 0])
        else:
            want = {"add": np.add, "sub": np.subtract, "mul": np.multiply,
                    "div": np.divide}[name](X[:, 0], X[:, 1])
    got = A.reference(name, X)
    keep = ~((X == 0).any(axis=1) & (name == "div"))   # 1/-0.0: mpmath has no -0
    assert A.ulp_errors(got[keep], want[keep]).max() == 0
