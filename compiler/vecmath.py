"""Vectorizable elementary functions written as (nearly) straight-line LLVM IR.

LLVM's loop vectorizer turns a vector ``llvm.exp``/``llvm.log`` back into one
scalar libm call per lane, so a batch loop that calls them is not vectorized.
This module defines our own ``exp``, ``log``, ``sin``, ``cos``, ``tanh``,
``log1p``, ``expm1``, ``cosh`` and ``sinh`` as internal ``alwaysinline``
functions built only from
fadd/fsub/fmul/fdiv, fcmp/select, integer ops on the bit pattern and the
intrinsics ``llvm.fma``/``llvm.fabs``/``llvm.copysign``.  There are no tables
and, but for one cold branch in sin/cos, no branches and no libm calls, so
once the functions are inlined into a loop the vectorizer can keep
everything in SIMD registers.

Usage::

    fns = define_vecmath(module, ["exp", "sin"])   # {"exp": <ir.Function>, ...}
    y = builder.call(fns["exp"], [x])

Every function uses the same recipe: range reduction (Cody-Waite with the
reduced argument carried as a double-double where it matters), a polynomial
whose coefficients are derived in :func:`derive_constants` (Chebyshev fits
done with mpmath, stored below as hex literals so that importing this module
needs neither mpmath nor time), and selects for the IEEE special cases.

Accuracy over the whole float64 range, in ulps of the exact value
(``VECMATH_ULP``; measured, not proven -- tests/test_vecmath.py asserts it on
200k points per function plus edge cases, tests/test_vecmath_range.py on
uniformly random float64 bit patterns and special points, on every compiled
path; ``python benchmarks/bench_vecmath_accuracy.py`` prints the table):

* exp, log, tanh, log1p, expm1, cosh, sinh: below 0.8 ulp for every double
  (0.6-0.8 ulp worst seen in 10M-point sweeps), including gradual underflow
  of ``exp``, subnormal arguments of ``log`` and
  ``tanh``/``expm1``/``log1p``/``sinh`` near 0, and cosh/sinh up to their
  overflow at 1025 ln2 = 710.4759 (past exp's at 709.78).
* sin, cos: below 0.9 ulp for ``|x| <= sincos_fast_limit(use_fma)``
  (``SINCOS_ACCURATE_LIMIT_FMA`` = 2**45 ~ 3.5e13 with FMA,
  ``SINCOS_ACCURATE_LIMIT`` = 2**22 ~ 4.2e6 without), where the Cody-Waite
  reduction below is exact enough.  Larger |x| (and +-inf) take a cold
  branch to libm's sin/cos: the result is libm's own bits, so as accurate as
  the libm path and the interpreter (glibc: < 1 ulp on random arguments, but
  8 ulp for cos at 6381956970095103 * 2**797, the double nearest a multiple
  of pi/2).  Inlined into a vectorized loop the branch costs one call per
  vector of a masked vector version that returns at once when no lane is
  huge (see ``_huge_fallback``); a Payne-Hanek reduction instead would have
  needed a table gather per lane on every call.
* ``tanh``: ``-expm1(-2|x|) / (expm1(-2|x|) + 2)`` with the sign restored,
  numerator and denominator carried as double-doubles and the quotient
  corrected once; accurate near 0, exactly +-1 for ``|x| > 22``.
* ``cosh``: ``2^(k-1) (E + 2^-2k / E)`` with ``|x| = k ln2 + r``, ``E =
  exp(r)`` from exp's kernel kept as a double-double and ``1/E`` corrected
  once: a sum of two positive terms rounded once, then scaled exactly (so
  no intermediate overflow of ``e^|x|`` between 709.78 and 710.48).
  ``sinh``: ``(u + u/(1 + u))/2`` with ``u = expm1(|x|)`` (a double-double;
  no cancellation near 0, unlike ``(e^x - e^-x)/2``) up to ``|x| = 22``,
  ``2^(k-1) E`` beyond; sign restored.  Both from one reduction of ``|x|``.

Special values follow libm: exp(+inf)=inf, exp(-inf)=+0, overflow to inf above
709.78, gradual underflow below -708.4; log(+-0)=-inf, log(x<0)=NaN,
log(inf)=inf, log(1)=+0; sin/cos(+-inf)=NaN; cosh(+-inf)=inf,
sinh(+-inf)=+-inf, both overflow above 710.4759; odd functions keep the sign
of -0.0 (sin, tanh, expm1, log1p, sinh return tiny arguments unchanged); NaN
in, NaN out everywhere.

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
    "sincos_fast_limit",
    "define_vecmath",
    "vecmath_symbol",
    "host_has_fma",
    "derive_constants",
]

SUPPORTED = frozenset({"exp", "log", "sin", "cos", "tanh", "log1p", "expm1", "cosh",
                       "sinh"})

# Max error in ulps, for both use_fma=True and use_fma=False, over the whole
# range (sin/cos: where they do not defer to libm, see sincos_fast_limit).
# Worst cases seen in 10M log-uniform points per function and mode (with
# FMA / without): exp 0.75/0.75 (subnormal results; 0.61 in the normal
# range), log 0.62/0.66, sin 0.73/0.78, cos 0.75/0.81, tanh 0.55/0.65, log1p
# 0.66/0.70, expm1 0.59/0.68, cosh 0.56/0.58, sinh 0.62/0.63; on uniformly
# random bit patterns (20,000 per function,
# benchmarks/bench_vecmath_accuracy.py) at most 0.58.  Measured, not proven;
# tests/test_vecmath.py and tests/test_vecmath_range.py assert these bounds.
VECMATH_ULP: dict[str, float] = {
    "exp": 0.8,
    "log": 0.8,
    "sin": 0.9,
    "cos": 0.9,
    "tanh": 0.8,
    "log1p": 0.8,
    "expm1": 0.8,
    "cosh": 0.8,
    "sinh": 0.8,
}

# sin/cos meet VECMATH_ULP for |x| up to SINCOS_ACCURATE_LIMIT in both modes
# (without FMA the products n * (30-bit piece of pi/2) are exact only for
# n < 2**23) and up to SINCOS_ACCURATE_LIMIT_FMA with FMA: there n*pi/2 is
# subtracted exactly to ~160 bits, and because fl(2/pi) is off by 3.9e-17,
# n = rint(x*fl(2/pi)) can push |r| past pi/4 by up to 0.0022 at 2**45, well
# inside the polynomials' slack (0.8 - pi/4 = 0.0146, used up at 2**47.7).
# Beyond the limit of the mode (sincos_fast_limit) the result is libm's.
SINCOS_ACCURATE_LIMIT = 2.0 ** 22
SINCOS_ACCURATE_LIMIT_FMA = 2.0 ** 45


def sincos_fast_limit(use_fma: bool) -> float:
    """Largest |x| that vecmath's sin/cos reduce themselves; larger |x| (and
    +-inf) take the cold libm path (SINCOS_ACCURATE_LIMIT_FMA with FMA,
    SINCOS_ACCURATE_LIMIT without)."""
    return SINCOS_ACCURATE_LIMIT_FMA if use_fma else SINCOS_ACCURATE_LIMIT

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
# cosh(r) = 1 + r^2/2 + r^4 * CH(z) and sinh(r) = r + r^3 * SH(z),  z = r^2,
# |r| <= 0.3466: the even and odd parts of exp(r), so that exp(r) and
# exp(-r) share one evaluation (cosh needs both).
_COSH_C = tuple(map(_h, (
    "0x1.1f66de051eb02p-29", "0x1.27e4e1f5246c7p-22", "0x1.a01a01a47adc4p-16",
    "0x1.6c16c16c167e1p-10", "0x1.5555555555555p-5",
)))
_SINH_S = tuple(map(_h, (
    "0x1.af38a71a18cb9p-26", "0x1.71de0daf7a6ccp-19", "0x1.a01a01a7c3d59p-13",
    "0x1.11111111109b4p-7", "0x1.5555555555556p-3",
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

_TINY_ODD = 2.0 ** -54       # |x| below this: expm1, log1p, tanh, sinh(x) round to x
_TINY_SIN = 2.0 ** -26       # |x| below this: sin(x) rounds to x
_SINCOS_RMAX = 0.8           # sin/cos polynomial domain: pi/4 + slack (see the limits above)
_TANH_SAT = 22.0             # tanh(x) rounds to +-1 for |x| > 19.06
_HYP_CLAMP = 711.0           # cosh, sinh overflow above 1025*ln2 = 710.4759
_SINH_BIG = 22.0             # sinh(x) = e^|x|/2 to 2^-63 relative beyond (k <= 32 below)


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

    def cosh_c(z):  # (cosh(r) - 1 - r^2/2) / r^4, z = r^2
        return series(lambda k, z: z ** k / fac(2 * k + 4), z)

    def sinh_s(z):  # (sinh(r) - r) / r^3, z = r^2
        return series(lambda k, z: z ** k / fac(2 * k + 3), z)

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
    # <= 0.6; log s*z / log1p(f) <= z/2 <= 0.015; cosh/sinh z^2 <= 0.015 and
    # r^3 <= 0.042 (relative to exp(+-r) >= 0.7).
    return {
        "EXP_Q1": fit(exp_q1, -0.3466, 0.3466, mpf(2) ** -56),
        "SIN_S": fit(sin_s, 0, _SINCOS_RMAX ** 2, mpf(2) ** -59),
        "COS_C": fit(cos_c, 0, _SINCOS_RMAX ** 2, mpf(2) ** -59),
        "LOG_P": fit(log_p, 0, 0.17158 ** 2, mpf(2) ** -51),
        "COSH_C": fit(cosh_c, 0, 0.3466 ** 2, mpf(2) ** -56),
        "SINH_S": fit(sinh_s, 0, 0.3466 ** 2, mpf(2) ** -56),
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


# ---------------------------------------------------------------------------
# The cold libm fallback (sin/cos of huge arguments).
#
# A vectorized loop cannot branch per lane, and LLVM's loop vectorizer
# refuses loops that call ordinary functions; it turns a call of libm's own
# ``sin`` into ``llvm.sin`` and widens it into a libm call for *every* lane.
# So the fallback is a call of our scalar ``symdiff.v<name>.huge`` carrying
# a "vector-function-abi-variant" attribute (LLVM's vector function ABI,
# what ``#pragma omp declare simd`` produces): for each vector width VF in
# _FALLBACK_VFS it names a masked vector version ``symdiff.v<name>.huge.m<VF>``
# that the vectorizer calls once per vector with the mask of the lanes that
# need libm.  That version returns at once when the mask is empty (the hot
# case) and otherwise hands the marked lanes to ``symdiff.v<name>.huge.lanes``,
# a plain loop calling libm.  A width without a version still vectorizes: the
# vectorizer then calls the scalar function per lane under a branch.
# ---------------------------------------------------------------------------

# Vector widths (doubles) with a masked version: SSE2/NEON, AVX2, AVX-512.
# Each costs ~1.5 ms of machine-code generation per module; LLVM does not
# pick 16 doubles per vector on x86 (no bandwidth maximization there).
_FALLBACK_VFS = (2, 4, 8)


def _declare_libm(module: ir.Module, name: str) -> ir.Function:
    """Declaration of libm's ``double name(double)`` (reusing an existing
    one).  ``readnone nounwind``: we never read errno.  Never ``speculatable``:
    the call must stay behind its branch."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    fn = ir.Function(module, ir.FunctionType(_F64, [_F64]), name=name)
    fn.attributes.add("nounwind")
    fn.attributes.add("readnone")
    return fn


