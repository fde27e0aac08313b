"""Vectorizable elementary functions written as straight-line LLVM IR.

LLVM's loop vectorizer turns a vector ``llvm.exp``/``llvm.log`` back into one
scalar libm call per lane, so a batch loop that calls them is not vectorized.
This module defines our own ``exp``, ``log``, ``sin``, ``cos``, ``tanh``,
``log1p`` and ``expm1`` as internal ``alwaysinline`` functions built only from
fadd/fsub/fmul/fdiv, fcmp/select, integer ops on the bit pattern and the
intrinsics ``llvm.fma``/``llvm.fabs``/``llvm.copysign``.  There are no branches,
no tables and no libm calls, so once the functions are inlined into a loop the
vectorizer can keep everything in SIMD registers.

Usage::

    fns = define_vecmath(module, ["exp", "sin"])   # {"exp": <ir.Function>, ...}
    y = builder.call(fns["exp"], [x])

Every function uses the same recipe: range reduction (Cody-Waite with the
reduced argument carried as a double-double where it matters), a polynomial
whose coefficients are derived in :func:`derive_constants` (Chebyshev fits
done with mpmath, stored below as hex literals so that importing this module
needs neither mpmath nor time), and selects for the IEEE special cases.

Accuracy (``VECMATH_ULP``; measured, not proven -- tests/test_vecmath.py
asserts it on 200k points per function plus edge cases):

* every function is below 1 ulp (0.6-0.8 ulp worst seen in 10M-point sweeps),
  including gradual underflow of ``exp``, subnormal arguments of ``log`` and
  ``tanh``/``expm1``/``log1p`` near 0.
* ``sin``, ``cos``: the bound holds for ``|x| <= SINCOS_ACCURATE_LIMIT``
  (2**22 ~ 4.2e6) in both modes and, with FMA, for
  ``|x| <= SINCOS_ACCURATE_LIMIT_FMA`` (2**45 ~ 3.5e13).  There is no
  Payne-Hanek fallback (it needs a table gather per lane, paid by every call),
  so beyond the limit the result is only promised finite and in [-1, 1] for
  finite x (NaN for +-inf and NaN, like libm).  A libm fallback for huge |x|
  would put a call in the loop and stop vectorization, so there is none.
* ``tanh``: ``-expm1(-2|x|) / (expm1(-2|x|) + 2)`` with the sign restored,
  numerator and denominator carried as double-doubles and the quotient
  corrected once; accurate near 0, exactly +-1 for ``|x| > 22``.

Special values follow libm: exp(+inf)=inf, exp(-inf)=+0, overflow to inf above
709.78, gradual underflow below -708.4; log(+-0)=-inf, log(x<0)=NaN,
log(inf)=inf, log(1)=+0; sin/cos(+-inf)=NaN; odd functions keep the sign of
-0.0 (sin, tanh, expm1, log1p return tiny arguments unchanged); NaN in, NaN
out everywhere.

``use_fma`` picks between ``llvm.fma`` (exact products in the reductions and
fused Horner steps) and plain fmul+fadd with shorter Cody-Waite constants, for
CPUs without FMA where ``llvm.fma`` would become a slow libm call.  By default
it follows the host CPU (:func:`host_has_fma`).

The algorithms rely on exact IEEE evaluation order (two_sum and friends):
never put fast-math flags on these instructions or inline them into functions
carrying fast-math function attributes ("unsafe-fp-math", "no-nans-fp-math"
...).  Fast-math flags on the caller's own instructions are harmless.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

import llvmlite.ir as ir

__all__ = [
    "SUPPORTED",
    "VECMATH_ULP",
    "SINCOS_ACCURATE_LIMIT",
    "SINCOS_ACCURATE_LIMIT_FMA",
    "define_vecmath",
    "vecmath_symbol",
    "host_has_fma",
    "derive_constants",
]

SUPPORTED = frozenset({"exp", "log", "sin", "cos", "tanh", "log1p", "expm1"})

# Max error in ulps, for both use_fma=True and use_fma=False (sin/cos within
# their accurate range).  Worst cases seen in 10M log-uniform points per
# function and mode (with FMA / without): exp 0.75/0.75 (subnormal results;
# 0.61 in the normal range), log 0.62/0.66, sin 0.73/0.78, cos 0.75/0.81,
# tanh 0.55/0.65, log1p 0.66/0.70, expm1 0.59/0.68.  Measured, not proven;
# tests/test_vecmath.py asserts these bounds.
VECMATH_ULP: dict[str, float] = {
    "exp": 0.8,
    "log": 0.8,
    "sin": 0.9,
    "cos": 0.9,
    "tanh": 0.8,
    "log1p": 0.8,
    "expm1": 0.8,
}

# sin/cos meet VECMATH_ULP for |x| up to SINCOS_ACCURATE_LIMIT in both modes
# (without FMA the products n * (30-bit piece of pi/2) are exact only for
# n < 2**23) and up to SINCOS_ACCURATE_LIMIT_FMA with FMA: there n*pi/2 is
# subtracted exactly to ~160 bits, and because fl(2/pi) is off by 3.9e-17,
# n = rint(x*fl(2/pi)) can push |r| past pi/4 by up to 0.0022 at 2**45, well
# inside the polynomials' slack (0.8 - pi/4 = 0.0146, used up at 2**47.7).
# Beyond: finite and in [-1, 1] only.
SINCOS_ACCURATE_LIMIT = 2.0 ** 22
SINCOS_ACCURATE_LIMIT_FMA = 2.0 ** 45

_PREFIX = "symdiff.v"


def vecmath_symbol(name: str) -> str:
    """LLVM symbol of the vector-friendly version of op ``name`` (e.g. ``symdiff.vexp``)."""
    return _PREFIX + name


def host_has_fma() -> bool:
    """True if the host CPU has fused multiply-add (so ``llvm.fma`` is one instruction)."""
    import llvmlite.binding as llvm

    try:
        return bool(llvm.get_host_cpu_features().get("fma", False))
    except RuntimeError:  # feature detection unsupported on this host
        return False


# ---------------------------------------------------------------------------
# Constants.  Regenerate with ``python -m compiler.vecmath``; the test checks
# that these literals agree with derive_constants().
# ---------------------------------------------------------------------------

_h = float.fromhex

# exp(r) = 1 + r + r^2 * (1/2 + r * Q1(r)),  |r| <= 0.3466 (ln2/2 + margin).
# Q1 highest degree first.
_EXP_Q1 = tuple(map(_h, (
    "0x1.1f66de051eb02p-29", "0x1.af38a71a18cb9p-26", "0x1.27e4e1f5246c7p-22",
    "0x1.71de0daf7a6ccp-19", "0x1.a01a01a47adc4p-16", "0x1.a01a01a7c3d59p-13",
    "0x1.6c16c16c167e1p-10", "0x1.11111111109b4p-7", "0x1.5555555555555p-5",
    "0x1.5555555555556p-3",
)))
# sin(r) = r + r^3 * S(r^2),  |r| <= _SINCOS_RMAX = 0.8 (pi/4 + slack).
_SIN_S = tuple(map(_h, (
    "-0x1.aaf7413aa6338p-41", "0x1.612146c012422p-33", "-0x1.ae6453ca65b3dp-26",
    "0x1.71de3a54361f8p-19", "-0x1.a01a01a0197d4p-13", "0x1.1111111111110p-7",
    "-0x1.5555555555555p-3",
)))
# cos(r) = 1 - r^2/2 + r^4 * C(r^2),  |r| <= 0.8.
_COS_C = tuple(map(_h, (
    "-0x1.905ff8538dfd9p-37", "0x1.1eeb3ef5846aap-29", "-0x1.27e4f9eed5802p-22",
    "0x1.a01a019f2e74fp-16", "-0x1.6c16c16c168dcp-10", "0x1.5555555555555p-5",
)))
# log1p(f) = 2 atanh(s) = 2s + s * z * P(z),  s = f / (2 + f),  z = s^2,
# |s| <= 0.17158 (f in [sqrt(1/2) - 1, sqrt(2) - 1]).
_LOG_P = tuple(map(_h, (
    "0x1.2b58e1fea16c6p-3", "0x1.39fe54273fda1p-3", "0x1.7462b50978d9ap-3",
    "0x1.c71c62e434baap-3", "0x1.2492492df24c9p-2", "0x1.99999999952d9p-2",
    "0x1.5555555555558p-1",
)))

# Adding 1.5*2**52 rounds |v| < 2**51 to an integer held in the low mantissa bits.
_SHIFT = _h("0x1.8p52")
_INV_LN2 = _h("0x1.71547652b82fep+0")
_TWO_OVER_PI = _h("0x1.45f306dc9c883p-1")
# ln2 = _LN2_FMA[0] + _LN2_FMA[1] (53 + 53 bits): with FMA, x - n*ln2_0 is exact.
_LN2_FMA = (_h("0x1.62e42fefa39efp-1"), _h("0x1.abc9e3b39803fp-56"))
# ln2 split with a 32-bit head so that k * head is exact for |k| < 2**21.
_LN2_SPLIT = (_h("0x1.62e42fee00000p-1"), _h("0x1.a39ef35793c76p-33"))
# pi/2 = sum(_PIO2_FMA) to ~162 bits, each piece a full double.
_PIO2_FMA = (_h("0x1.921fb54442d18p+0"), _h("0x1.1a62633145c07p-54"),
             _h("-0x1.f1976b7ed8fbcp-110"))
# pi/2 = sum(_PIO2_SPLIT) to ~144 bits; the first three pieces have 30 bits so
# that n * piece is exact for |n| < 2**23 without FMA.
_PIO2_SPLIT = (_h("0x1.921fb54000000p+0"), _h("0x1.10b4611800000p-30"),
               _h("0x1.313198a000000p-61"), _h("0x1.701b839a25205p-92"))

_TINY_ODD = 2.0 ** -54       # |x| below this: expm1, log1p, tanh(x) round to x
_TINY_SIN = 2.0 ** -26       # |x| below this: sin(x) rounds to x
_SINCOS_RMAX = 0.8           # sin/cos polynomial domain: pi/4 + slack (see the limits above)
_TANH_SAT = 22.0             # tanh(x) rounds to +-1 for |x| > 19.06


def derive_constants() -> dict[str, tuple[float, ...]]:
    """Recompute every constant above from first principles with mpmath.

    Polynomials are Chebyshev fits (``mpmath.chebyfit``, near-minimax) of the
    smooth remainder functions named in the comments above, with the degree
    raised until the fit error is far below double rounding.  Returns a dict
    keyed like the module constants without the leading underscore (e.g.
    ``"EXP_Q1"``), each a tuple of floats.  Needs mpmath; takes ~0.5 s.
    """
    import mpmath

    ctx = mpmath.mp.clone()
    ctx.prec = 320
    mpf = ctx.mpf

    def fit(g, a, b, target):
        for n in range(2, 30):
            poly, err = ctx.chebyfit(g, [mpf(a), mpf(b)], n, error=True)
            if err <= target:
                return tuple(float(c) for c in poly)
        raise RuntimeError("no polynomial fit reached the target")

    # The remainder functions as Taylor series summed to full working
    # precision: no cancellation near 0, where chebyfit also samples.
    def series(term, x):
        total, k = mpf(0), 0
        while True:
            t = term(k, x)
            total += t
            if abs(t) < mpf(2) ** -330:
                return total
            k += 1

    fac = ctx.factorial

    def exp_q1(r):  # (exp(r) - 1 - r - r^2/2) / r^3
        return series(lambda k, r: r ** k / fac(k + 3), r)

    def sin_s(z):  # (sin(r) - r) / r^3, z = r^2
        return series(lambda k, z: (-1) ** (k + 1) * z ** k / fac(2 * k + 3), z)

    def cos_c(z):  # (cos(r) - 1 + r^2/2) / r^4
        return series(lambda k, z: (-1) ** k * z ** k / fac(2 * k + 4), z)

    def log_p(z):  # (2 atanh(s) / s - 2) / s^2, z = s^2
        return series(lambda k, z: 2 * z ** k / (2 * k + 3), z)

    def split(v, nparts, head_bits):
        # Greedy expansion of v: the first nparts-1 pieces truncated to
        # head_bits significant bits (None: rounded to double), the last one
        # rounded to double.
        out = []
        rest = mpf(v)
        for i in range(nparts):
            if i < nparts - 1 and head_bits is not None:
                e = int(ctx.floor(ctx.log(abs(rest), 2)))
                scale = mpf(2) ** (head_bits - 1 - e)
                piece = float(ctx.floor(abs(rest) * scale) / scale) * (1 if rest > 0 else -1)
            else:
                piece = float(rest)
            out.append(piece)
            rest -= piece
        return tuple(out)

    # Targets: the fit error times its largest weight in the final formula
    # stays below ~2**-59 relative to the result (< 0.02 ulp), so fitting
    # costs nothing visible next to the rounding errors.  Weights: exp/expm1
    # r^2 <= 0.12 (relative to expm1(r) ~ r); sin z <= 0.64; cos z^2 / cos r
    # <= 0.6; log s*z / log1p(f) <= z/2 <= 0.015.
    return {
        "EXP_Q1": fit(exp_q1, -0.3466, 0.3466, mpf(2) ** -56),
        "SIN_S": fit(sin_s, 0, _SINCOS_RMAX ** 2, mpf(2) ** -59),
        "COS_C": fit(cos_c, 0, _SINCOS_RMAX ** 2, mpf(2) ** -59),
        "LOG_P": fit(log_p, 0, 0.17158 ** 2, mpf(2) ** -51),
        "INV_LN2": (float(1 / ctx.ln2),),
        "TWO_OVER_PI": (float(2 / ctx.pi),),
        "LN2_FMA": split(ctx.ln2, 2, None),
        "LN2_SPLIT": split(ctx.ln2, 2, 32),
        "PIO2_FMA": split(ctx.pi / 2, 3, None),
        "PIO2_SPLIT": split(ctx.pi / 2, 4, 30),
    }


# ---------------------------------------------------------------------------
# IR emission helpers
# ---------------------------------------------------------------------------

_F64 = ir.DoubleType()
_I64 = ir.IntType(64)


def _intrinsic(module: ir.Module, name: str, nargs: int) -> ir.Function:
    """Declaration of the f64 intrinsic ``name`` (reusing an existing one)."""
    full = name + ".f64"
    existing = module.globals.get(full)
    if existing is not None:
        return existing
    return ir.Function(module, ir.FunctionType(_F64, [_F64] * nargs), name=full)


class _Emitter:
    """Thin wrapper over an IRBuilder: arithmetic on f64 SSA values plus the
    error-free transformations the algorithms need.  Only straight-line code."""

    def __init__(self, builder: ir.IRBuilder, module: ir.Module, use_fma: bool):
        self.b = builder
        self.m = module
        self.use_fma = use_fma

    # constants and plain arithmetic
    @staticmethod
    def c(v: float) -> ir.Constant:
        return ir.Constant(_F64, v)

    @staticmethod
    def ci(v: int) -> ir.Constant:
        return ir.Constant(_I64, v)

    def _v(self, v):
        return self.c(v) if isinstance(v, (int, float)) else v

    def add(self, a, b):
        return self.b.fadd(self._v(a), self._v(b))

    def sub(self, a, b):
        return self.b.fsub(self._v(a), self._v(b))

    def mul(self, a, b):
        return self.b.fmul(self._v(a), self._v(b))

    def div(self, a, b):
        return self.b.fdiv(self._v(a), self._v(b))

    def neg(self, a):
        return self.b.fneg(a)

    def fma(self, a, b, c):
        """a*b + c: fused (one rounding) with use_fma, else two roundings."""
        a, b, c = self._v(a), self._v(b), self._v(c)
        if self.use_fma:
            return self.b.call(_intrinsic(self.m, "llvm.fma", 3), [a, b, c])
        return self.b.fadd(self.b.fmul(a, b), c)

    def fabs(self, a):
        return self.b.call(_intrinsic(self.m, "llvm.fabs", 1), [a])

    def copysign(self, mag, sgn):
        return self.b.call(_intrinsic(self.m, "llvm.copysign", 2), [mag, sgn])

    def horner(self, x, coeffs: Iterable[float]):
        """Polynomial with coefficients highest degree first, evaluated at x."""
        coeffs = list(coeffs)
        acc = self.c(coeffs[0])
        for a in coeffs[1:]:
            acc = self.fma(acc, x, a)
        return acc

    # comparisons (ordered: false when either side is NaN) and selects
    def lt(self, a, b):
        return self.b.fcmp_ordered("<", self._v(a), self._v(b))

    def gt(self, a, b):
        return self.b.fcmp_ordered(">", self._v(a), self._v(b))

    def eq(self, a, b):
        return self.b.fcmp_ordered("==", self._v(a), self._v(b))

    def ult(self, a, b):
        """a < b or unordered (either is NaN)."""
        return self.b.fcmp_unordered("<", self._v(a), self._v(b))

    def sel(self, cond, a, b):
        return self.b.select(cond, self._v(a), self._v(b))

    # bit-level views
    def bits(self, x):
        return self.b.bitcast(x, _I64)

    def from_bits(self, i):
        return self.b.bitcast(i, _F64)

    def small_int_to_f64(self, k):
        """Exact i64 -> f64 for |k| < 2**51 without sitofp, which AVX2 cannot
        vectorize for 64-bit lanes."""
        t = self.from_bits(self.b.add(k, self.ci(_bits_of(_SHIFT))))
        return self.sub(t, _SHIFT)

    def pow2(self, k):
        """2.0**k for integer k in [-1022, 1023], built in the exponent field."""
        return self.from_bits(self.b.shl(self.b.add(k, self.ci(1023)), self.ci(52)))

    # error-free transformations
    def two_sum(self, a, b):
        """(s, e) with s = fl(a + b) and s + e == a + b exactly (Knuth)."""
        s = self.add(a, b)
        bb = self.sub(s, a)
        e = self.add(self.sub(a, self.sub(s, bb)), self.sub(b, bb))
        return s, e

    def two_prod(self, a, b):
        """(p, e) with p = fl(a*b) and p + e == a*b exactly: one FMA, or
        Dekker's product with Veltkamp splitting (|a|, |b| < 2**995)."""
        p = self.mul(a, b)
        if self.use_fma:
            return p, self.fma(a, b, self.neg(p))
        ah, al = self._split(a)
        bh, bl = self._split(b)
        err = self.sub(self.mul(ah, bh), p)
        err = self.add(err, self.mul(ah, bl))
        err = self.add(err, self.mul(al, bh))
        return p, self.add(err, self.mul(al, bl))

    def _split(self, a):
        """a = hi + lo with 26-bit hi and lo (Veltkamp)."""
        t = self.mul(a, 134217729.0)   # 2**27 + 1
        hi = self.sub(t, self.sub(t, a))
        return hi, self.sub(a, hi)

    def fast_two_sum(self, a, b):
        """Like two_sum but requires |a| >= |b| (or a == 0); 3 flops."""
        s = self.add(a, b)
        return s, self.sub(b, self.sub(s, a))

    def round_to_int(self, x, scale):
        """n = nearest integer to x*scale, as (double n, i64 n).  Uses the
        1.5*2**52 shifter so the integer comes out of the bit pattern; valid
        for |x*scale| < 2**51."""
        t = self.fma(x, scale, _SHIFT)
        n = self.sub(t, _SHIFT)
        k = self.b.sub(self.bits(t), self.ci(_bits_of(_SHIFT)))
        return n, k


