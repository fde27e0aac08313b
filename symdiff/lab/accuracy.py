"""Accuracy of compiled code, per primitive: the stated ulp bounds and the
measurement behind them.

symdiff compiles with strict IEEE semantics (no fast-math unless asked for),
so the error of a compiled primitive is the error of the code it lowers to:

* ``"libm"`` path (``vector_math=False``): one IR instruction for the
  arithmetic (correctly rounded), LLVM intrinsics that become calls to
  glibc's ``exp``/``log``/``sin``/``cos``/``pow``, glibc's ``tan``,
  ``asin`` ... directly, and the composites sigmoid/softplus built from them;
* ``"vector"`` path (``vector_math=True``, the default): the same, except that
  in small inlined programs exp, log, sin, cos, tanh, log1p, expm1, cosh and
  sinh come from :mod:`compiler.vecmath` (branch-free, vectorizable, < 1 ulp against
  the exact value; sin/cos reduce ``|x| <= 2**45`` (``2**22`` without FMA)
  themselves and return glibc's result beyond), and so do the exp and
  log1p inside sigmoid and softplus.

:data:`ULP_BOUNDS` states, for every op of :data:`symdiff.core.ops.OPS` and both
paths, the largest distance in ulps between the compiled result and the
correctly rounded result seen over the domain in :data:`DOMAINS` (0 means
correctly rounded on every point tried; 1 means off by at most one ulp, i.e.
faithful).  These are measured bounds, not proofs: the numbers come from
:func:`measure` over 20,000-point samples (``python -m symdiff.lab.accuracy``
prints them next to the bounds) and 200,000-point sweeps with two more
seeds, on an x86-64 host with FMA and AVX-512, glibc 2.36 and LLVM 22
(llvmlite 0.50); ``tests/test_compiler_accuracy.py`` re-checks them on a
fresh sample on every run.  glibc's functions are within 1 ulp on these
domains except sinh, cosh and tanh, which are off by 2 ulp at some points
(stated as such); over the whole float64 range glibc's cos is also 8 ulp
off at 6381956970095103 * 2^797, the double nearest a multiple of pi/2
(``tests/vecmath_oracle.py``: ``HARDEST_PIO2``, every path returns glibc there);
vecmath's (including its tanh, cosh and sinh) are within 1 ulp; the
composites sigmoid and softplus within 2.
:data:`POW_INT_BOUNDS` states the bounds for ``x ** n`` with a constant
integer ``n``, which the compiler lowers to repeated multiplication instead
of ``pow`` (up to |n| ulp).

The reference is :data:`symdiff.numeric.reference.MP_OPS` evaluated in mpmath at 50
significant digits (exact arithmetic for add, sub, mul and the piecewise
ops) and rounded once to the nearest double by :func:`to_double`.  NaN
agrees with NaN, an infinity with the same infinity; an infinity sits one
ulp beyond the largest finite double, as in IEEE rounding.  mpmath has no
signed zero, so the sign of a zero result is not checked here (the compiler
tests check it against numpy).

This module measures primitives one at a time.  Whole expressions and
their gradients, per method (compiled, stabilized, interpreter, JAX,
SymPy), in bits of error over a domain: :mod:`symdiff.lab.expr_accuracy`,
with the corpus of :mod:`symdiff.lab.accuracy_corpus`.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from dataclasses import dataclass
from typing import Callable

import mpmath
import numpy as np
from mpmath import mpf
from mpmath.libmp import normalize, round_nearest

from symdiff.core.ops import OPS, POW_UNROLLED
from symdiff.lab.bits import ulp_distance

__all__ = ["PATHS", "ULP_BOUNDS", "NOTES", "DOMAINS", "HARD_CASES", "POW_INT_BOUNDS",
           "POW_CONST_EXPONENTS", "Domain", "to_double", "ulp_errors", "sample", "reference",
           "measure", "worst", "measure_pow", "report", "main"]

#: The two compilation paths: ``compiler.compile(..., vector_math=False)`` and
#: ``vector_math=True``.
PATHS = ("libm", "vector")

_DPS = 50                 # digits for every op whose result is not exact
_EXACT_PREC = 2300        # bits: a sum or product of two doubles is exact
_EXACT_OPS = frozenset({"add", "sub", "mul", "neg", "abs", "relu", "max", "min", "step",
                        "sign", "eq"})

# ---------------------------------------------------------------------------
# Stated bounds.  Distance in ulps from the correctly rounded result, max over
# DOMAINS[op]; {op: {"libm": bound, "vector": bound}}.

# (libm, vector) per op.  0: correctly rounded or exact on every point tried.
_BOUNDS = {
    "add": (0, 0), "sub": (0, 0), "mul": (0, 0), "div": (0, 0), "neg": (0, 0),
    "pow": (1, 1),
    "exp": (1, 1), "log": (1, 1), "log1p": (1, 1), "expm1": (1, 1),
    "sqrt": (0, 0),
    "sin": (1, 1), "cos": (1, 1), "tan": (1, 1),
    "asin": (1, 1), "acos": (1, 1), "atan": (1, 1),
    "sinh": (2, 1), "cosh": (2, 1), "tanh": (2, 1),
    "sigmoid": (2, 2), "softplus": (2, 2),
    "relu": (0, 0), "abs": (0, 0), "max": (0, 0), "min": (0, 0),
    "step": (0, 0), "sign": (0, 0), "eq": (0, 0),
    "hypot": (1, 1), "logsumexp": (1, 1),
}

#: Max distance in ulps from the correctly rounded result, per op and path:
#: ``ULP_BOUNDS[op]["libm"]`` and ``ULP_BOUNDS[op]["vector"]``.
ULP_BOUNDS: dict[str, dict[str, float]] = {
    name: {"libm": float(lb), "vector": float(vb)} for name, (lb, vb) in _BOUNDS.items()}

#: Where each bound comes from (one line per op).
NOTES: dict[str, str] = {
    "add": "one IEEE fadd: correctly rounded",
    "sub": "one IEEE fsub: correctly rounded",
    "mul": "one IEEE fmul: correctly rounded",
    "div": "one IEEE fdiv: correctly rounded",
    "neg": "sign flip: exact",
    "pow": "llvm.pow -> glibc pow (< 1 ulp, C99 special cases). Only x^2 = x*x and "
           "x^-1 = 1/x (symdiff.core.ops.POW_UNROLLED), one correctly rounded operation "
           "each, skip pow: see POW_INT_BOUNDS",
    "exp": "llvm.exp -> glibc exp; vector: vecmath exp (< 0.8 ulp vs exact)",
    "log": "llvm.log -> glibc log; vector: vecmath log (< 0.8 ulp vs exact)",
    "log1p": "glibc log1p; vector: vecmath log1p (< 0.8 ulp vs exact)",
    "expm1": "glibc expm1; vector: vecmath expm1 (< 0.8 ulp vs exact)",
    "sqrt": "llvm.sqrt -> the hardware square root: correctly rounded",
    "sin": "llvm.sin -> glibc sin (any |x|); vector: vecmath sin (< 0.9 ulp vs exact) "
           "for |x| <= 2^45 (2^22 without FMA); beyond, glibc's own result (cold branch)",
    "cos": "llvm.cos -> glibc cos (any |x|); vector: vecmath cos (< 0.9 ulp vs exact) "
           "for |x| <= 2^45 (2^22 without FMA); beyond, glibc's own result (cold branch)",
    "tan": "glibc tan (< 1 ulp) on both paths",
    "asin": "glibc asin (< 1 ulp) on both paths",
    "acos": "glibc acos (< 1 ulp) on both paths",
    "atan": "glibc atan (< 1 ulp) on both paths",
    "sinh": "glibc sinh: NOT within 1 ulp: 2 ulp off at x = -0.6969180824163697 and near "
            "-710 (see HARD_CASES); up to 1.53 ulp vs exact; vector: vecmath sinh (< 0.8 ulp "
            "vs exact), used only in small inlined programs: larger ones call glibc",
    "cosh": "glibc cosh: NOT within 1 ulp: 2 ulp off near +-710, e.g. x = 710.2474250319149; "
            "up to 1.59 ulp vs exact; vector: vecmath cosh (< 0.8 ulp vs exact), used only in "
            "small inlined programs: larger ones call glibc",
    "tanh": "glibc tanh: NOT within 1 ulp: 2 ulp off at x = -0.21086141686883147 (up to "
            "1.95 ulp vs exact, |x| in about 0.2-0.55); vector: vecmath tanh (< 0.8 ulp vs "
            "exact), used only in small inlined programs: larger ones call glibc",
    "sigmoid": "composite 1/(1 + e) or e/(1 + e), e = exp(-|x|): exp's error plus "
               "two roundings (add, divide): 2 ulp off at x = -7.81458921744742; up to "
               "1.72 ulp vs exact",
    "softplus": "composite max(x, 0) + log1p(exp(-|x|)): the errors of exp and log1p "
                "plus the final add: 2 ulp off (libm) at x = -1.266902521555312; up to "
                "1.52 ulp vs exact",
    "relu": "compare and select: exact",
    "abs": "llvm.fabs (clears the sign bit): exact",
    "max": "llvm.maximumnum (IEEE 754-2019 maximumNumber, -0 < +0): exact",
    "min": "llvm.minimumnum (IEEE 754-2019 minimumNumber, -0 < +0): exact",
    "step": "compares and selects: exact",
    "sign": "compares and selects: exact",
    "eq": "compare and select: exact",
    "hypot": "glibc hypot on both paths: within 1 ulp; the squares never overflow or underflow",
    "logsumexp": "a fold of a + log1p(exp(b - a)), a the larger (numpy's logaddexp): within "
                 "1 ulp for arguments >= 0; where the result nears 0 the error follows the "
                 "condition number max|a|/|result| (45 ulp at (-3.278, -0.0379))",
}

#: ``x ** n`` for a constant integer ``n``: max distance in ulps from the
#: correctly rounded result.  x^2 = x*x and x^-1 = 1/x (POW_UNROLLED) are
#: one correctly rounded operation (0); every other n calls glibc's pow
#: (< 1 ulp), never less accurate than libm over the whole float64 range
#: (tests/test_edges.py; unrolling x^3 cost 2 ulp and x^-3 underflowed to 0
#: at x = 1e103).
POW_INT_BOUNDS: dict[int, float] = {
    n: 0.0 if float(n) in POW_UNROLLED else 1.0 for n in range(-16, 17)}

#: Constant exponents other than 2 and -1 (POW_UNROLLED): glibc's pow, within 1 ulp.
POW_CONST_EXPONENTS = (0.5, -0.5, 1.5, 2.5, -2.75, 1.0 / 3.0, 16.5, 17.0, -40.0)


# ---------------------------------------------------------------------------
# Sampling


@dataclass(frozen=True)
class Domain:
    """Sample points for one op: ``text`` describes them in the table and
    ``draw(rng, n)`` returns an ``(n, arity)`` float64 array."""

    text: str
    draw: Callable[[np.random.Generator, int], np.ndarray]
    max_abs: float = math.inf   # finite special values beyond this are left out


def _logu(rng, n, lo, hi, signed=True):
    # Magnitudes log-uniform in [lo, hi], random signs if signed.
    x = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
    if signed:
        x *= rng.choice([-1.0, 1.0], n)
    return x


def _mix(rng, n, parts):
    # Concatenate draws from parts = [(weight, fn(rng, k)), ...], shuffled.
    total = sum(w for w, _ in parts)
    counts = [int(n * w / total) for w, _ in parts]
    counts[0] += n - sum(counts)
    x = np.concatenate([fn(rng, k) for (_, fn), k in zip(parts, counts)])
    return x[rng.permutation(n)]


_TINY = 5e-324
_MIN_NORMAL = 2.2250738585072014e-308


def _real(rng, n, wide=None):
    parts = [(70, lambda r, k: _logu(r, k, 1e-3, 50.0)),
             (15, lambda r, k: r.uniform(-50.0, 50.0, k)),
             (15, lambda r, k: _logu(r, k, _TINY, 1e-3))]
    if wide is not None:
        lo, hi = wide
        parts.append((100, lambda r, k: r.uniform(lo, hi, k)))
    return _mix(rng, n, parts)


def _positive(rng, n):
    return _mix(rng, n, [(80, lambda r, k: _logu(r, k, 1e-300, 1e300, False)),
                         (10, lambda r, k: 1.0 + _logu(r, k, 1e-16, 0.5)),
                         (10, lambda r, k: _logu(r, k, _TINY, _MIN_NORMAL, False))])


def _unit(rng, n):
    return _mix(rng, n, [(40, lambda r, k: r.uniform(-1.0, 1.0, k)),
                         (30, lambda r, k: r.choice([-1.0, 1.0], k)
                          * (1.0 - _logu(r, k, 1e-16, 0.5, False))),
                         (30, lambda r, k: _logu(r, k, 1e-300, 0.5))])


def _gt_minus1(rng, n):
    return _mix(rng, n, [(30, lambda r, k: -1.0 + _logu(r, k, 1e-16, 1.0, False)),
                         (30, lambda r, k: _logu(r, k, 1e-300, 0.5)),
                         (40, lambda r, k: _logu(r, k, 0.5, 1e300, False))])


def _nonzero(rng, n):
    return _logu(rng, n, 1e-300, 1e300)


def _trig(rng, n):
    return _mix(rng, n, [(50, lambda r, k: _logu(r, k, _TINY, math.pi / 2)),
                         (50, lambda r, k: r.uniform(-50.0, 50.0, k))])


# OpDef.domain tag -> (description, sampler of one argument).  Domain texts
# name the tags; the report prints this legend under the table.
_TAGS = {
    "real": ("±log-uniform [1e-3, 50] (70%), uniform (-50, 50) (15%), "
             "±log-uniform [5e-324, 1e-3] (15%)", _real),
    "positive": ("log-uniform [1e-300, 1e300] (80%), 1 ± log-uniform [1e-16, 0.5] (10%), "
                 "log-uniform subnormals (10%)", _positive),
    "unit": ("uniform (-1, 1) (40%), ±(1 - log-uniform [1e-16, 0.5]) (30%), "
             "±log-uniform [1e-300, 0.5] (30%)", _unit),
    "gt_minus1": ("-1 + log-uniform [1e-16, 1] (30%), ±log-uniform [1e-300, 0.5] (30%), "
                  "log-uniform [0.5, 1e300] (40%)", _gt_minus1),
    "nonzero": ("±log-uniform [1e-300, 1e300]", _nonzero),
    "trig": ("±log-uniform [5e-324, pi/2] (50%), uniform (-50, 50) (50%)", _trig),
}

# A few special values appended to every sample (per argument kind).  -0.0 is
# left out where the sign of a zero decides the result (1/-0.0 = -inf), since
# the mpmath reference has no signed zero.
_SPECIAL = [0.0, -0.0, math.inf, -math.inf, math.nan, _TINY, -_TINY, _MIN_NORMAL,
            -_MIN_NORMAL, sys.float_info.max, -sys.float_info.max, 1.0, -1.0]
_SPECIAL_BINARY = [0.0, -0.0, 1.0, -1.0, 2.5, -3.0, math.inf, -math.inf, math.nan]


#: Hard cases found by 200,000-point sweeps (inputs where the compiled code
#: reached its stated bound on this host), appended to every sample of the
#: op so that the table and the tests always include them.
HARD_CASES: dict[str, list[tuple]] = {
    "tanh": [(-0.21086141686883147,), (0.5356052556746868,), (-0.20364876552545585,)],
    "sinh": [(-0.6969180824163697,), (-710.1283526803161,), (0.002878969755407102,)],
    "cosh": [(710.2474250319149,), (-710.4050461704851,), (10.950535182584202,)],
    "sigmoid": [(-7.81458921744742,), (-27.781998382525785,), (-1.3533019280480403,)],
    "softplus": [(-1.266902521555312,), (0.010744446906285333,)],
    "exp": [(-708.8760775984214,), (-418.29887280519534,)],
    "log1p": [(-0.9999999998201757,), (-1.4015347572072217e-16,)],
    "pow": [(0.9999999920009953, 544048881.1006603), (-36.78724011346372, -31.0)],
}


def _unary_domain(tag, wide=None):
    if wide is not None:
        # Half the points from "real", half uniform over the wide range.
        return Domain(f"{tag} (50%), uniform ({wide[0]:g}, {wide[1]:g}) (50%)",
                      lambda r, n: _real(r, n, wide)[:, None])
    fn = _TAGS[tag][1]
    return Domain(tag, lambda r, n: fn(r, n)[:, None])


def _angle(limit: float, label: str) -> Domain:
    # sin/cos: the real sampler plus ±log-uniform [50, limit].
    def draw(r, n):
        x = _mix(r, n, [(50, lambda rr, k: _real(rr, k)),
                        (50, lambda rr, k: _logu(rr, k, 50.0, limit))])
        return x[:, None]

    return Domain(f"real (50%), ±log-uniform [50, {label}] (50%)", draw, limit)


def _binary_domain(tags, ties=False):
    text = f"x: {tags[0]}, y: {tags[1]}" if tags[0] != tags[1] else f"x, y: {tags[0]}"

    def draw(r, n):
        x = _TAGS[tags[0]][1](r, n)
        y = _TAGS[tags[1]][1](r, n)
        if ties:  # 20% of the rows have x == y
            k = r.random(n) < 0.2
            y[k] = x[k]
        return np.column_stack([x, y])

    return Domain(text + ("; 20% ties x == y" if ties else ""), draw)


def _pow_draw(r, n):
    def plain(rr, k):       # moderate bases and exponents
        return np.column_stack([_logu(rr, k, 1e-3, 1e3, False), rr.uniform(-50.0, 50.0, k)])

    def wide(rr, k):        # any base, exponent chosen so that x^y = e^t, |t| <= 700
        x = _logu(rr, k, 1e-300, 1e300, False)
        lx = np.log(x)
        lx[np.abs(lx) < 1e-3] = 1e-3
        return np.column_stack([x, rr.uniform(-700.0, 700.0, k) / lx])

    def near_one(rr, k):    # x = 1 ± tiny, huge y: the hard case for pow
        return np.column_stack([1.0 + _logu(rr, k, 1e-16, 1e-2), _logu(rr, k, 1.0, 1e15)])

    def negative(rr, k):    # negative bases with integer exponents
        return np.column_stack([-_logu(rr, k, 1e-3, 1e3, False),
                                rr.integers(-50, 51, k).astype(np.float64)])

    parts = [(40, plain), (30, wide), (15, near_one), (15, negative)]
    total = sum(w for w, _ in parts)
    counts = [int(n * w / total) for w, _ in parts]
    counts[0] += n - sum(counts)
    X = np.concatenate([fn(r, k) for (_, fn), k in zip(parts, counts)])
    return X[r.permutation(n)]


def _build_domains() -> dict:
    d: dict[str, dict[str, Domain]] = {}
    for name, op in OPS.items():
        if op.arity == 1:
            dom = _unary_domain(op.domain[0])
        else:
            dom = _binary_domain(op.domain[:2] if len(op.domain) >= 2 else ("real", "real"),
                                 ties=name in ("max", "min", "eq"))
        d[name] = {"libm": dom, "vector": dom}
    # Wider ranges where the default tag would miss the interesting part.
    for name, wide in {"exp": (-745.2, 709.8), "expm1": (-50.0, 709.8),
                       "sinh": (-711.0, 711.0), "cosh": (-711.0, 711.0),
                       "sigmoid": (-746.0, 40.0), "softplus": (-746.0, 100.0)}.items():
        dom = _unary_domain("real", wide)
        d[name] = {"libm": dom, "vector": dom}
    atan = Domain("±log-uniform [5e-324, 1e300]", lambda r, n: _logu(r, n, _TINY, 1e300)[:, None])
    d["atan"] = {"libm": atan, "vector": atan}
    for name in ("sin", "cos"):
        d[name] = {"libm": _angle(1e22, "1e22"), "vector": _angle(1e22, "1e22")}
    pw = Domain("x log-uniform [1e-3, 1e3], y uniform (-50, 50) (40%); x log-uniform "
                "[1e-300, 1e300], y such that x^y is in [e^-700, e^700] (30%); "
                "x = 1 ± log-uniform [1e-16, 1e-2], y log-uniform [1, 1e15] (15%); "
                "x in -[1e-3, 1e3], y an integer in [-50, 50] (15%)", _pow_draw)
    d["pow"] = {"libm": pw, "vector": pw}
    lse = Domain("both arguments >= 0: log-uniform [1e-300, 700] (50%), uniform [0, 50) (50%)",
                 lambda r, n: np.column_stack([
                     _mix(r, n, [(50, lambda q, k: _logu(q, k, 1e-300, 700.0, False)),
                                 (50, lambda q, k: q.uniform(0.0, 50.0, k))])
                     for _ in range(2)]),
                 max_abs=700.0)
    d["logsumexp"] = {"libm": lse, "vector": lse}
    return d


#: The sample domain of every op and path: ``DOMAINS[op][path]``.
DOMAINS: dict[str, dict[str, Domain]] = _build_domains()


def _specials(name: str, dom: Domain) -> np.ndarray:
    special = _special_values(name, dom)
    hard = np.array(HARD_CASES.get(name, []), dtype=np.float64).reshape(-1, special.shape[1])
    return np.concatenate([special, hard])


def _special_values(name: str, dom: Domain) -> np.ndarray:
    op = OPS[name]
    if op.arity == 1:
        x = np.array(_SPECIAL)
        return x[~(np.abs(x) > dom.max_abs) | ~np.isfinite(x)][:, None]
    vals = _SPECIAL_BINARY
    X = np.array([(a, b) for a in vals for b in vals])
    if name == "div":
        X = X[~((X[:, 1] == 0) & np.signbit(X[:, 1]))]
    if name == "pow":
        # IEEE pow of a negative base or -0.0 to a special exponent (pow(-1, inf)
        # = 1, pow(-inf, 0.5) = inf, pow(-0, -1) = -inf) is not what
        # MP_OPS models; positive bases only.
        X = X[~np.signbit(X[:, 0])]
    return X


def sample(op_name: str, path: str = "libm", n_points: int = 20000, seed: int = 0) -> np.ndarray:
    """``(n_points + specials, arity)`` sample points for ``op_name`` on
    ``path``: ``n_points`` random rows from :data:`DOMAINS` (reproducible from
    ``seed``) followed by special values (zeros, infinities, NaN,
    subnormals, the largest double) and the op's :data:`HARD_CASES`."""
    return _sample(op_name, DOMAINS[op_name][path], n_points, seed)