def _define_lanes_helper(module: ir.Module, name: str, libm: ir.Function) -> ir.Function:
    """``void symdiff.v<name>.huge.lanes(double* buf, i64 mask)``: replaces
    ``buf[j]`` by ``name(buf[j])`` for each set bit j of ``mask``.  Internal,
    ``noinline optnone``: a cold loop, so the optimizer and a full code
    generator spend no compile time on it (and cannot vectorize it)."""
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [_F64.as_pointer(), _I64]),
                     name=f"{_PREFIX}{name}.huge.lanes")
    fn.linkage = "internal"
    for attr in ("noinline", "optnone", "nounwind", "cold"):
        fn.attributes.add(attr)
    buf, mask = fn.args
    entry, loop, lane, nxt, done = (fn.append_basic_block(n) for n in
                                    ("entry", "loop", "lane", "next", "done"))
    b = ir.IRBuilder(entry)
    b.branch(loop)
    b.position_at_end(loop)
    j = b.phi(_I64)
    j.add_incoming(ir.Constant(_I64, 0), entry)
    bit = b.and_(b.lshr(mask, j), ir.Constant(_I64, 1))
    b.cbranch(b.icmp_unsigned("!=", bit, ir.Constant(_I64, 0)), lane, nxt)
    b.position_at_end(lane)
    ptr = b.gep(buf, [j])
    b.store(b.call(libm, [b.load(ptr)]), ptr)
    b.branch(nxt)
    b.position_at_end(nxt)
    j_next = b.add(j, ir.Constant(_I64, 1))
    j.add_incoming(j_next, nxt)
    rest = b.lshr(mask, j_next)
    b.cbranch(b.icmp_unsigned("==", rest, ir.Constant(_I64, 0)), done, loop)
    b.position_at_end(done)
    b.ret_void()
    return fn