def _bits_of(v: float) -> int:
    import struct

    return struct.unpack("<q", struct.pack("<d", v))[0]


# ---------------------------------------------------------------------------
# The algorithms.  Each takes an _Emitter and the f64 argument and returns the
# f64 result; shared pieces are Python helpers so every function is emitted
# self-contained (no calls between the vecmath functions).
# ---------------------------------------------------------------------------

def _reduce_ln2(e: _Emitter, x):
    """x = n*ln2 + r + c with |r| <= ln2/2 and c the rounding error of r.
    Returns (r, c, k) with k = n as i64."""
    n, k = e.round_to_int(x, _INV_LN2)
    l1, l2 = _LN2_FMA if e.use_fma else _LN2_SPLIT
    # With FMA, x - n*l1 is exact: both are multiples of ulp(l1)/2 near each
    # other.  Without FMA, l1 has 32 bits so n*l1 is exact and so is the
    # difference (Sterbenz).
    rh = e.fma(e.neg(n), l1, x)
    # fast_two_sum needs |rh| >= |n*l2|; when rh is smaller than that
    # (< 3e-14) c is off by ~2**-99, far below what the callers can see
    # (exp ~ 1; expm1 has n = 0, c = 0 exactly, or a result above 0.29).
    return (*e.fast_two_sum(rh, e.neg(e.mul(n, l2))), k)