def _sample(op_name: str, dom: Domain, n_points: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, sorted(OPS).index(op_name)])
    X = np.asarray(dom.draw(rng, n_points), dtype=np.float64)
    return np.ascontiguousarray(np.concatenate([X, _specials(op_name, dom)]))


# ---------------------------------------------------------------------------
# Reference values and errors


def to_double(v) -> float:
    """The double nearest to the mpf ``v`` (ties to even), with gradual
    underflow and overflow to infinity as in IEEE arithmetic.

    ``float(v)`` is mpmath's conversion: it rounds to 53 bits and then lets
    ``ldexp`` round again, which can be off by one in the subnormal range.
    Here mpmath's rounding (``normalize``) is applied once, at the precision
    the result's binade actually has."""
    if not isinstance(v, mpf):
        v = mpf(v)            # (an mpf is used as is: mpf(v) would round it to mp.prec)
    if not mpmath.isfinite(v):
        return float(v)
    sign, man, exp, bc = v._mpf_
    if not man:
        return 0.0
    top = exp + bc - 1                   # 2^top <= |v| < 2^(top + 1)
    prec = 53 if top >= -1022 else top + 1075
    s = -1.0 if sign else 1.0
    if prec <= 0:
        # |v| < 2^-1074: rounds to 0, or to 2^-1074 if above the midpoint 2^-1075.
        return s * _TINY if (top == -1075 and man != 1 << (bc - 1)) else s * 0.0
    sign, man, exp, bc = normalize(sign, man, exp, bc, prec, round_nearest)
    try:
        return s * math.ldexp(man, exp)   # exact: man has <= 53 bits
    except OverflowError:
        return s * math.inf