def _define_masked_version(module: ir.Module, name: str, vf: int,
                           lanes: ir.Function) -> ir.Function:
    """``<vf x double> symdiff.v<name>.huge.m<vf>(<vf x double> x, <vf x i1> m)``:
    ``name`` of the lanes of x selected by m (the other lanes are undefined,
    as the vector function ABI allows).  ``weak_odr hidden``: it is only
    referenced through the attribute until the vectorizer runs, so internal
    linkage would let GlobalDCE delete it first; weak, since every module
    using the function defines its own copy."""
    vt = ir.VectorType(_F64, vf)
    fn = ir.Function(module, ir.FunctionType(vt, [vt, ir.VectorType(ir.IntType(1), vf)]),
                     name=f"{_PREFIX}{name}.huge.m{vf}")
    fn.linkage = "weak_odr hidden"   # llvmlite prints the linkage string verbatim
    fn.attributes.add("nounwind")
    x, m = fn.args
    entry, slow, none = (fn.append_basic_block(n) for n in ("entry", "slow", "none"))
    b = ir.IRBuilder(entry)
    buf = b.alloca(vt)
    bits = b.bitcast(m, ir.IntType(vf))
    b.cbranch(b.icmp_unsigned("!=", bits, ir.Constant(ir.IntType(vf), 0)), slow, none)
    b.position_at_end(none)
    b.ret(ir.Constant(vt, ir.Undefined))
    b.position_at_end(slow)
    b.store(x, buf)
    b.call(lanes, [b.bitcast(buf, _F64.as_pointer()), b.zext(bits, _I64)])
    b.ret(b.load(buf))
    return fn


