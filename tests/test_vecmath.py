"""Accuracy, IEEE special values and vectorizability of compiler.vecmath.

Each function is JIT-compiled inside a batch loop (``apply_<name>(in, out, n)``)
exactly as the code generator would use it, then compared with an oracle:

* mpmath at 60 digits on every edge case and on a random sample of each
  domain (the reference oracle);
* on 200k log-uniform points per function, libm's long double functions via
  numpy (64-bit mantissa on x86-64), after checking on the mpmath sample that
  they agree with mpmath to within 1/128 ulp of a double.  Calling mpmath 1.4
  million times would take ~35 s; without an 80-bit long double the sweep
  falls back to mpmath on fewer points.

Both code paths (use_fma=True and False) are tested on this host.  Beyond
their fast range sin/cos must return libm's own bits (the cold fallback), in
any lane of the vector loop, also in code for SSE2, AVX2 and AVX-512; the
whole float64 range on every compiled path is tests/test_vecmath_range.py's.

Errors are |computed - exact| / ulp(exact), ulp(exact) = 2**(e - 52) for
2**e <= |exact| < 2**(e+1) (2**-1074 for subnormals).
"""

from __future__ import annotations

import ctypes
import math
import re

import llvmlite.binding as llvm
import llvmlite.ir as ir
import mpmath
import numpy as np
import pytest

from compiler import vecmath as vm

NAMES = sorted(vm.SUPPORTED)
N_SWEEP = 200_000        # log-uniform points per function (long double oracle)
N_MP = 3_000             # random points per function checked against mpmath
F64 = ir.DoubleType()
I64 = ir.IntType(64)
TINY = 5e-324
BIG = 1.7976931348623157e308
INF = float("inf")
NAN = float("nan")

llvm.initialize_native_target()
llvm.initialize_native_asmprinter()


# ---------------------------------------------------------------------------
# JIT harness
# ---------------------------------------------------------------------------

def build_module(names, use_fma):
    """An llvmlite module with ``void apply_<name>(double* in, double* out, i64 n)``
    looping over the array and calling symdiff.v<name> on each element."""
    module = ir.Module(name="vecmath_test")
    module.triple = llvm.get_process_triple()
    fns = vm.define_vecmath(module, names, use_fma=use_fma)
    ptr = F64.as_pointer()
    for name in names:
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr, ptr, I64]),
                         name=f"apply_{name}")
        src, dst, n = fn.args
        src.add_attribute("noalias")
        dst.add_attribute("noalias")
        entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
        b = ir.IRBuilder(entry)
        b.cbranch(b.icmp_signed(">", n, I64(0)), loop, done)
        b.position_at_end(loop)
        i = b.phi(I64)
        i.add_incoming(I64(0), entry)
        y = b.call(fns[name], [b.load(b.gep(src, [i]))])
        b.store(y, b.gep(dst, [i]))
        i_next = b.add(i, I64(1))
        i.add_incoming(i_next, loop)
        b.cbranch(b.icmp_signed("==", i_next, n), done, loop)
        b.position_at_end(done)
        b.ret_void()
    return module


class Jit:
    """Owns the engine (which owns the target machine) for as long as the
    function pointers are used."""

    def __init__(self, names, use_fma):
        self.names = list(names)
        self.use_fma = vm.host_has_fma() if use_fma is None else use_fma
        self.ir = str(build_module(self.names, use_fma))
        mod = llvm.parse_assembly(self.ir)
        mod.verify()
        tm = llvm.Target.from_default_triple().create_target_machine(
            cpu=llvm.get_host_cpu_name(),
            features=llvm.get_host_cpu_features().flatten(), opt=3)
        pb = llvm.create_pass_builder(tm, llvm.PipelineTuningOptions(speed_level=3))
        pb.getModulePassManager().run(mod, pb)
        self.ir_opt = str(mod)
        self.engine = llvm.create_mcjit_compiler(mod, tm)
        self.engine.finalize_object()
        proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
        self.fns = {n: proto(self.engine.get_function_address(f"apply_{n}"))
                    for n in self.names}

    def __call__(self, name, x):
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.empty_like(x)
        self.fns[name](x.ctypes.data, y.ctypes.data, x.size)
        return y

    def function_ir(self, name):
        m = re.search(r"define [^\n]*@apply_%s\(.*?\n}\n" % name, self.ir_opt, re.S)
        assert m, name
        return m.group(0)