def ulp_errors(got, ref) -> np.ndarray:
    """Distance in ulps between ``got`` and ``ref`` (float64 arrays), as
    floats: 0 for equal values (either zero for a zero, NaN for NaN), the
    number of doubles between them otherwise (an infinity counts as the
    double after the largest finite one), ``inf`` if one is NaN and the
    other is not."""
    return ulp_distance(np.asarray(got, dtype=np.float64).ravel(),
                        np.asarray(ref, dtype=np.float64).ravel())


def _exact_errors(got: np.ndarray, exact: list) -> np.ndarray:
    # |got - exact| in ulps of the exact value (fractional), for finite
    # exact values whose correctly rounded double is finite; elsewhere the
    # rounded comparison decides (0 or inf).
    out = np.zeros(len(got))
    with mpmath.workdps(_DPS):
        for k, (g, v) in enumerate(zip(got.tolist(), exact)):
            if not mpmath.isfinite(v) or not math.isfinite(to_double(v)) or not math.isfinite(g):
                r = to_double(v)
                same = (math.isnan(g) and math.isnan(r)) or g == r
                out[k] = 0.0 if same else math.inf
                continue
            _, man, exp, bc = v._mpf_
            q = max(exp + bc - 1 - 52, -1074) if man else -1074   # ulp(v) = 2^q
            out[k] = float(abs(mpf(g) - v) / mpmath.ldexp(1, q))
    return out