def _huge_fallback(module: ir.Module, name: str) -> ir.Function:
    """``double symdiff.v<name>.huge(double)``: libm's ``name``, with masked
    vector versions for the loop vectorizer (see the comment above).
    Defined once per module."""
    sym = f"{_PREFIX}{name}.huge"
    existing = module.globals.get(sym)
    if existing is not None:
        return existing
    libm = _declare_libm(module, name)
    fn = ir.Function(module, ir.FunctionType(_F64, [_F64]), name=sym)
    fn.linkage = "internal"
    # noinline: inlined, the call (and its vector versions) would become a
    # plain libm call again.  cold: block placement keeps it off the hot path.
    for attr in ("noinline", "cold", "nounwind", "readnone"):
        fn.attributes.add(attr)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.ret(b.call(libm, [fn.args[0]]))
    lanes = _define_lanes_helper(module, name, libm)
    variants = []
    for vf in _FALLBACK_VFS:
        version = _define_masked_version(module, name, vf, lanes)
        # _ZGV <isa: _LLVM_> <M: masked> <vf> <v: vector argument> _ <scalar>(<vector>)
        variants.append(f"_ZGV_LLVM_M{vf}v_{sym}({version.name})")
    # llvmlite only knows the enum attributes; a string attribute is added
    # to the underlying set as its printed text.
    set.add(fn.attributes, '"vector-function-abi-variant"="%s"' % ",".join(variants))
    return fn


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


def _exp_reduced(e: _Emitter, r, c):
    """exp(r + c) for the output (r, c) of _reduce_ln2 as an unevaluated sum
    s + tail, |tail| < ulp(s), in [0.7, 1.42]: fl(s + tail) is exp's result
    before scaling, and fast_two_sum(s, tail) a double-double accurate to
    ~2**-56 relative (the rounding of p and the fit)."""
    p = _exp_poly(e, r)
    # exp(r + c) ~ 1 + r + p + c*(1 + r); 1 + r split exactly so that the only
    # large rounding is the final addition.
    s, s_err = e.fast_two_sum(e.c(1.0), r)
    return s, e.add(s_err, e.add(e.fma(c, r, c), p))


def _emit_exp(e: _Emitter, x):
    # Clamp so that n stays small; the clamped values still overflow to inf /
    # underflow to 0, and NaN passes through (ordered compares are false).
    xc = e.sel(e.gt(x, 710.0), 710.0, x)
    xc = e.sel(e.lt(xc, -750.0), -750.0, xc)
    r, c, k = _reduce_ln2(e, xc)
    return _scale_pow2(e, e.add(*_exp_reduced(e, r, c)), k)