def _exp_poly(e: _Emitter, r):
    """r^2 * (1/2 + r*Q1(r)) = exp(r) - 1 - r."""
    q = e.fma(e.horner(r, _EXP_Q1), r, 0.5)
    return e.mul(e.mul(r, r), q)


def _scale_pow2(e: _Emitter, y, k):
    """y * 2**k for k in [-1100, 1100], y in [0.5, 2]: two exact-or-final
    multiplies so that overflow gives inf and underflow rounds once (gradual
    underflow).  k1 = floor(k/2) without an arithmetic shift."""
    b = e.b
    k1 = b.sub(b.lshr(b.add(k, e.ci(2048)), e.ci(1)), e.ci(1024))
    k2 = b.sub(k, k1)
    return e.mul(e.mul(y, e.pow2(k1)), e.pow2(k2))


def _emit_exp(e: _Emitter, x):
    # Clamp so that n stays small; the clamped values still overflow to inf /
    # underflow to 0, and NaN passes through (ordered compares are false).
    xc = e.sel(e.gt(x, 710.0), 710.0, x)
    xc = e.sel(e.lt(xc, -750.0), -750.0, xc)
    r, c, k = _reduce_ln2(e, xc)
    p = _exp_poly(e, r)
    # exp(r + c) ~ 1 + r + p + c*(1 + r); 1 + r split exactly so that the only
    # large rounding is the final addition.
    s, s_err = e.fast_two_sum(e.c(1.0), r)
    y = e.add(s, e.add(s_err, e.add(e.fma(c, r, c), p)))
    return _scale_pow2(e, y, k)