def _mp_values(op_name: str, X: np.ndarray) -> list:
    fn = _mp_op(op_name)
    rows = X.tolist()
    if op_name in _EXACT_OPS:
        ctx = mpmath.workprec(_EXACT_PREC)
    else:
        ctx = mpmath.workdps(_DPS)
    with ctx:
        return [fn(*[mpf(v) for v in row]) for row in rows]


def _mp_op(op_name: str):
    from symdiff.numeric.reference import MP_OPS

    return MP_OPS[op_name]


@functools.lru_cache(maxsize=64)
def _reference_cached(op_name: str, dom: Domain, n_points: int, seed: int):
    # Keyed by the Domain, so paths sampling the same domain share the work.
    X = _sample(op_name, dom, n_points, seed)
    exact = _mp_values(op_name, X)
    ref = np.array([to_double(v) for v in exact])
    X.setflags(write=False)
    ref.setflags(write=False)
    return X, ref, exact


def reference(op_name: str, X: np.ndarray) -> np.ndarray:
    """Correctly rounded values of ``op_name`` at the rows of ``X`` (mpmath
    at 50 digits, exact for the exact ops, rounded by :func:`to_double`)."""
    return np.array([to_double(v) for v in _mp_values(op_name, np.asarray(X, np.float64))])


# ---------------------------------------------------------------------------
# Compiled code


