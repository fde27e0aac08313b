"""Whole-range accuracy measurement of the functions compiler.vecmath
implements, on every evaluation path (shared by tests/test_vecmath_range.py
and benchmarks/bench_vecmath_accuracy.py).

* Points: uniformly random float64 *bit patterns* (so every binade, both
  signs, subnormals, infinities and NaNs occur as often as the format has
  them, as the floating-point accuracy literature samples) plus special
  points per function (zeros, infinities, NaN, the extreme doubles, the
  overflow and underflow thresholds, doubles next to multiples of pi/2 up to
  the famous hardest case for argument reduction).
* Reference: mpmath, with the working precision raised by the argument's
  binary exponent for sin and cos (mpmath reduces huge arguments itself;
  the extra bits make that explicit).  Where libm (numpy) gives a NaN or an
  infinity there is no finite exact value to measure against and the
  result must match libm's instead.
* Error: |y - exact| / ulp(exact), ulp(exact) = 2**(e - 52) for
  2**e <= |exact| < 2**(e + 1), at least 2**-1074; infinite when y has the
  wrong class (NaN, infinity or zero sign) compared with libm.
* Paths: the numpy interpreter, and ``fn(x)`` and ``fn.batch`` of
  ``symdiff.compile`` with ``vector_math`` on (vecmath) and off (libm).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

import symdiff as sd
from compiler import vecmath as vm
from symdiff.core.symbolic import apply

NAMES = sorted(vm.SUPPORTED)

MP_FUNCS = {
    "exp": mpmath.exp, "log": mpmath.log, "sin": mpmath.sin, "cos": mpmath.cos,
    "tanh": mpmath.tanh, "log1p": mpmath.log1p, "expm1": mpmath.expm1,
    "cosh": mpmath.cosh, "sinh": mpmath.sinh,
}
LIBM_FUNCS = {
    "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "log1p": np.log1p, "expm1": np.expm1,
    "cosh": np.cosh, "sinh": np.sinh,
}

#: Stated bounds of the libm path (vector_math=False), in ulps of the exact
#: value: glibc is below 1 ulp for these, except tanh, cosh and sinh (up to
#: 1.95, 1.59 and 1.53 ulp; see symdiff.lab.accuracy.NOTES).
LIBM_ULP = {name: 1.0 for name in NAMES}
LIBM_ULP.update(tanh=2.0, cosh=2.0, sinh=2.0)

#: (label, vector_math, how): the compiled paths.
COMPILED_PATHS = (
    ("fn, vector_math", True, "call"),
    ("batch, vector_math", True, "batch"),
    ("fn, libm", False, "call"),
    ("batch, libm", False, "batch"),
)
INTERPRETER = "interpreter"
PATHS = (INTERPRETER, *(label for label, _, _ in COMPILED_PATHS))

TINY = 5e-324
BIG = 1.7976931348623157e308
INF = math.inf
# The double closest to a multiple of pi/2 (6381956970095103 * 2**797, within
# 2**-61 of one; Muller, "Elementary Functions", table 11.1): the hardest
# argument reduction in the format.
HARDEST_PIO2 = 6381956970095103 * 2.0 ** 797


def stated_bound(name: str, path: str) -> float:
    """The ulp bound promised on ``path`` (vecmath's for vector_math paths,
    glibc's otherwise; the interpreter is numpy, measured, not promised)."""
    if "vector_math" in path:
        return vm.VECMATH_ULP[name]
    return LIBM_ULP[name]


def random_bit_patterns(n: int, seed: int) -> np.ndarray:
    """``n`` float64 values with uniformly random bit patterns."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2 ** 64, n, dtype=np.uint64, endpoint=False).view(np.float64)


def _around(*values: float) -> list[float]:
    """Each value and its two neighbouring doubles."""
    out = []
    for v in values:
        out += [np.nextafter(v, -INF), v, np.nextafter(v, INF)]
    return out


def _near_pio2_multiples() -> list[float]:
    """Doubles nearest to k*pi/2 for k up to about 2**60, around the limits
    where vecmath's sin/cos hand over to libm, and the hardest case."""
    ks = [1, 2, 3, 4, 7, 355, 2 ** 10 + 1, 710, 2 ** 21, 2 ** 21 + 1, 2 ** 22, 2 ** 23 - 1,
          2 ** 30, 2 ** 44, 2 ** 44 + 1, 2 ** 45, 2 ** 46 - 1, 2 ** 52, 2 ** 60]
    out = []
    with mpmath.workprec(200):
        for k in ks:
            out += _around(float(k * mpmath.pi / 2))
    for limit in (vm.SINCOS_ACCURATE_LIMIT, vm.SINCOS_ACCURATE_LIMIT_FMA):
        out += _around(limit, -limit)
    return out + [HARDEST_PIO2, -HARDEST_PIO2, np.nextafter(HARDEST_PIO2, INF)]


# cosh/sinh: the overflow of e^x (709.78) and of cosh/sinh (1025 ln2), the
# sinh switch at 22, k = round(|x|/ln2) changing at ln2/2 and 3 ln2/2.
_HYPERBOLIC = _around(709.782712893384, 710.4758600739439, -710.4758600739439, 22.0, -22.0,
                      0.34657359027997264, 1.0397207708399179, -1.0397207708399179)


def special_points(name: str) -> np.ndarray:
    """Signed zeros, infinities, NaN, the extreme doubles and the points
    where ``name`` changes regime (overflow, underflow, saturation, domain
    ends, multiples of pi/2)."""
    common = [0.0, -0.0, INF, -INF, math.nan, TINY, -TINY, BIG, -BIG,
              2.2250738585072014e-308, -2.2250738585072014e-308, 1.0, -1.0,
              2.0 ** -26, 2.0 ** -54, -(2.0 ** -54)]
    extra = {
        "exp": _around(709.782712893384, -708.3964185322641, -745.1332191019411,
                       -745.1332191019412, 710.0, -750.0),
        "expm1": _around(709.782712893384, -37.5, -45.0, 710.0, 0.34657359027997264),
        "log": _around(2.2250738585072014e-308, TINY, 0.7071067811865476, 1.4142135623730951),
        "log1p": _around(-1.0, -0.5, 2.0 ** 53, 0.41421356237309503) + [-1.0 + 2.0 ** -53],
        "sin": _near_pio2_multiples(),
        "cos": _near_pio2_multiples(),
        "tanh": _around(19.06, 22.0, -22.0, 0.55, 0.625),
        "cosh": _HYPERBOLIC,
        "sinh": _HYPERBOLIC + _around(2.0 ** -26, -(2.0 ** -26)),
    }[name]
    return np.array(common + extra, dtype=np.float64)


def sample(name: str, n_random: int, seed: int) -> np.ndarray:
    """``n_random`` random bit patterns followed by ``special_points(name)``."""
    return np.concatenate([random_bit_patterns(n_random, seed), special_points(name)])


def libm(name: str, x: np.ndarray) -> np.ndarray:
    """numpy's ``name`` (libm semantics for NaN, infinities and zero signs)."""
    with np.errstate(all="ignore"):
        return LIBM_FUNCS[name](x)


class Reference:
    """Exact values of ``name`` at ``x``: ``hi`` (a nearby double, or libm's
    NaN/infinity where there is no finite exact value), ``ulp`` (of the exact
    value) and ``frac`` ((exact - hi) / ulp)."""

    def __init__(self, name: str, x: np.ndarray):
        self.name = name
        self.x = x
        self.libm = libm(name, x)
        self.hi = self.libm.copy()
        self.ulp = np.ones_like(x)
        self.frac = np.zeros_like(x)
        f = MP_FUNCS[name]
        extra_bits = name in ("sin", "cos")
        for j in np.flatnonzero(np.isfinite(self.libm)).tolist():
            v = float(x[j])
            prec = 120 + (max(0, math.frexp(v)[1]) if extra_bits else 0)
            with mpmath.workprec(prec):
                r = f(mpmath.mpf(v))
                ulp_exp = -1074
                if r != 0:
                    ulp_exp = max(int(mpmath.frexp(r)[1]) - 53, -1074)
                u = mpmath.ldexp(1, ulp_exp)
                h = float(r)
                if math.isinf(h):   # exact value just above DBL_MAX, libm finite
                    h = math.copysign(BIG, h)
                self.hi[j] = h
                self.ulp[j] = float(u)
                self.frac[j] = float((r - h) / u)

    def errors(self, y: np.ndarray) -> np.ndarray:
        """|y - exact| in ulps of the exact value, per point; ``inf`` where y
        is NaN, infinite or a zero of the other sign while libm's is not
        (and 0 where it matches libm's NaN or infinity)."""
        y = np.asarray(y, dtype=np.float64)
        finite = np.isfinite(self.libm)
        with np.errstate(all="ignore"):
            err = np.abs((y - self.hi) / self.ulp - self.frac)
        err = np.where(finite & np.isfinite(y), err, np.inf)
        same_special = ~finite & ((np.isnan(y) & np.isnan(self.libm)) | (y == self.libm))
        err = np.where(same_special, 0.0, err)
        wrong_zero = (self.libm == 0) & (y == 0) & (np.signbit(y) != np.signbit(self.libm))
        return np.where(wrong_zero, np.inf, err)


def compiled(name: str, vector_math: bool):
    """``symdiff.compile`` of the one-op program ``name(x)``."""
    x = sd.symbol("x")
    return sd.compile([apply(name, x)], [x], vector_math=vector_math)


def evaluate_paths(name: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """``name`` at every point of ``x`` on each path of PATHS."""
    xs = sd.symbol("x")
    with np.errstate(all="ignore"):
        out = {INTERPRETER: np.asarray(sd.evaluate(apply(name, xs), {"x": x}), dtype=np.float64)}
    fns = {vmath: compiled(name, vmath) for vmath in (True, False)}
    for label, vmath, how in COMPILED_PATHS:
        fn = fns[vmath]
        if how == "batch":
            out[label] = fn.batch(x.reshape(-1, 1))[:, 0]
        else:
            buf = np.empty(1)
            out[label] = np.array([fn([v], out=buf)[0] for v in x.tolist()])
    return out


def measure(name: str, n_random: int, seed: int):
    """(points, Reference, {path: values}, {path: ulp errors})."""
    x = sample(name, n_random, seed)
    ref = Reference(name, x)
    values = evaluate_paths(name, x)
    return x, ref, values, {p: ref.errors(v) for p, v in values.items()}