def _expm1_core(e: _Emitter, x, allow_big: bool, split: bool = False):
    """expm1 for x already clamped to [-45, 710] (or [-45, 0] if not allow_big).
    With split=True (only with allow_big=False) returns the result as an
    unevaluated sum (hi, lo) accurate to well below ulp(hi)."""
    b = e.b
    r, c, k = _reduce_ln2(e, x)
    # expm1(r + c) = r + z/2 + rest,  z = r^2,  rest = r^3*Q1(r) + c*(1 + r).
    # z/2 is exact (with FMA its rounding error goes into rest).
    if e.use_fma:
        z, z_err = e.two_prod(r, r)
    else:
        z, z_err = e.mul(r, r), None
    hz = e.mul(z, 0.5)
    rest = e.fma(e.mul(r, z), e.horner(r, _EXP_Q1), e.fma(c, r, c))
    if z_err is not None:
        rest = e.fma(z_err, 0.5, rest)
    # expm1(x) = (2^n - 1) + 2^n*r + 2^n*z/2 + 2^n*rest.  The first three
    # terms are exact doubles (n <= 60 here) and are added error-free, so only
    # the small last term and the final addition carry rounding errors.
    kc = b.select(b.icmp_signed(">", k, e.ci(60)), e.ci(60), k)
    two_n = e.pow2(kc)
    a, a_err = e.two_sum(two_n, e.c(-1.0))   # 2^n - 1 is inexact for |n| > 53
    s, s_err = e.two_sum(a, e.mul(two_n, r))
    s, s_err2 = e.two_sum(s, e.mul(two_n, hz))
    tail = e.fma(two_n, rest, e.add(e.add(s_err, s_err2), a_err))
    if split:
        assert not allow_big
        return e.fast_two_sum(s, tail)       # |s| >= |tail|
    small = e.add(s, tail)
    if not allow_big:
        return small
    # For n > 56 the -1 no longer matters: same as exp, which also handles
    # overflow.
    s1, s1_err = e.fast_two_sum(e.c(1.0), r)
    big = _scale_pow2(e, e.add(s1, e.add(s1_err, e.add(hz, rest))), k)
    return b.select(b.icmp_signed(">", k, e.ci(56)), big, small)