def _expm1_core(e: _Emitter, x, allow_big: bool, split: bool = False):
    """expm1 for x already clamped to [-45, 710] (or [-45, 0] if not allow_big).
    With split=True (only with allow_big=False) returns the result as an
    unevaluated sum (hi, lo) accurate to well below ulp(hi)."""
    return _expm1_reduced(e, *_reduce_ln2(e, x), allow_big=allow_big, split=split)


def _expm1_reduced(e: _Emitter, r, c, k, *, allow_big: bool, split: bool = False):
    """_expm1_core from the reduction (r, c, k) of its argument.  Without
    allow_big the result is meaningful for k <= 56 only (finite for any k)."""
    b = e.b
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
    # Inside the fast range |rh| <= _SINCOS_RMAX; beyond it the result is
    # replaced by libm's (see _huge_sincos_fallback), so no clamp is needed.
    rh, rl = e.fast_two_sum(r, lo)
    return rh, rl, k


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
    return _huge_sincos_fallback(e, x, res, "cos" if is_cos else "sin")


def _huge_sincos_fallback(e: _Emitter, x, fast, libm_name: str):
    """``fast`` if |x| <= sincos_fast_limit(e.use_fma) (or x is NaN), else
    libm's ``libm_name(x)``: the cold path for arguments the Cody-Waite
    reduction cannot handle (and +-inf, for which libm returns NaN too).

    A branch, not a select (a select would call libm for every lane).
    Inlined into a row loop, the vectorizer if-converts the fast path and
    turns the call into one call per vector of a masked version that returns
    at once when no lane is huge (see _huge_fallback); the scalar path pays
    one compare and a never-taken branch."""
    b = e.b
    huge = e.gt(e.fabs(x), sincos_fast_limit(e.use_fma))   # ordered: false for NaN
    fast_block = b.block
    cold = b.append_basic_block("huge_argument")
    done = b.append_basic_block("done")
    b.cbranch(huge, cold, done)
    b.position_at_end(cold)
    slow = b.call(_huge_fallback(e.m, libm_name), [x])
    b.branch(done)
    b.position_at_end(done)
    res = b.phi(_F64)
    res.add_incoming(fast, fast_block)
    res.add_incoming(slow, cold)
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


def _exp_pm_reduced(e: _Emitter, r, c):
    """exp(r + c) and exp(-(r + c)) for the output (r, c) of _reduce_ln2, each
    as (s, tail) like _exp_reduced, from one evaluation of the even part
    cosh(r) - 1 and the odd part sinh(r) of exp(r): no division."""
    z = e.mul(r, r)
    hz = e.mul(z, 0.5)                       # exact
    # even = cosh(r + c) - 1 - hz ~ r^4 CH(z) + c*r (+ the rounding error of
    # z, recovered with FMA); odd = sinh(r + c) - r ~ r^3 SH(z) + c.
    even = e.fma(e.mul(z, z), e.horner(z, _COSH_C), e.mul(c, r))
    if e.use_fma:
        even = e.fma(e.fma(r, r, e.neg(z)), 0.5, even)
    odd = e.fma(e.mul(r, z), e.horner(z, _SINH_S), c)
    out = []
    for sign_r, sign_odd in ((r, odd), (e.neg(r), e.neg(odd))):
        # exp(+-(r + c)) = (1 +- r) + hz + even +- odd; 1 +- r split exactly.
        s1, s_err = e.fast_two_sum(e.c(1.0), sign_r)
        out.append((s1, e.add(s_err, e.add(hz, e.add(even, sign_odd)))))
    return out


def _hyperbolic_reduce(e: _Emitter, x):
    """|x| clamped to _HYP_CLAMP (NaN passes) and its reduction (r, c, k),
    k >= 0 for every non-NaN x."""
    ax = e.fabs(x)
    return _reduce_ln2(e, e.sel(e.gt(ax, _HYP_CLAMP), _HYP_CLAMP, ax))