@pytest.fixture(scope="module", params=[True, False], ids=["fma", "nofma"])
def jit(request):
    return Jit(NAMES, use_fma=request.param)


# ---------------------------------------------------------------------------
# Oracles and ulp measurement
# ---------------------------------------------------------------------------

MP_FUNCS = {
    "exp": mpmath.exp, "log": mpmath.log, "sin": mpmath.sin, "cos": mpmath.cos,
    "tanh": mpmath.tanh, "log1p": mpmath.log1p, "expm1": mpmath.expm1,
    "cosh": mpmath.cosh, "sinh": mpmath.sinh,
}
LD_FUNCS = {
    "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "log1p": np.log1p, "expm1": np.expm1,
    "cosh": np.cosh, "sinh": np.sinh,
}
HAVE_LD = np.finfo(np.longdouble).nmant >= 63


def ulp_of(hi, below):
    """ulp of the exact value whose nearest double is hi: spacing(|hi|), halved
    when |hi| is a power of two and the exact value lies below it in magnitude."""
    hi = np.abs(hi)
    ulp = np.spacing(hi)
    halve = below & (np.frexp(hi)[0] == 0.5) & (hi >= 2.0 ** -1021)
    return np.where(halve, ulp / 2, ulp)


def mp_reference(name, x):
    """Exact values as (nearest double, (exact - nearest) in ulps) from mpmath
    at 60 digits.  The offset is kept in ulps rather than as a double-double
    so that it survives for subnormal results."""
    f = MP_FUNCS[name]
    hi = np.empty(len(x))
    frac = np.zeros(len(x))
    with mpmath.workdps(60):
        for j, v in enumerate(x.tolist()):
            r = f(mpmath.mpf(v))
            h = float(r)
            hi[j] = h
            if np.isfinite(h):
                u = ulp_of(np.array([h]), np.array([abs(r) < abs(h)]))[0]
                frac[j] = float((r - h) / u)
    return hi, frac


def ld_reference(name, x):
    """Like mp_reference, from libm's long double functions."""
    r = LD_FUNCS[name](x.astype(np.longdouble))
    hi = r.astype(np.float64)
    with np.errstate(invalid="ignore"):
        fin = np.isfinite(hi)
        u = ulp_of(hi, np.abs(r) < np.abs(hi))
        frac = np.where(fin, ((r - hi) / u).astype(np.float64), 0.0)
    return hi, frac


def ulp_error(y, hi, frac):
    """|y - exact| / ulp(exact) where exact = hi + frac * ulp; hi finite."""
    u = ulp_of(hi, frac * np.sign(hi) < 0)
    with np.errstate(invalid="ignore", over="ignore"):
        # y - hi is exact whenever the error is small (Sterbenz).
        return np.abs((y - hi) / u - frac)


def check_accuracy(name, x, y, hi, frac, bound, what):
    """Assert the ulp bound where the exact result is finite, and that the
    result overflows exactly where the rounded exact value does."""
    finite = np.isfinite(hi)
    np.testing.assert_array_equal(y[~finite], hi[~finite],
                                  err_msg=f"{name}: overflow mismatch ({what})")
    err = ulp_error(y[finite], hi[finite], frac[finite])
    assert not np.isnan(err).any(), f"{name}: NaN result for x={x[finite][np.isnan(err)][:5]}"
    worst = int(np.argmax(err))
    assert err[worst] <= bound, (
        f"{name} ({what}): {err[worst]:.3f} ulp > {bound} at x={x[finite][worst]!r}")
    return float(err.max())


# ---------------------------------------------------------------------------
# Samples
# ---------------------------------------------------------------------------

def loguniform(rng, n, lo, hi, signed=False):
    """|x| log-uniform in [10**lo, 10**hi]; random sign if signed."""
    x = 10.0 ** rng.uniform(lo, hi, n)
    if signed:
        x *= rng.choice([-1.0, 1.0], n)
    return x