def _emit_expm1(e: _Emitter, x):
    xc = e.sel(e.gt(x, 710.0), 710.0, x)
    xc = e.sel(e.lt(xc, -45.0), -45.0, xc)   # expm1(x) rounds to -1 below -37.5
    res = _expm1_core(e, xc, allow_big=True)
    # Tiny |x| (incl. +-0, subnormals): expm1(x) rounds to x; also keeps -0.0.
    return e.sel(e.lt(e.fabs(x), _TINY_ODD), x, res)


def _log_decompose(e: _Emitter, u):
    """u = 2^k * (1 + f), f in [sqrt(1/2) - 1, sqrt(2) - 1), for positive
    normal u.  Returns (k as i64, f).  Adding bits(1) - bits(sqrt(1/2)) moves
    the exponent boundary to sqrt(1/2), so only logical shifts are needed."""
    b = e.b
    sqrt_half = _bits_of(0.7071067811865476)
    ix = b.add(e.bits(u), e.ci(_bits_of(1.0) - sqrt_half))
    k = b.sub(b.lshr(ix, e.ci(52)), e.ci(1023))
    m = b.add(b.and_(ix, e.ci((1 << 52) - 1)), e.ci(sqrt_half))
    f = e.sub(e.from_bits(m), 1.0)   # exact (Sterbenz)
    return k, f


