"""compiler.vecmath and the compiled math over the whole float64 range.

Every function vecmath implements is evaluated on uniformly random float64
bit patterns plus special points (tests/vecmath_oracle.py) on each path --
the numpy interpreter, ``fn(x)`` and ``fn.batch`` with ``vector_math`` on
and off -- and measured against mpmath.  Asserted per point:

* NaN, infinities and zero signs are libm's;
* the vector path is within ``VECMATH_ULP`` wherever vecmath computes the
  result itself (|x| <= the sin/cos fast limit), and beyond it sin/cos are
  libm's own bits (the cold fallback);
* no compiled path is less accurate than the interpreter: error <=
  max(interpreter error, the path's stated bound).

Regression: sin/cos of 1e22 and 1e300 returned 1.0 and -0.0 (no reduction
beyond 2**45) on the default (vectorized) path; tanh's derivative
(g / cosh) / cosh called libm's cosh, which does not vectorize (batch and
tensor kernels).
"""

from __future__ import annotations

import functools
import math
import re

import mpmath
import numpy as np
import pytest
import vecmath_oracle as O
from hypothesis import given, settings
from hypothesis import strategies as st

import symdiff as sd
from compiler import vecmath as vm

N_RANDOM = 2000
SEED = 20261201


@pytest.fixture(scope="module", params=O.NAMES)
def measured(request):
    """(name, points, Reference, {path: values}, {path: errors})."""
    name = request.param
    return (name, *O.measure(name, N_RANDOM, SEED))


def _worst(x, err, mask=None):
    err = np.where(mask, err, 0.0) if mask is not None else err
    j = int(np.argmax(err))
    return float(err[j]), float(x[j])


def _libm_scalar(name: str, v: float) -> float:
    """The C library's own ``name(v)`` through Python's math module (the
    function the cold path calls); NaN where math raises for inf."""
    f = {"sin": math.sin, "cos": math.cos}[name]
    return f(v) if math.isfinite(v) else math.nan


def test_sample_covers_the_whole_range():
    x = O.sample("sin", N_RANDOM, SEED)
    fin = x[np.isfinite(x)]
    assert np.isnan(x).any() and np.isinf(x).any()
    assert (np.abs(fin) > 1e300).any() and (np.abs(fin) < 1e-300).any()
    assert ((fin != 0) & (np.abs(fin) < 2.2250738585072014e-308)).any()   # subnormals
    assert (fin < 0).sum() > N_RANDOM // 3
    assert np.array_equal(O.random_bit_patterns(5, 1), O.random_bit_patterns(5, 1),
                          equal_nan=True)


def test_specials_match_libm(measured):
    name, x, ref, values, _ = measured
    lib = ref.libm
    for path, y in values.items():
        assert np.array_equal(np.isnan(y), np.isnan(lib)), (
            f"{name} on {path}: NaN where libm has none (or vice versa) at "
            f"x={x[np.isnan(y) != np.isnan(lib)][:5]}")
        inf = np.isinf(lib)
        assert np.array_equal(y[inf], lib[inf]), f"{name} on {path}: infinities differ"
        zero = lib == 0
        assert np.array_equal(np.signbit(y[zero]), np.signbit(lib[zero])), (
            f"{name} on {path}: zero sign differs at x={x[zero][:5]}")


def test_vector_path_within_stated_bound(measured):
    """vecmath's own results are within VECMATH_ULP over the whole range;
    sin/cos beyond the fast limit are libm's own bits."""
    name, x, ref, values, errs = measured
    own = np.ones(len(x), dtype=bool)
    if name in ("sin", "cos"):
        own = ~(np.abs(x) > vm.sincos_fast_limit(vm.host_has_fma()))
        huge = np.flatnonzero(~own)
        assert len(huge) > N_RANDOM // 3      # the sample does reach the cold path
        want = np.array([_libm_scalar(name, v) for v in x[huge].tolist()])
        for path in ("fn, vector_math", "batch, vector_math"):
            np.testing.assert_array_equal(values[path][huge], want, err_msg=path)
    for path in ("fn, vector_math", "batch, vector_math"):
        worst, at = _worst(x, errs[path], own)
        assert worst <= vm.VECMATH_ULP[name], f"{name} on {path}: {worst:.3f} ulp at x={at!r}"