def _emit_cosh(e: _Emitter, x):
    # cosh|x| = (e^a + e^-a)/2 = 2^(k-1) * (E + 2^-2k * E'),  a = |x| = k*ln2
    # + r + c,  E = exp(r + c) in [0.7, 1.42],  E' = exp(-(r + c)) = 1/E.  E
    # and E' are double-doubles from one shared polynomial evaluation (no
    # division) and both terms are positive (no cancellation), so the sum
    # is rounded once, to ~0.5 ulp plus ~2**-56; scaling by 2^(k-1) is
    # exact (two multiplies: the result overflows exactly when the rounded
    # cosh does, from 710.4759 = 1025 ln2, without an intermediate e^a
    # overflowing first from 709.78).
    b = e.b
    r, c, k = _hyperbolic_reduce(e, x)
    (ps, pt), (ms, mt) = _exp_pm_reduced(e, r, c)
    eh, el = e.fast_two_sum(ps, pt)
    mh, ml = e.fast_two_sum(ms, mt)
    # 2^-2k, capped at 2^-120: beyond, the term is far below the rounding
    # of the sum (and 2^-2k itself would underflow for k > 537).
    k2 = b.shl(b.select(b.icmp_signed(">", k, e.ci(60)), e.ci(60), k), e.ci(1))
    t = e.pow2(b.sub(e.ci(0), k2))
    mh, ml = e.mul(mh, t), e.mul(ml, t)      # exact
    # k = 0: r = a >= 0, so eh >= 1 >= mh; k >= 1: eh > 0.7 > 0.36 > mh.
    sh, s_err = e.fast_two_sum(eh, mh)
    y = e.add(sh, e.add(s_err, e.add(el, ml)))
    return _scale_pow2(e, y, b.sub(k, e.ci(1)))   # NaN stays NaN, +-inf -> inf


def _emit_sinh(e: _Emitter, x):
    # sinh|x| for a = |x| <= _SINH_BIG: (u + u/(1 + u))/2 with u = expm1(a)
    # >= 0: two positive terms, no cancellation, unlike (e^a - e^-a)/2 near
    # 0; u is a double-double, u/(1 + u) gets one correction, the sum is
    # rounded once.  Beyond, e^-a < 2^-63 e^a is dropped: 2^(k-1) * E, E =
    # exp(r + c) rounded (as exp; no intermediate overflow near 710).  Both
    # from one reduction of a (LLVM merges the shared polynomial).
    b = e.b
    r, c, k = _hyperbolic_reduce(e, x)
    uh, ul = _expm1_reduced(e, r, c, k, allow_big=False, split=True)
    dh, dl = e.two_sum(e.c(1.0), uh)
    dl = e.add(dl, ul)
    q = e.div(uh, dh)
    # Residual (uh + ul) - q*(dh + dl); uh - ph is exact (Sterbenz).
    ph, pl = e.two_prod(q, dh)
    res = e.add(e.sub(e.sub(uh, ph), pl), e.sub(ul, e.mul(q, dl)))
    ql = e.div(res, dh)
    sh, s_err = e.fast_two_sum(uh, q)        # u >= u/(1 + u) >= 0
    small = e.mul(e.add(sh, e.add(s_err, e.add(ul, ql))), 0.5)   # exact: >= 2^-55
    big = _scale_pow2(e, e.add(*_exp_reduced(e, r, c)), b.sub(k, e.ci(1)))
    ax = e.fabs(x)
    y = e.copysign(e.sel(e.gt(ax, _SINH_BIG), big, small), x)
    # Tiny |x| (incl. +-0, subnormals): sinh(x) rounds to x; keeps -0.0.
    return e.sel(e.lt(ax, _TINY_ODD), x, y)


_EMITTERS: dict[str, Callable] = {
    "exp": _emit_exp,
    "log": _emit_log,
    "sin": _emit_sin,
    "cos": _emit_cos,
    "tanh": _emit_tanh,
    "log1p": _emit_log1p,
    "expm1": _emit_expm1,
    "cosh": _emit_cosh,
    "sinh": _emit_sinh,
}
assert set(_EMITTERS) == SUPPORTED


def define_vecmath(module: ir.Module, names: Iterable[str], *,
                   use_fma: Optional[bool] = None) -> dict[str, ir.Function]:
    """Define ``double @symdiff.v<name>(double)`` in ``module`` for each name.

    ``names`` are op names from ``SUPPORTED`` (``"exp"``, ``"log"``, ``"sin"``,
    ``"cos"``, ``"tanh"``, ``"log1p"``, ``"expm1"``, ``"cosh"``, ``"sinh"``).  The functions are
    ``internal`` and ``alwaysinline``: after the inliner runs they disappear
    into their callers and leave only vectorizable straight-line code (sin
    and cos also define their cold libm fallback, ``symdiff.v<name>.huge``
    and its helpers, and declare libm's ``sin``/``cos``).
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