def _log_assemble(e: _Emitter, kd, f, c=None):
    """k*ln2 + log1p(f) (+ c, a tiny correction), fdlibm-style:
    log1p(f) = f - hfsq + s*(hfsq + R), s = f/(2+f), R = s^2 * P(s^2)."""
    s = e.div(f, e.add(f, 2.0))
    z = e.mul(s, s)
    big_r = e.mul(z, e.horner(z, _LOG_P))
    # hfsq = f^2/2, exactly as hfsq + hfsq_err when FMA makes that cheap.
    if e.use_fma:
        hfsq, hfsq_err = (e.mul(v, 0.5) for v in e.two_prod(f, f))
    else:
        hfsq, hfsq_err = e.mul(e.mul(f, f), 0.5), None
    hi_c, lo_c = _LN2_SPLIT
    hi = e.mul(kd, hi_c)                     # exact: 32-bit constant, |k| < 1100
    lo = e.mul(kd, lo_c)
    if c is not None:
        lo = e.add(lo, c)
    # (hi + f) - hfsq error-free (|hi| >= ln2 > |f| unless hi == 0); what is
    # left, s*(hfsq + R) ~ f^3/12 and the rounding errors, is added last.
    sm, sm_err = e.fast_two_sum(hi, f)
    sm, sm_err2 = e.two_sum(sm, e.neg(hfsq))
    tail = e.fma(s, e.add(hfsq, big_r), lo)
    tail = e.add(tail, e.add(sm_err, sm_err2))
    if hfsq_err is not None:
        tail = e.sub(tail, hfsq_err)
    return e.add(sm, tail)