def test_compiled_never_less_accurate_than_interpreter(measured):
    name, x, ref, values, errs = measured
    interp = errs[O.INTERPRETER]
    for path in O.PATHS[1:]:
        allowed = np.maximum(interp, O.stated_bound(name, path))
        bad = np.flatnonzero(errs[path] > allowed)
        assert not len(bad), (
            f"{name} on {path}: less accurate than the interpreter at x={x[bad[:3]]!r}: "
            f"{errs[path][bad[:3]]} ulp vs {interp[bad[:3]]}")


def test_fn_and_batch_agree_bitwise(measured):
    """One point through the single-call path gives the batch row's bits."""
    name, x, ref, values, _ = measured
    for mode in ("vector_math", "libm"):
        a, b = values[f"fn, {mode}"], values[f"batch, {mode}"]
        assert np.array_equal(a, b, equal_nan=True), f"{name}, {mode}"


@functools.lru_cache(maxsize=None)
def _compiled(name: str, vector_math: bool):
    return O.compiled(name, vector_math)


@settings(max_examples=300)
@given(name=st.sampled_from(O.NAMES), v=st.floats(width=64))
def test_property_any_double(name, v):
    """Any double (hypothesis favours the extremes): the default compiled
    path is within its bound or no worse than the interpreter, and the
    single call and the batch row agree bitwise."""
    x = np.array([v])
    ref = O.Reference(name, x)
    fn = _compiled(name, True)
    got = fn(x)
    assert np.array_equal(got, fn.batch(x.reshape(1, 1))[:, 0], equal_nan=True)
    interp = ref.errors(O.libm(name, x))[0]   # numpy: what the interpreter calls
    err = ref.errors(got)[0]
    assert err <= max(interp, O.stated_bound(name, "fn, vector_math")), (name, v, err, interp)


# ---------------------------------------------------------------------------
# Regression: the defect as reported, and the lanes of the masked fallback.

@pytest.mark.parametrize("name, v, want", [
    ("sin", 1e22, -0.8522008497671888), ("sin", 1e300, -0.8178819121159085),
    ("cos", 1e22, 0.523214785395139), ("cos", 1e300, -0.5753861119575491),
    ("sin", -1e22, 0.8522008497671888), ("sin", 2.0 ** 1023, 0.563127779850884),
])
def test_huge_arguments_default_options(name, v, want):
    x = sd.symbol("x")
    fn = sd.compile([getattr(sd, name)(x)], [x])
    assert fn([v])[0] == want
    assert fn.batch(np.full((20, 1), v))[:, 0].tolist() == [want] * 20


def test_fallback_lanes_in_a_vector_batch():
    """Huge arguments at every lane position, alone, in runs and in the
    scalar remainder of the loop: those lanes get libm's bits, the others
    exactly what they get without huge neighbours."""
    x = sd.symbol("x")
    fn = sd.compile([sd.sin(x)], [x])
    rng = np.random.default_rng(5)
    base = rng.uniform(-10, 10, 67)
    plain = fn.batch(base.reshape(-1, 1))[:, 0]
    for positions in ([0], [1], [3], [7], [8], [15], [16, 17, 18, 19, 20, 21, 22, 23],
                      [30, 33], [64, 65, 66], list(range(0, 67, 5))):
        X = base.copy()
        X[positions] = 1e300 * (1 + np.arange(len(positions)))
        got = fn.batch(X.reshape(-1, 1))[:, 0]
        want = plain.copy()
        want[positions] = [math.sin(v) for v in X[positions]]
        assert got.tolist() == want.tolist(), positions


# ---------------------------------------------------------------------------
# Regression: tanh's derivative (g / cosh x) / cosh x called libm's cosh,
# which LLVM does not vectorize: the batch of [tanh, tanh'] went from ~2.5
# to 12-17 ms per 10**6 rows.  cosh (and sinh, cosh's derivative) now come
# from vecmath wherever exp and tanh do.