def _compiled(expr, inputs, path: str):
    import compiler

    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; expected one of {PATHS}")
    return compiler.compile([expr], inputs, vector_math=(path == "vector"))


def _op_function(op_name: str, path: str):
    # f = op(x) or op(x, y): one output, one or two inputs.
    from symdiff.core import symbolic as build
    from symdiff.core.node import symbol

    op = OPS[op_name]
    n = 1 if op.arity == 1 else 2
    xs = [symbol(v) for v in "xy"[:n]]
    return _compiled(build.apply(op_name, *xs), ["x", "y"][:n], path)


def _errors(op_name: str, path: str, n_points: int, seed: int):
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; expected one of {PATHS}")
    X, ref, exact = _reference_cached(op_name, DOMAINS[op_name][path], n_points, seed)
    got = _op_function(op_name, path).batch(X)[:, 0]
    return X, got, ulp_errors(got, ref), exact


def measure(op_name: str, path: str = "libm", n_points: int = 20000, seed: int = 0, *,
            exact: bool = False) -> float:
    """Max error in ulps of the compiled ``op_name`` on ``path`` over
    :func:`sample` points.

    The op is compiled once as ``f = op(x)`` (``op(x, y)`` for binary ops)
    with ``vector_math = (path == "vector")`` and evaluated with
    ``fn.batch`` on the whole sample, so the batch kernel (vectorized where
    the compiler vectorizes) is what is measured.  Default: the distance in
    ulps from the correctly rounded reference (what :data:`ULP_BOUNDS`
    states).  ``exact=True``: the error against the unrounded 50-digit
    value in ulps of that value (fractional; 0.5 means correctly rounded in
    the worst case).  References are cached per (op, domain, n_points, seed).
    """
    if op_name not in OPS:
        raise ValueError(f"unknown op {op_name!r}")
    _, got, err, ex = _errors(op_name, path, n_points, seed)
    if exact:
        err = _exact_errors(got, ex)
    return float(err.max()) if err.size else 0.0