def sample(name, n, seed):
    """Points spread over the domain of ``name`` where the result is finite,
    with extra weight where the algorithms switch regime."""
    rng = np.random.default_rng(seed)
    a, b = n // 2, n - n // 2
    if name == "exp":
        x = np.concatenate([loguniform(rng, a, -20, np.log10(745.13), True),
                            rng.uniform(-745.2, 709.78, b)])
        return x[x < 709.78]
    if name == "expm1":
        x = np.concatenate([loguniform(rng, a, -20, np.log10(709.78), True),
                            rng.uniform(-3, 3, b)])
        return x[(x > -60) & (x < 709.78)]
    if name == "log":
        return np.concatenate([loguniform(rng, a, -323.5, 308.2),
                               1.0 + loguniform(rng, b, -16, -0.4, True)])
    if name == "log1p":
        return np.concatenate([loguniform(rng, a // 2, -20, 308.2),
                               -loguniform(rng, a - a // 2, -20, np.log10(0.9999)),
                               -1.0 + loguniform(rng, b // 2, -16, 0.3),
                               rng.uniform(-0.5, 1.0, b - b // 2)])
    if name in ("sin", "cos"):
        return np.concatenate([loguniform(rng, a, -10, np.log10(vm.SINCOS_ACCURATE_LIMIT), True),
                               rng.uniform(-10, 10, b)])
    if name == "tanh":
        return np.concatenate([loguniform(rng, a, -20, np.log10(25.0), True),
                               rng.uniform(-3, 3, b)])
    if name in ("cosh", "sinh"):
        # Up to the overflow threshold 1025 ln2 = 710.4759 (the overflowing
        # arguments are checked by check_accuracy's overflow match).
        return np.concatenate([loguniform(rng, a // 2, -20, np.log10(710.476), True),
                               rng.uniform(-3, 3, b // 2), rng.uniform(-30, 30, b - b // 2),
                               rng.uniform(705.0, 710.476, a - a // 2)
                               * rng.choice([-1.0, 1.0], a - a // 2)])
    raise AssertionError(name)


def nearest_multiples_of_pio2(limit, count):
    """The doubles nearest to k*pi/2 (and odd k*pi/4, where the quadrant
    changes) for k spread up to limit/(pi/2): the hardest reduction cases."""
    kmax = int(limit / 1.5707963267948966)
    ks = np.unique(np.concatenate([np.arange(1, 200),
                                   np.geomspace(200, kmax, count).astype(np.int64)]))
    out = []
    with mpmath.workdps(60):
        for k in ks.tolist():
            for frac in (2, 4):
                if frac == 4 and k % 2 == 0:
                    continue
                v = float(mpmath.mpf(k) * mpmath.pi / frac)
                out += [v, -v, np.nextafter(v, INF), np.nextafter(v, 0.0)]
    x = np.array(out)
    return x[np.abs(x) <= limit]


def edge_cases(name):
    """Finite-result edge cases checked against mpmath (specials are below)."""
    common = [0.0, -0.0, TINY, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-20,
              2.0 ** -54, 2.0 ** -53, 2.0 ** -27, 2.0 ** -26, 0.5, 1.0, 2.0,
              np.nextafter(1.0, 0.0), np.nextafter(1.0, 2.0)]
    ln2 = np.log(2.0)
    if name == "exp":
        xs = common + [-c for c in common] + [
            709.78, 709.782712893384, 709.7827128933839, -708.39, -708.3964185322641,
            -708.4, -740.0, -745.1332191019411, -745.13321910194122, -745.2, -744.44007192138126,
            np.nextafter(ln2 / 2, 0), np.nextafter(ln2 / 2, 1), -ln2 / 2, 100 * ln2,
            -1022 * ln2, -1050 * ln2, 1023 * ln2]
    elif name == "expm1":
        xs = common + [-c for c in common] + [
            709.78, 709.782712893384, -37.0, -37.5, -38.0, -44.0, -45.0, -46.0, -100.0,
            ln2 / 2, -ln2 / 2, 0.3465, 0.3467, 1.0397, 1.0398, 38.0 * ln2, 40.0, 56 * ln2,
            57 * ln2, 60 * ln2]
    elif name == "log":
        xs = [c for c in common if c > 0] + [
            BIG, 1e308, 2.225e-308, 4.9e-323, 0.7071067811865476, 0.7071067811865475,
            1.4142135623730951, 1.414213562373095, np.e, 10.0, 3.0, 1e-5, 2.0 ** 1023]
    elif name == "log1p":
        xs = common + [-c for c in common if c < 1] + [
            BIG, 1e308, -0.5, -1.0 + 2.0 ** -53, -1.0 + 2.0 ** -52, -0.9999, -0.29289,
            0.41421, 0.41422, 1.0, 2.0 ** 53, 2.0 ** 53 + 2, 1e16, 2.0 ** -1022]
    elif name in ("sin", "cos"):
        xs = common + [-c for c in common] + [
            np.pi / 4, np.nextafter(np.pi / 4, 1), 0.7853981633974484, 1e5, 1e6,
            vm.SINCOS_ACCURATE_LIMIT, -vm.SINCOS_ACCURATE_LIMIT, 22.0, 355.0, 103993.0,
            104348.0, 1.5707963267948966, 3.141592653589793]
        xs += nearest_multiples_of_pio2(vm.SINCOS_ACCURATE_LIMIT, 300).tolist()
    elif name == "tanh":
        xs = common + [-c for c in common] + [
            0.625, -0.625, 0.55, 19.0, 19.06, 19.07, 21.9, 22.0, 22.01, 25.0, 40.0,
            ln2 / 4, 0.1733, 0.5199, -0.5199, 18.0, -18.0]
    elif name in ("cosh", "sinh"):
        # Where k = round(|x|/ln2) changes, the sinh switch at 22, the
        # overflow of e^x (709.78) and of cosh/sinh (1025 ln2 = 710.4759).
        xs = common + [-c for c in common] + [
            ln2 / 2, np.nextafter(ln2 / 2, 1), 1.5 * ln2, 0.3466, 0.3467, 1.0397, 1.0398,
            21.9, 22.0, np.nextafter(22.0, 23), 22.1, 23.6, 24.0, 30.0, 44.0, 100.0,
            709.78, 709.782712893384, 709.7827128933841, 710.0, 710.4758600739439,
            -710.4758600739439, 710.2474250319149, -710.4050461704851, -710.1283526803161,
            10.950535182584202, -0.6969180824163697, 0.002878969755407102]
    else:
        raise AssertionError(name)
    return np.array(xs, dtype=np.float64)


# Exact special values, libm semantics: (x, expected); sign of zeros checked.
SPECIALS = {
    "exp": [(INF, INF), (-INF, 0.0), (NAN, NAN), (0.0, 1.0), (-0.0, 1.0), (710.0, INF),
            (709.7827128933841, INF), (1000.0, INF), (BIG, INF), (-746.0, 0.0),
            (-1000.0, 0.0), (-BIG, 0.0), (-745.1332191019411, TINY),
            (-745.1332191019412, 0.0), (-745.14, 0.0)],
    "log": [(0.0, -INF), (-0.0, -INF), (1.0, 0.0), (INF, INF), (-INF, NAN), (-1.0, NAN),
            (-TINY, NAN), (NAN, NAN), (TINY, -744.4400719213812), (2.0, 0.6931471805599453)],
    "sin": [(INF, NAN), (-INF, NAN), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (TINY, TINY),
            (-TINY, -TINY), (-1e-300, -1e-300)],
    "cos": [(INF, NAN), (-INF, NAN), (NAN, NAN), (0.0, 1.0), (-0.0, 1.0), (TINY, 1.0)],
    "tanh": [(INF, 1.0), (-INF, -1.0), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (TINY, TINY),
             (-TINY, -TINY), (22.5, 1.0), (-22.5, -1.0), (1e300, 1.0), (-BIG, -1.0)],
    "log1p": [(-1.0, -INF), (-1.5, NAN), (-INF, NAN), (np.nextafter(-1.0, -2.0), NAN),
              (INF, INF), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (TINY, TINY),
              (-TINY, -TINY), (1e-300, 1e-300)],
    "expm1": [(INF, INF), (-INF, -1.0), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (TINY, TINY),
              (-TINY, -TINY), (710.0, INF), (1000.0, INF), (-50.0, -1.0), (-1000.0, -1.0),
              (-BIG, -1.0), (1e-300, 1e-300)],
    "cosh": [(INF, INF), (-INF, INF), (NAN, NAN), (0.0, 1.0), (-0.0, 1.0), (TINY, 1.0),
             (-TINY, 1.0), (2.0 ** -27, 1.0), (710.4758600739440, INF),
             (-710.4758600739440, INF), (711.0, INF), (1000.0, INF), (-BIG, INF),
             (710.4758600739439, 1.7976931348621744e308)],
    "sinh": [(INF, INF), (-INF, -INF), (NAN, NAN), (0.0, 0.0), (-0.0, -0.0), (TINY, TINY),
             (-TINY, -TINY), (1e-300, 1e-300), (-(2.0 ** -27), -(2.0 ** -27)),
             (710.4758600739440, INF), (-710.4758600739440, -INF), (1000.0, INF),
             (-BIG, -INF), (-710.4758600739439, -1.7976931348621744e308)],
}


def same_value(a, b):
    """Bitwise-meaningful equality: both NaN, or equal with the same sign."""
    if np.isnan(b):
        return bool(np.isnan(a))
    return a == b and np.signbit(a) == np.signbit(b)


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_special_values(jit, name):
    xs = np.array([x for x, _ in SPECIALS[name]])
    ys = jit(name, xs)
    bad = [(x, y, want) for (x, want), y in zip(SPECIALS[name], ys) if not same_value(y, want)]
    assert not bad, f"{name}: (x, got, want) = {bad}"


@pytest.mark.parametrize("name", NAMES)
def test_edge_cases_vs_mpmath(jit, name):
    x = edge_cases(name)
    hi, frac = mp_reference(name, x)
    check_accuracy(name, x, jit(name, x), hi, frac, vm.VECMATH_ULP[name], "edge cases")


@pytest.mark.parametrize("name", NAMES)
def test_random_vs_mpmath(jit, name):
    x = sample(name, N_MP, seed=1)
    hi, frac = mp_reference(name, x)
    check_accuracy(name, x, jit(name, x), hi, frac, vm.VECMATH_ULP[name], "mpmath sample")
    if HAVE_LD:
        # The long double oracle used by the big sweep agrees with mpmath.
        ld_hi, ld_frac = ld_reference(name, x)
        fin = np.isfinite(hi)
        assert np.array_equal(np.isfinite(ld_hi), fin)
        # ld value measured against the mpmath value, in ulps.
        assert ulp_error(ld_hi[fin], hi[fin], frac[fin] - ld_frac[fin]).max() <= 2.0 ** -7


@pytest.mark.parametrize("name", NAMES)
def test_sweep(jit, name):
    if HAVE_LD:
        x = sample(name, N_SWEEP, seed=2)
        hi, frac = ld_reference(name, x)
    else:
        x = sample(name, N_SWEEP // 10, seed=2)
        hi, frac = mp_reference(name, x)
    check_accuracy(name, x, jit(name, x), hi, frac, vm.VECMATH_ULP[name], "sweep")


@pytest.mark.parametrize("jit", [True], ids=["fma"], indirect=True)
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sincos_extended_range_with_fma(jit, name):
    """With FMA the bound holds up to SINCOS_ACCURATE_LIMIT_FMA (2**45)
    (an FMA-mode guarantee: only the FMA build is run; on a CPU without FMA
    llvm.fma becomes a correct, slow libm call)."""
    assert jit.use_fma
    lo, hi = np.log10(vm.SINCOS_ACCURATE_LIMIT), np.log10(vm.SINCOS_ACCURATE_LIMIT_FMA)
    x = nearest_multiples_of_pio2(vm.SINCOS_ACCURATE_LIMIT_FMA, 200)
    x = np.concatenate([x, [vm.SINCOS_ACCURATE_LIMIT_FMA, 1e10, 1e12, 1e13]])
    ref_hi, frac = mp_reference(name, x)
    check_accuracy(name, x, jit(name, x), ref_hi, frac, vm.VECMATH_ULP[name], "hard, FMA")
    x = loguniform(np.random.default_rng(4), 50_000 if HAVE_LD else 2_000, lo, hi, True)
    ref_hi, frac = ld_reference(name, x) if HAVE_LD else mp_reference(name, x)
    check_accuracy(name, x, jit(name, x), ref_hi, frac, vm.VECMATH_ULP[name], "sweep, FMA")


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sincos_beyond_fast_limit_is_libm(jit, name):
    """Past sincos_fast_limit (2**45 with FMA, 2**22 without) the cold path
    returns libm's own bits, in every lane position of the vector loop.
    (Before the fallback, sin(1e22) was 1.0 and sin(1e300) -0.0.)"""
    limit = vm.sincos_fast_limit(jit.use_fma)
    rng = np.random.default_rng(3)
    x = loguniform(rng, 5_000, np.log10(limit), 308.25, True)
    x = np.concatenate([x, [BIG, -BIG, 2.0 ** 52, 2.0 ** 53 + 2, 1e22, 1e300, 2.0 ** 1023,
                            np.nextafter(limit, INF), -np.nextafter(limit, INF)]])
    rng.shuffle(x)
    libm = {"sin": math.sin, "cos": math.cos}[name]
    want = np.array([libm(v) for v in x.tolist()])
    np.testing.assert_array_equal(jit(name, x), want)
    # Mixed with in-range lanes: the huge lanes get libm's bits, the others
    # what they get on their own.
    mixed = np.where(rng.random(len(x)) < 0.1, x, rng.uniform(-10.0, 10.0, len(x)))
    got = jit(name, mixed)
    huge = np.abs(mixed) > limit
    np.testing.assert_array_equal(got[huge], [libm(v) for v in mixed[huge].tolist()])
    np.testing.assert_array_equal(got[~huge], jit(name, mixed[~huge]))
    want_1e22 = {"sin": -0.8522008497671888, "cos": 0.523214785395139}[name]
    assert jit(name, np.array([1e22]))[0] == want_1e22


def test_log_is_exact_on_powers_of_two(jit):
    """log(2**k) = k*ln2 correctly rounded (incl. subnormal powers)."""
    k = np.arange(-1074, 1024)
    x = np.ldexp(1.0, k)
    hi, frac = mp_reference("log", x)
    check_accuracy("log", x, jit("log", x), hi, frac, vm.VECMATH_ULP["log"], "powers of 2")


def test_exp_gradual_underflow(jit):
    """Subnormal results are rounded once, not flushed."""
    x = np.linspace(-745.2, -708.0, 5001)
    hi, frac = mp_reference("exp", x)
    y = jit("exp", x)
    check_accuracy("exp", x, y, hi, frac, vm.VECMATH_ULP["exp"], "underflow")
    assert (y[(x > -745.0)] > 0).all()


def test_loop_is_vectorized_without_calls(jit):
    """After O3 the batch loops use SIMD doubles and call nothing but LLVM
    intrinsics: the vecmath functions are inlined and no libm call remains.
    sin/cos also call their cold fallback: once per vector its masked vector
    version (symdiff.v<name>.huge.m<VF>, which returns at once when no lane
    is huge), and the scalar symdiff.v<name>.huge in the remainder loop --
    never libm directly, which would be one call per lane."""
    for name in NAMES:
        body = jit.function_ir(name)
        assert re.search(r"<(2|4|8) x double>", body), f"{name}: loop not vectorized"
        calls = re.findall(r"call [^@]*@\"?([\w.]+)", body)
        if name in ("sin", "cos"):
            fallback = {c for c in calls if not c.startswith("llvm.")}
            masked = {f"symdiff.v{name}.huge.m{vf}" for vf in (2, 4, 8)}
            assert fallback <= masked | {f"symdiff.v{name}.huge"}, f"{name}: calls {fallback}"
            assert fallback & masked, f"{name}: no masked vector fallback in {fallback}"
        else:
            assert all(c.startswith("llvm.") for c in calls), f"{name}: calls {calls}"
    # internal + inlined -> removed (the fallbacks symdiff.v<name>.huge* stay)
    assert not re.search(r'define[^\n]*@"?symdiff\.v\w+"?\(', jit.ir_opt)


def test_define_is_idempotent_and_internal():
    module = ir.Module()
    first = vm.define_vecmath(module, ["exp", "sin"], use_fma=True)
    again = vm.define_vecmath(module, ["sin", "exp", "log"], use_fma=False)
    assert again["exp"] is first["exp"] and again["sin"] is first["sin"]
    text = str(module)
    assert text.count("define internal double @\"symdiff.vexp\"") == 1
    for name in ("exp", "sin", "log"):
        fn = module.get_global(vm.vecmath_symbol(name))
        assert fn.linkage == "internal" and "alwaysinline" in fn.attributes
    llvm.parse_assembly(text).verify()
    # Only the cold fallback of sin declares libm (its own sin), readnone
    # and not speculatable (so no pass hoists it out of its branch).
    decls = re.findall(r'declare [^\n]*@"?(\w+)"?\(', text)
    assert [d for d in decls if not d.startswith("llvm.")] == ["sin"]
    assert re.search(r'declare double @"?sin"?\(double[^)]*\) nounwind readnone\n', text)
    with pytest.raises(ValueError):
        vm.define_vecmath(module, ["tan"])


def test_fma_choice():
    """use_fma=False never emits llvm.fma; the default follows the host CPU."""
    module = ir.Module()
    vm.define_vecmath(module, NAMES, use_fma=False)
    assert "llvm.fma" not in str(module)
    module = ir.Module()
    vm.define_vecmath(module, NAMES)
    assert ("llvm.fma" in str(module)) == vm.host_has_fma()


def test_constants_match_derivation():
    """The hex literals in vecmath.py are what derive_constants() produces."""
    derived = vm.derive_constants()
    for key, vals in derived.items():
        stored = getattr(vm, "_" + key)
        stored = stored if isinstance(stored, tuple) else (stored,)
        assert len(stored) == len(vals), key
        np.testing.assert_allclose(stored, vals, rtol=2.0 ** -40, err_msg=key)


_X86_V3 = ("sse2", "avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave")
_X86_V4 = _X86_V3 + ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")


@pytest.mark.parametrize("cpu, features, widths", [
    ("x86-64", ("sse2",), {2}), ("x86-64-v3", _X86_V3, {4}), ("x86-64-v4", _X86_V4, {4, 8})])
def test_fallback_vectorizes_for_other_x86_targets(cpu, features, widths):
    """On SSE2, AVX2 and AVX-512 the sin loop vectorizes with the masked
    fallback of the loop's width, and huge lanes anywhere in it get libm's
    bits.  (Code for these x86-64 levels runs on any host that has their
    features; elsewhere the test is skipped.)"""
    if llvm.get_process_triple().split("-")[0] != "x86_64":
        pytest.skip("x86-64 targets")
    host = llvm.get_host_cpu_features()
    if not all(host.get(f, False) for f in features):
        pytest.skip(f"host lacks some of {features}")
    mod = llvm.parse_assembly(str(build_module(["sin"], use_fma="fma" in features)))
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=cpu, features=",".join("+" + f for f in features), opt=3)
    pb = llvm.create_pass_builder(tm, llvm.PipelineTuningOptions(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    body = re.search(r"define [^\n]*@apply_sin\(.*?\n}\n", str(mod), re.S).group(0)
    used = {int(w) for w in re.findall(r"symdiff\.vsin\.huge\.m(\d+)", body)}
    assert used and used <= widths, used
    assert all(f"<{w} x double>" in body for w in used)
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    apply_sin = proto(engine.get_function_address("apply_sin"))
    rng = np.random.default_rng(6)
    x = rng.uniform(-10.0, 10.0, 101)
    huge = rng.choice(101, 15, replace=False)
    x[huge] = 1e300 * rng.uniform(0.5, 1.0, 15)
    y = np.empty_like(x)
    apply_sin(x.ctypes.data, y.ctypes.data, len(x))
    assert y[huge].tolist() == [math.sin(v) for v in x[huge].tolist()]
    hi, frac = mp_reference("sin", x)
    check_accuracy("sin", x, y, hi, frac, vm.VECMATH_ULP["sin"], cpu)