def _rows_function(fn) -> str:
    opt = fn.batch_llvm_ir_opt
    rows = opt[opt.index(f"@{fn.name}__rows("):]
    return rows[:rows.index("\n}\n")]


@pytest.mark.parametrize("op, other", [("tanh", "cosh"), ("cosh", "sinh"), ("sinh", "cosh")])
def test_derivative_batch_loop_vectorized_without_libm(op, other):
    """[f(x), f'(x)] for f = tanh (f' needs cosh), cosh (sinh) and sinh
    (cosh): the row loop is vectorized and calls no libm function."""
    x = sd.symbol("x")
    f = getattr(sd, op)(x)
    fn = sd.compile([f, *sd.grad(f, [x])], [x])
    assert f'@"symdiff.v{other}"' in fn.batch_llvm_ir
    rows = _rows_function(fn)
    assert re.search(r"<(2|4|8) x double>", rows), "row loop not vectorized"
    calls = set(re.findall(r'call [^@\n]*@"?([\w.]+)', rows))
    assert all(c.startswith("llvm.") for c in calls), calls


def _relative_errors(got, exact_values) -> np.ndarray:
    """|got / exact - 1| against mpmath numbers."""
    return np.array([float(abs(mpmath.mpf(float(g)) / w - 1))
                     for g, w in zip(got.tolist(), exact_values)])


# (g / cosh) / cosh: two cosh errors (< 0.8 ulp, so relative < 0.8 * 2**-52,
# each) and two divisions (2**-53 each): relative error < 2.6 * 2**-52, to
# first order (measured: 1.51 * 2**-52, 2.77 ulp, on 20,000 points in
# [-20, 20]).
SECH2_REL = 2.6 * 2.0 ** -52


def test_tanh_derivative_values():
    """sech^2 through vecmath's cosh: within SECH2_REL of mpmath where
    1 - tanh^2 gave 0 (x = 20) and a 1.1e-8 relative error (x = 10), and no
    NaN where cosh overflows (x = 800: (g / inf) / inf = 0)."""
    x = sd.symbol("x")
    t = sd.tanh(x)
    fn = sd.compile([t, *sd.grad(t, [x])], [x])
    special = [20.0, -10.0, 0.5, 0.0, 355.0, 800.0, -800.0]
    xs = np.concatenate([special, np.random.default_rng(7).uniform(-25, 25, 1000)])
    got = fn.batch(xs.reshape(-1, 1))[:, 1]
    assert got[3] == 1.0 and got[5] == 0.0 and got[6] == 0.0
    assert got[0] == 1.6993417021166355e-17        # correctly rounded; 1 - t*t: 0.0
    finite = np.r_[0:5, 7:len(xs)]
    with mpmath.workdps(40):
        exact = [mpmath.sech(v) ** 2 for v in xs[finite].tolist()]
        assert _relative_errors(got[finite], exact).max() <= SECH2_REL
        assert abs(got[1] / exact[1] - 1) < 1e-15   # 1 - t*t: 1.1e-8


def test_tensor_kernel_uses_vecmath_cosh():
    """The tensor code generator lowers tanh's derivative through vecmath
    too: its module calls symdiff.vcosh and declares no libm cosh."""
    X = sd.tensor("X", (3, 4))
    loss = sd.sum(sd.tanh(X))
    fn = sd.compile([loss, *sd.grad(loss, [X])], [X])
    ir = fn.llvm_ir
    assert '@"symdiff.vcosh"' in ir
    assert not re.search(r'declare [^\n]*@"?cosh"?\(', ir)
    Xv = np.linspace(-30, 30, 12).reshape(3, 4)
    grad = fn(Xv)[1].ravel()
    assert grad[0] == grad[-1]                                # x = -+30
    assert abs(grad[0] / 3.502604305078608e-26 - 1) < 1e-15  # 1 - t*t: 0.0
    with mpmath.workdps(40):
        exact = [mpmath.sech(v) ** 2 for v in Xv.ravel().tolist()]
        assert _relative_errors(grad, exact).max() <= SECH2_REL