def worst(op_name: str, path: str = "libm", n_points: int = 20000, seed: int = 0):
    """``(inputs, got, correctly rounded reference, ulps)`` at the worst sample
    point of :func:`measure` (for diagnosing a bound)."""
    X, got, err, exact = _errors(op_name, path, n_points, seed)
    k = int(np.argmax(err))
    return tuple(X[k].tolist()), float(got[k]), to_double(exact[k]), float(err[k])


# --- x ** c with a constant exponent c ---------------------------------------

def _pow_points(c: float, n_points: int, seed: int) -> np.ndarray:
    # |x|^c in the normal range: log2|x| uniform in (-1021/|c|, 1023/|c|), so
    # every product of the binary powering is normal too.  Both signs for an
    # integer c (x < 0 gives NaN otherwise).
    rng = np.random.default_rng([seed, int(abs(c) * 1000) + (1 << 20 if c < 0 else 0)])
    a = abs(c)
    x = np.exp2(rng.uniform(-1021.0 / max(a, 1.0), 1023.0 / max(a, 1.0), n_points))
    if c == int(c):
        x *= rng.choice([-1.0, 1.0], n_points)
    return np.concatenate([x, [0.0, 1.0, -1.0, 2.0, math.inf, math.nan]])[:, None]


@functools.lru_cache(maxsize=64)
def _pow_reference(c: float, n_points: int, seed: int):
    X = _pow_points(c, n_points, seed)
    pw = _mp_op("pow")
    with mpmath.workdps(_DPS):
        exact = [pw(mpf(v), mpf(c)) for v in X[:, 0].tolist()]
    X.setflags(write=False)
    return X, np.array([to_double(v) for v in exact]), exact