def _emit_log(e: _Emitter, x):
    b = e.b
    # Subnormals (and 0/negatives, fixed up below): scale into the normal range.
    sub = e.lt(x, 2.0 ** -1022)
    xs = e.sel(sub, e.mul(x, 2.0 ** 54), x)
    k, f = _log_decompose(e, xs)
    k = b.add(k, b.select(sub, e.ci(-54), e.ci(0)))
    res = _log_assemble(e, e.small_int_to_f64(k), f)
    res = e.sel(e.eq(x, float("inf")), float("inf"), res)
    res = e.sel(e.eq(x, 0.0), float("-inf"), res)
    return e.sel(e.ult(x, 0.0), float("nan"), res)   # x < 0 or NaN


def _emit_log1p(e: _Emitter, x):
    # 1 + x = u + err exactly; log1p(x) = log(u) + log1p(err/u) ~ log(u) + err/u.
    u, err = e.two_sum(e.c(1.0), x)
    k, f = _log_decompose(e, u)
    res = _log_assemble(e, e.small_int_to_f64(k), f, e.div(err, u))
    res = e.sel(e.lt(e.fabs(x), _TINY_ODD), x, res)   # keeps -0.0, subnormals
    res = e.sel(e.eq(x, float("inf")), float("inf"), res)
    res = e.sel(e.eq(x, -1.0), float("-inf"), res)
    return e.sel(e.ult(x, -1.0), float("nan"), res)


def _reduce_pio2(e: _Emitter, x):
    """x = n*pi/2 + (rh + rl) with rh + rl a double-double accurate to far
    below ulp(rh) for |x| <= SINCOS_ACCURATE_LIMIT.  Returns (rh, rl, n as i64)."""
    n, k = e.round_to_int(x, _TWO_OVER_PI)
    nn = e.neg(n)
    if e.use_fma:
        p1, p2, p3 = _PIO2_FMA
        # x - n*p1 is exact: a multiple of 2**-52 (2**-53 if |x| < 1) below 2
        # (resp. 1) in magnitude.
        r = e.fma(nn, p1, x)
        # n*p2 = t + t_err exactly; subtract both without rounding errors lost.
        t = e.mul(n, p2)
        t_err = e.fma(n, p2, e.neg(t))
        r, lo = e.two_sum(r, e.neg(t))
        lo = e.sub(lo, t_err)
        lo = e.fma(nn, p3, lo)
    else:
        p1, p2, p3, p4 = _PIO2_SPLIT
        # The 30-bit pieces make n*p exact for |n| < 2**23; x - n*p1 is exact
        # (Sterbenz), the next two subtractions are error-free via two_sum.
        r = e.fma(nn, p1, x)
        r, lo = e.two_sum(r, e.mul(nn, p2))
        r, lo2 = e.two_sum(r, e.mul(nn, p3))
        lo = e.add(lo, lo2)
        lo = e.fma(nn, p4, lo)
    rh, rl = e.fast_two_sum(r, lo)
    # Beyond the accurate range the reduction may fail; keep the polynomial
    # inside its domain so the result stays finite and in [-1, 1].
    # (NaN compares false and propagates.)
    bad = e.gt(e.fabs(rh), _SINCOS_RMAX)
    return e.sel(bad, 0.0, rh), e.sel(bad, 0.0, rl), k


def _emit_sincos(e: _Emitter, x, is_cos: bool):
    b = e.b
    rh, rl, k = _reduce_pio2(e, x)
    z = e.mul(rh, rh)
    # sin(rh + rl) ~ sin(rh) + rl*cos(rh), cos(rh) ~ 1 - z/2.
    sin_r = e.add(rh, e.fma(e.mul(rh, z), e.horner(z, _SIN_S),
                            e.mul(rl, e.fma(z, -0.5, 1.0))))
    # cos(rh + rl) ~ cos(rh) - rl*rh.  w = 1 - z/2 is rounded; (1 - w) - hz
    # recovers that rounding error exactly, and with FMA the rounding error of
    # z = rh*rh is folded in as well.
    hz = e.mul(z, 0.5)
    w = e.sub(1.0, hz)
    w_err = e.sub(e.sub(1.0, w), hz)
    if e.use_fma:
        z_err = e.fma(rh, rh, e.neg(z))
        w_err = e.fma(z_err, -0.5, w_err)
    tail = e.fma(e.mul(z, z), e.horner(z, _COS_C), e.neg(e.mul(rh, rl)))
    cos_r = e.add(w, e.add(w_err, tail))
    # Quadrant q = n mod 4 (two's complement): sin(x) = [sin, cos, -sin, -cos][q],
    # and cos(x) = sin(x + pi/2) uses q + 1.
    if is_cos:
        k = b.add(k, e.ci(1))
    odd = b.icmp_unsigned("!=", b.and_(k, e.ci(1)), e.ci(0))
    res = b.select(odd, cos_r, sin_r)
    sign = b.shl(b.and_(k, e.ci(2)), e.ci(62))
    res = e.from_bits(b.xor(e.bits(res), sign))
    if not is_cos:
        # Tiny |x|: sin(x) rounds to x; keeps -0.0 and subnormals exact.
        res = e.sel(e.lt(e.fabs(x), _TINY_SIN), x, res)
    return res