def measure_pow(c: float, n_points: int = 20000, seed: int = 0, *, exact: bool = False) -> float:
    """Max error in ulps of the compiled ``x ** c`` for the constant exponent
    ``c`` (``x*x`` for 2, ``1/x`` for -1 -- :data:`symdiff.core.ops.POW_UNROLLED`
    -- else glibc's pow), over ``x`` with ``|x|^c`` in the normal range.  Same
    metric and ``exact`` option as :func:`measure`; the ``libm`` path (no
    vecmath function is involved on either path)."""
    from symdiff.core import symbolic as build
    from symdiff.core.node import symbol

    X, ref, ex = _pow_reference(float(c), n_points, seed)
    got = _compiled(build.pow(symbol("x"), float(c)), ["x"], "libm").batch(X)[:, 0]
    err = _exact_errors(got, ex) if exact else ulp_errors(got, ref)
    return float(err.max())


# ---------------------------------------------------------------------------
# The report


def _cell(text: str) -> str:
    # A Markdown table cell: escape the column separator.
    return text.replace("|", "\\|")


def _fmt(v: float) -> str:
    if math.isinf(v):
        return "inf"
    return f"{v:.0f}" if v == int(v) else f"{v:.2f}"


def report(n_points: int = 20000, seed: int = 0, *, exact: bool = True, out=None) -> bool:
    """Print the table of :data:`ULP_BOUNDS` as Markdown with the measured
    values next to the stated bounds (and, with ``exact``, the error against
    the unrounded value).  Returns True if every measurement is within its
    bound."""
    out = out or sys.stdout
    from compiler import vecmath

    fma = " (FMA)" if vecmath.host_has_fma() else " (no FMA)"
    ok = True
    print(f"Compiled primitives vs a correctly rounded mpmath reference ({_DPS} digits): "
          f"{n_points} random points per op plus special values (±0, ±inf, NaN, "
          f"±5e-324, ±2.2e-308, ±DBL_MAX, ±1), seed {seed}; vecmath{fma}.\n", file=out)
    print("*measured*: max distance in ulps from the correctly rounded result; *bound*: "
          "`ULP_BOUNDS`; *vs exact*: max |got - exact| in ulps of the exact value "
          "(0.5 = correctly rounded).  Ops without a vecmath version compile to the "
          "same code on both paths.\n", file=out)
    head = "| op | libm: measured / bound | vector: measured / bound |"
    rule = "|---|---|---|"
    if exact:
        head += " vs exact (libm, vector) |"
        rule += "---|"
    print(head + " domain | note |", file=out)
    print(rule + "---|---|", file=out)
    for name in OPS:
        cells = []
        ex = []
        for path in PATHS:
            m = measure(name, path, n_points, seed)
            b = ULP_BOUNDS[name][path]
            flag = "" if m <= b else " **FAIL**"
            ok &= m <= b
            cells.append(f"{_fmt(m)} / {_fmt(b)}{flag}")
            if exact:
                ex.append(f"{measure(name, path, n_points, seed, exact=True):.3f}")
        doms = DOMAINS[name]
        dom = doms["libm"].text
        if doms["vector"].text != dom:
            dom = f"libm: {dom}; vector: {doms['vector'].text}"
        row = f"| {name} | {cells[0]} | {cells[1]} |"
        if exact:
            row += f" {', '.join(ex)} |"
        print(row + f" {_cell(dom)} | {_cell(NOTES[name])} |", file=out)
    print("\nDomains: " + "; ".join(f"*{t}* = {d}" for t, (d, _) in _TAGS.items()) + ".",
          file=out)
    print("\nx ** c, constant exponent c (x^2 is x*x and x^-1 is 1/x, one correctly "
          "rounded operation each; every other exponent calls pow; x with |x|^c in the "
          "normal range, both signs for integer c):\n", file=out)
    print("| c | measured / bound |" + (" vs exact |" if exact else ""), file=out)
    print("|---|---|" + ("---|" if exact else ""), file=out)
    consts = [(float(n), b) for n, b in sorted(POW_INT_BOUNDS.items()) if n not in (0, 1)]
    consts += [(c, ULP_BOUNDS["pow"]["libm"]) for c in POW_CONST_EXPONENTS]
    for c, b in consts:
        m = measure_pow(c, n_points, seed)
        ok &= m <= b
        row = f"| {c:g} | {_fmt(m)} / {_fmt(b)}{'' if m <= b else ' **FAIL**'} |"
        if exact:
            row += f" {measure_pow(c, n_points, seed, exact=True):.3f} |"
        print(row, file=out)
    return ok


def main(argv=None) -> int:
    """``python -m symdiff.lab.accuracy [--points N] [--seed S]``: print the
    accuracy table; exit status 1 if a measurement exceeds its bound."""
    p = argparse.ArgumentParser(prog="python -m symdiff.lab.accuracy",
                                description="Measured ulp errors of compiled primitives "
                                            "next to the stated bounds (Markdown).")
    p.add_argument("--points", type=int, default=20000, help="random points per op")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-exact", action="store_true",
                   help="skip the (slower) error against the unrounded value")
    a = p.parse_args(argv)
    return 0 if report(a.points, a.seed, exact=not a.no_exact) else 1


if __name__ == "__main__":
    sys.exit(main())