def _emit_sin(e: _Emitter, x):
    return _emit_sincos(e, x, is_cos=False)


def _emit_cos(e: _Emitter, x):
    return _emit_sincos(e, x, is_cos=True)


def _emit_tanh(e: _Emitter, x):
    ax = e.fabs(x)
    # u = expm1(-2|x|) in (-1, 0]; tanh|x| = -u / (u + 2).  No cancellation
    # near 0, unlike (e^2x - 1)/(e^2x + 1).  The quotient is sensitive to u
    # (d tanh/du ~ -2 near |x| = 1), so u and u + 2 are carried as
    # double-doubles and the rounded quotient gets one correction step.
    y = e.mul(ax, -2.0)
    y = e.sel(e.lt(y, -45.0), -45.0, y)
    uh, ul = _expm1_core(e, y, allow_big=False, split=True)
    tiny = e.lt(ax, _TINY_ODD)               # expm1(y) = y exactly
    uh = e.sel(tiny, y, uh)
    ul = e.sel(tiny, 0.0, ul)
    dh, dl = e.fast_two_sum(e.c(2.0), uh)
    dl = e.add(dl, ul)
    q = e.div(e.neg(uh), dh)
    # Residual -(uh + ul) - q*(dh + dl); -uh - q*dh is exact (Sterbenz).
    ph, pl = e.two_prod(q, dh)
    res = e.sub(e.sub(e.sub(e.neg(uh), ph), pl), e.fma(q, dl, ul))
    t = e.add(q, e.div(res, dh))
    t = e.sel(e.gt(ax, _TANH_SAT), 1.0, t)
    return e.copysign(t, x)   # restores the sign, including tanh(-0.0) = -0.0


_EMITTERS: dict[str, Callable] = {
    "exp": _emit_exp,
    "log": _emit_log,
    "sin": _emit_sin,
    "cos": _emit_cos,
    "tanh": _emit_tanh,
    "log1p": _emit_log1p,
    "expm1": _emit_expm1,
}
assert set(_EMITTERS) == SUPPORTED


def define_vecmath(module: ir.Module, names: Iterable[str], *,
                   use_fma: Optional[bool] = None) -> dict[str, ir.Function]:
    """Define ``double @symdiff.v<name>(double)`` in ``module`` for each name.

    ``names`` are op names from ``SUPPORTED`` (``"exp"``, ``"log"``, ``"sin"``,
    ``"cos"``, ``"tanh"``, ``"log1p"``, ``"expm1"``).  The functions are
    ``internal`` and ``alwaysinline``: after the inliner runs they disappear
    into their callers and leave only vectorizable straight-line code.
    Idempotent: a function already in the module is returned as is (the first
    definition, with its ``use_fma`` choice, wins).

    ``use_fma``: emit ``llvm.fma`` (True) or fmul+fadd (False); None follows
    the host CPU.  Accuracy bounds (``VECMATH_ULP``) hold for both.

    Returns ``{name: ir.Function}`` for the requested names.
    """
    if use_fma is None:
        use_fma = host_has_fma()
    fnty = ir.FunctionType(_F64, [_F64])
    out: dict[str, ir.Function] = {}
    for name in names:
        if name not in SUPPORTED:
            raise ValueError(f"vecmath has no {name!r}; supported: {sorted(SUPPORTED)}")
        sym = vecmath_symbol(name)
        existing = module.globals.get(sym)
        if existing is not None:
            if not isinstance(existing, ir.Function) or existing.function_type != fnty:
                raise ValueError(f"{sym} already exists in the module with another type")
            out[name] = existing
            continue
        fn = ir.Function(module, fnty, name=sym)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        fn.attributes.add("nounwind")
        fn.args[0].name = "x"
        builder = ir.IRBuilder(fn.append_basic_block("entry"))
        builder.ret(_EMITTERS[name](_Emitter(builder, module, use_fma), fn.args[0]))
        out[name] = fn
    return out


def _print_constants() -> None:
    """Print derive_constants() as Python literals (for updating this file)."""
    for key, vals in derive_constants().items():
        print(key, "=", tuple(v.hex() for v in vals))


if __name__ == "__main__":
    _print_constants()
