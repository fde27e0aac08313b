"""Compiled kernels agree with the symdiff interpreter: every op, special
values, random expressions, batches, strides, threads, out=, validation."""

from __future__ import annotations

import gc
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_compiler_helpers import SPECIAL, assert_same, lecture, sample

import compiler
import symdiff as sd
from compiler import plan as cplan
from compiler.vecmath import VECMATH_ULP
from symdiff.core.ops import OPS, POW_UNROLLED, VARIADIC
from symdiff.core.program import Instr, Program

# Compiled code goes to the session's temporary cache (tests/conftest.py).


# Ops whose compiled form must be bitwise equal to numpy's (IEEE basic
# operations, comparisons and selects).  max/min: equal up to the sign of a
# zero result, since numpy itself returns either zero for fmax(-0.0, 0.0)
# depending on whether it takes its scalar or SIMD loop.
EXACT = {"add", "sub", "mul", "div", "neg", "sqrt", "abs", "relu", "step", "sign", "eq",
         "max", "min"}
SIGNED_ZERO_FREE = {"max", "min"}
# numpy's exp/log/sin... (SIMD implementations on this CPU) and glibc's may
# differ by an ulp or two.
LIBM_ULP = 4


# Ops lowered through compiler.vecmath when vector_math is on.
VEC_OPS = ["exp", "log", "sin", "cos", "tanh", "cosh", "sinh", "log1p", "expm1", "sigmoid",
           "softplus"]


def _all_ops_program(names=None):
    """One program applying every op (or those in ``names``) to its own input
    columns, so a single compile covers the op table.  Variadic ops get 2
    and 3 arguments."""
    instrs, outputs, cases = [], [], []
    n_in = 0
    specs = []
    for name, op in OPS.items():
        if names is not None and name not in names:
            continue
        arities = [2, 3] if op.arity == VARIADIC else [op.arity]
        for ar in arities:
            specs.append((name, ar))
    for name, ar in specs:
        cols = list(range(n_in, n_in + ar))
        n_in += ar
        cases.append((name, ar, cols))
    instrs = [Instr("input", (), j) for j in range(n_in)]
    for name, _arity, cols in cases:
        instrs.append(Instr(name, tuple(cols)))
        outputs.append(len(instrs) - 1)
    return Program(tuple(f"a{j}" for j in range(n_in)), tuple(instrs), tuple(outputs)), cases


def _points(cases, n_in, rng, n_random=300):
    """Rows: domain samples for each op's columns, then every special value
    (and, for binary ops, every pair of special values) in its columns."""
    S = np.array(SPECIAL)
    pairs = np.array([(a, b) for a in SPECIAL for b in SPECIAL])
    n_rows = n_random + len(pairs)
    X = np.empty((n_rows, n_in))
    for name, ar, cols in cases:
        dom = list(OPS[name].domain) + ["real"] * ar
        for i, c in enumerate(cols):
            X[:n_random, c] = sample(dom[i], rng, n_random)
            if ar == 1:
                X[n_random:, c] = np.resize(S, len(pairs))
            else:
                X[n_random:, c] = pairs[:, min(i, 1)]
    return X


@pytest.mark.parametrize("vector_math,subset", [(False, "all"), (True, "all"), (True, "vec")])
def test_every_op_matches_interpreter(vector_math, subset):
    # "all": the whole table in one program (60 inputs: an out-of-line body,
    # libm/intrinsics).  "vec": the vecmath-capable ops in a program small
    # enough to be inlined into the vectorized row loop.
    program, cases = _all_ops_program(VEC_OPS if subset == "vec" else None)
    if subset == "all":
        assert {c[0] for c in cases} == set(OPS)  # the whole table is covered
    fn = compiler.compile(program, vector_math=vector_math, name="allops")
    if subset == "vec":
        assert fn.compile_info.get("plan") is None or fn.compile_info["plan"].inline_body
        assert '@"symdiff.vexp"' in fn.llvm_ir and '@"symdiff.vtanh"' in fn.llvm_ir
    rng = np.random.default_rng(1)
    X = _points(cases, len(program.inputs), rng)
    got = fn.batch(X)
    ref = sd.Interpreter(program)([X[:, j] for j in range(X.shape[1])])
    used_vecmath = fn.options["vector_math"] and cplan.plan(
        program, 2, vector_math=True).inline_body
    assert used_vecmath == (subset == "vec")
    for k, (name, ar, _cols) in enumerate(cases):
        g, r = got[:, k], np.asarray(ref[k], dtype=np.float64)
        what = f"{name}/{ar} (vector_math={vector_math})"
        if name in EXACT:
            assert_same(g, r, signed_zero=name not in SIGNED_ZERO_FREE, what=what)
            continue
        tol = LIBM_ULP
        if used_vecmath:
            tol = LIBM_ULP + VECMATH_ULP.get(name, 4)
            if name in ("sigmoid", "softplus"):
                tol += 4  # composites of exp and log1p
        assert_same(g, r, max_ulp=tol, what=what)
    # One point through the single-call path: same bits as the batch row.
    assert_same(fn(X[7]), got[7], what="single vs batch")


def test_special_values_exact_examples():
    x = sd.symbol("x")
    fn = compiler.compile([sd.relu(x), sd.sign(x), sd.step(x), sd.abs(x), -x,
                           sd.sqrt(x), sd.exp(x), sd.log(x)], [x], vector_math=False)
    r = fn([-0.0])
    assert r[0] == 0.0 and not math.copysign(1, r[0]) < 0      # relu(-0) = +0
    assert r[1] == 0.0 and r[2] == 0.0
    assert math.copysign(1, r[3]) > 0 and math.copysign(1, r[4]) > 0
    assert math.copysign(1, r[5]) < 0                         # sqrt(-0) = -0
    assert r[6] == 1.0 and r[7] == -math.inf
    r = fn([math.nan])
    assert all(math.isnan(v) for v in r)
    r = fn([math.inf])
    assert list(r[:4]) == [math.inf, 1.0, 1.0, math.inf] and r[4] == -math.inf
    assert r[6] == math.inf and r[7] == math.inf
    r = fn([-math.inf])
    assert r[0] == 0.0 and r[1] == -1.0 and r[6] == 0.0 and math.isnan(r[7])




def test_pow_lowering():
    x = sd.symbol("x")
    exps = list(range(-16, 17)) + [0.5, -0.5, 2.5, 17.0, -17.0]
    fn = compiler.compile([x ** sd.const(float(e)) for e in exps], [x], vector_math=False)
    ir = fn.llvm_ir
    # x^2 and x^-1 are one multiplication or division (x^1, x^0 fold);
    # every other exponent stays pow.
    n_pow = sum(1 for e in exps if float(e) not in POW_UNROLLED)
    assert ir.count('@"llvm.pow.f64"(') == n_pow + 1  # the calls + the declaration
    xs = np.array(SPECIAL + [1.0000001, 0.9999999, 1.5, -1.5, 1e-20, 1e20, 123.456])
    got = fn.batch(xs[:, None])
    with np.errstate(all="ignore"):
        for k, e in enumerate(exps):
            # An array exponent: numpy's scalar-exponent loop turns x**0.5
            # into sqrt(x) (NaN at -inf, -0.0 at -0.0), C99 pow does not.
            ref = np.power(xs, np.full_like(xs, e))
            if float(e) in POW_UNROLLED:
                # Repeated squaring vs correctly rounded pow: a few roundings
                # (|n| <= 4: at most 2 multiplications, plus 1/x^n).  Where
                # x^|n| overflows, 1/x^|n| is 0 instead of a subnormal.
                fin = np.isfinite(ref) & (np.abs(ref) > 1e-290) & (np.abs(ref) < 1e290)
                assert_same(got[fin, k], ref[fin], max_ulp=16, what=f"pow {e}")
                edge = ~fin
                both = np.isnan(got[edge, k]) == np.isnan(ref[edge])
                assert both.all(), f"pow {e}"
            else:
                assert_same(got[:, k], ref, max_ulp=LIBM_ULP, what=f"pow {e}")
    # IEEE corner cases of the multiplication form.
    one = fn([math.nan])
    assert one[exps.index(0)] == 1.0                  # pow(nan, 0) = 1
    neg0 = fn([-0.0])
    assert neg0[exps.index(-1)] == -math.inf          # 1/(-0) = -inf, as pow
    assert neg0[exps.index(-2)] == math.inf
    assert neg0[exps.index(0.5)] == 0.0 and math.copysign(1, neg0[exps.index(0.5)]) > 0
    assert fn([-math.inf])[exps.index(0.5)] == math.inf  # pow, not sqrt


def test_lecture_gradient():
    f, g, (x, z), want = lecture()
    fn = sd.compile(g)  # symdiff.compile maps to compiler.compile
    assert isinstance(fn, compiler.CompiledFunction)
    assert fn.inputs == ("x", "z") and fn.n_outputs == 2
    got = fn([2.0, 3.0])
    assert got == pytest.approx(want, rel=1e-14)
    ref = sd.Interpreter(fn.program)([2.0, 3.0])
    assert_same(got, ref, max_ulp=8, what="lecture gradient")
    fv = compiler.compile([f, *g], [x, z], vector_math=False)
    v = fv([2.0, 3.0])
    assert v[0] == pytest.approx(math.exp(6) + 6 / math.log(2) + math.sin(math.log(2)) / 6,
                                 rel=1e-15)
    assert v[1:] == pytest.approx(want, rel=1e-14)


# ---------------------------------------------------------------------------
# Random expressions


_EXACT_OPS = ["add", "sub", "mul", "div", "neg", "sqrt", "abs", "relu", "step", "sign",
              "eq", "max", "min"]
_ALL_OPS = sorted(OPS)
_CONSTS = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 3.0, 1e300, 1e-300, math.inf, math.nan]


@st.composite
def programs(draw, ops):
    n_in = draw(st.integers(1, 3))
    instrs = [Instr("input", (), j) for j in range(n_in)]
    for _ in range(draw(st.integers(1, 14))):
        if draw(st.integers(0, 5)) == 0:
            instrs.append(Instr("const", (), draw(st.sampled_from(_CONSTS))))
            continue
        name = draw(st.sampled_from(ops))
        op = OPS[name]
        ar = draw(st.integers(2, 3)) if op.arity == VARIADIC else op.arity
        args = tuple(draw(st.integers(0, len(instrs) - 1)) for _ in range(ar))
        instrs.append(Instr(name, args))
    n_out = draw(st.integers(1, 3))
    outs = tuple(draw(st.integers(0, len(instrs) - 1)) for _ in range(n_out))
    return Program(tuple(f"v{j}" for j in range(n_in)), tuple(instrs), outs)


def _eval_points(n_in, seed):
    rng = np.random.default_rng(seed)
    pts = [rng.uniform(-3, 3, (40, n_in)), rng.choice(SPECIAL, (40, n_in))]
    return np.vstack(pts)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(programs(_EXACT_OPS))
def test_random_exact_programs_bitwise(program):
    fn = compiler.compile(program, opt=1)
    X = _eval_points(len(program.inputs), 0)
    got = fn.batch(X)
    ref = sd.Interpreter(program)([X[:, j] for j in range(X.shape[1])])
    for k in range(len(program.outputs)):
        r = np.broadcast_to(np.asarray(ref[k], dtype=np.float64), (X.shape[0],))
        ins = program.instrs[program.outputs[k]]
        signed = ins.op not in SIGNED_ZERO_FREE and not any(
            program.instrs[a].op in SIGNED_ZERO_FREE for a in ins.args)
        # A zero's sign can flow from max/min further down; compare up to the
        # sign of zero when max/min occur anywhere.
        signed = signed and not any(i.op in SIGNED_ZERO_FREE for i in program.instrs)
        assert_same(got[:, k], r, signed_zero=signed, what=f"output {k}")
    # batch rows == single calls, bitwise
    for i in (0, 5, 41, 79):
        assert_same(fn(X[i]), got[i], what="single vs batch")


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(programs(_ALL_OPS))
def test_random_programs_close(program):
    fn = compiler.compile(program, opt=1, vector_math=False)
    rng = np.random.default_rng(3)
    X = rng.uniform(0.1, 2.0, (50, len(program.inputs)))
    got = fn.batch(X)
    ref = sd.Interpreter(program)([X[:, j] for j in range(X.shape[1])])
    for k in range(len(program.outputs)):
        r = np.broadcast_to(np.asarray(ref[k], dtype=np.float64), (X.shape[0],))
        g = got[:, k]
        assert np.array_equal(np.isnan(g), np.isnan(r))
        fin = np.isfinite(r) & np.isfinite(g)
        assert np.array_equal(g[~fin & ~np.isnan(r)], r[~fin & ~np.isnan(r)])
        # transcendental ulp differences may be amplified by the expression
        assert np.allclose(g[fin], r[fin], rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------
# Batches, strides, threads, out=


@pytest.fixture(scope="module")
def lecture_fns():
    _, g, _, _ = lecture()
    return {vm: compiler.compile(g, vector_math=vm) for vm in (True, False)}


@pytest.mark.parametrize("vm", [True, False])
def test_batch_equals_single_calls_bitwise(lecture_fns, vm):
    fn = lecture_fns[vm]
    rng = np.random.default_rng(5)
    X = np.vstack([rng.uniform(0.2, 3.0, (1000, 2)), rng.choice(SPECIAL, (200, 2))])
    Y = fn.batch(X)
    assert Y.shape == (1200, 2)
    single = np.array([fn(row) for row in X])
    assert_same(Y, single, what="batch vs loop")


def test_threads_bitwise_identical(lecture_fns):
    fn = lecture_fns[True]
    rng = np.random.default_rng(6)
    X = rng.uniform(0.2, 3.0, (20011, 2))
    Y1 = fn.batch(X, threads=1)
    for t in (2, 3, 8):
        assert_same(fn.batch(X, threads=t), Y1, what=f"threads={t}")
    with pytest.raises(ValueError, match="threads"):
        fn.batch(X, threads=0)


def test_strided_inputs(lecture_fns):
    fn = lecture_fns[True]
    rng = np.random.default_rng(7)
    base = rng.uniform(0.2, 3.0, (300, 4))
    ref = fn.batch(np.ascontiguousarray(base[:, ::2]))
    assert_same(fn.batch(base[:, ::2]), ref, what="column stride 2")
    T = np.ascontiguousarray(base[:, ::2].T)         # (2, 300)
    assert_same(fn.batch(T.T), ref, what="transposed view")
    assert_same(fn.batch(base[::-1, ::2]), ref[::-1], what="negative row stride")
    assert_same(fn.batch(base[::3, 2::-2]), fn.batch(np.ascontiguousarray(base[::3, 2::-2])),
                what="negative column stride")
    assert_same(fn.batch(base[5:6, ::2]), ref[5:6], what="one row")
    assert fn.batch(base[:0, ::2]).shape == (0, 2)
    # misaligned float64 view: copied, not misread
    raw = np.zeros(8 * 600 + 1, dtype=np.uint8)
    mis = np.ndarray((300, 2), dtype=np.float64, buffer=raw, offset=1)
    mis[:] = base[:, ::2]
    assert not mis.flags.aligned
    assert_same(fn.batch(mis), ref, what="misaligned")


def test_single_column_program():
    x = sd.symbol("x")
    fn = compiler.compile([sd.sin(x) * x, x * x], [x])
    X = np.linspace(-3, 3, 101)[:, None]
    Y = fn.batch(X)
    assert_same(Y[:, 1], X[:, 0] ** 2, what="x*x")
    assert_same(fn.batch(np.repeat(X, 2, axis=0)[::2]), Y, what="strided column")
    assert_same(fn.batch(np.repeat(X, 3, axis=1)[:, 1:2]), Y, what="column of a wider array")


def test_out_parameter(lecture_fns):
    fn = lecture_fns[True]
    x = np.array([2.0, 3.0])
    buf = np.full(2, np.nan)
    assert fn(x, out=buf) is buf
    assert_same(buf, fn(x), what="out")
    X = np.random.default_rng(8).uniform(0.5, 2, (50, 2))
    Yb = np.empty((50, 2))
    assert fn.batch(X, out=Yb) is Yb
    assert_same(Yb, fn.batch(X), what="batch out")


def test_input_conversions(lecture_fns):
    fn = lecture_fns[True]
    want = fn(np.array([2.0, 3.0]))
    assert_same(fn([2, 3]), want)
    assert_same(fn((2.0, 3.0)), want)
    assert_same(fn(np.array([2, 3], dtype=np.int32)), want)
    assert_same(fn(np.array([2, 3], dtype=np.float32)), want)
    assert_same(fn(np.array([2.0, 0.0, 3.0])[::2]), want)       # non-contiguous
    assert_same(fn(np.array([2.0, 3.0], dtype=">f8")), want)    # byte-swapped
    assert_same(fn.batch([[2.0, 3.0], [2.0, 3.0]]), np.vstack([want, want]))


def test_overlapping_out_is_safe(lecture_fns):
    fn = lecture_fns[True]
    want = fn(np.array([2.0, 3.0]))
    buf = np.array([2.0, 3.0, 0.0])
    fn(buf[:2], out=buf[1:])       # out overlaps x
    assert_same(buf[1:], want)
    X = np.array([[2.0, 3.0]] * 10)
    fn.batch(X, out=X)             # in-place batch (m == n)
    assert_same(X, np.vstack([want] * 10))


def test_bad_arguments_raise_valueerror(lecture_fns):
    fn = lecture_fns[True]
    msg = re.escape("expected a float64 array of length 2 (inputs x, z), got shape (3,)")
    with pytest.raises(ValueError, match=msg):
        fn(np.zeros(3))
    with pytest.raises(ValueError, match=r"got shape \(2, 2\).*batch"):
        fn(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="got dtype complex128"):
        fn(np.zeros(2, dtype=complex))
    with pytest.raises(ValueError, match="float64"):
        fn(["a", "b"])
    with pytest.raises(ValueError, match="length 2"):
        fn(3.0)
    x = np.array([2.0, 3.0])
    with pytest.raises(ValueError, match=r"out must have shape \(2,\)"):
        fn(x, out=np.zeros(3))
    with pytest.raises(ValueError, match="float64"):
        fn(x, out=np.zeros(2, dtype=np.float32))
    ro = np.zeros(2)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        fn(x, out=ro)
    with pytest.raises(ValueError, match="C-contiguous"):
        fn(x, out=np.zeros(4)[::2])
    with pytest.raises(ValueError, match="numpy array"):
        fn(x, out=[0.0, 0.0])
    with pytest.raises(ValueError, match=r"shape \(N, 2\).*dtype complex128"):
        fn.batch(np.zeros((4, 2), dtype=complex))       # float32 and ints are converted
    with pytest.raises(ValueError, match=r"shape \(N, 2\).*got shape \(4, 3\)"):
        fn.batch(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"got shape \(2,\)"):
        fn.batch(np.zeros(2))
    with pytest.raises(ValueError, match=r"out must have shape \(4, 2\)"):
        fn.batch(np.zeros((4, 2)), out=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="C-contiguous"):
        fn.batch(np.zeros((4, 2)), out=np.zeros((2, 4)).T)
    with pytest.raises(ValueError, match="C identifier"):
        compiler.compile(sd.symbol("x"), name="not a name")
    with pytest.raises(ValueError, match="opt"):
        compiler.compile(sd.symbol("x"), opt=7)


def test_bind(lecture_fns):
    _, g, _, want = lecture()
    fn = compiler.compile(g, name="bindme")
    xb, ob = np.array([2.0, 3.0]), np.zeros(2)
    call = fn.bind(xb, ob)
    assert call() is None
    assert ob.tolist() == pytest.approx(want, rel=1e-14)
    xb[:] = [1.5, 0.5]
    call()
    assert_same(ob, fn(np.array([1.5, 0.5])))
    # several live bindings, each with its own buffers
    others = [(np.array([1.0 + k, 2.0]), np.zeros(2)) for k in range(3)]
    calls = [fn.bind(a, b) for a, b in others]
    for c in calls:
        c()
    for a, b in others:
        assert_same(b, fn(a))
    call()
    assert_same(ob, fn(np.array([1.5, 0.5])))
    # the bound callable keeps the function and its engine alive
    del fn, calls
    gc.collect()
    xb[:] = [2.0, 3.0]
    call()
    assert ob.tolist() == pytest.approx(want, rel=1e-14)
    # a buffer changed in place after bind(): ValueError, not a crash
    ob.shape = (2, 1)
    with pytest.raises(ValueError, match="bind"):
        call()
    ob.shape = (2,)
    call()
    f2 = lecture_fns[True]
    with pytest.raises(ValueError, match="x_buf must have shape"):
        f2.bind(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="out_buf must be writeable"):
        ro = np.zeros(2)
        ro.flags.writeable = False
        f2.bind(np.zeros(2), ro)
    with pytest.raises(ValueError, match="overlap"):
        b = np.zeros(3)
        f2.bind(b[:2], b[1:])
    sub = np.zeros(2).view(np.matrix)   # ndarray subclass: bound through a view
    xs = np.array([2.0, 3.0])
    f2.bind(xs, np.asarray(sub).reshape(2))()


# ---------------------------------------------------------------------------
# Introspection and options


def test_vectorized_batch_loop(lecture_fns):
    fn = lecture_fns[True]
    opt = fn.batch_llvm_ir_opt
    rows = opt[opt.index("@symdiff_fn__rows("):]
    rows = rows[:rows.index("\n}\n")]
    assert re.search(r"<(4|8) x double>", rows), "contiguous row loop not vectorized"
    assert "symdiff.v" in fn.batch_llvm_ir or not fn.options["vector_math"]
    assert re.search(r"[yz]mm", fn.batch_asm)


def test_introspection(lecture_fns):
    fn = lecture_fns[False]
    # A small program: the scalar module (compiled at once) ...
    assert fn.compile_info["split"] and fn.compile_info["plan"].inline_body
    assert "define void @symdiff_fn(ptr" in fn.llvm_ir
    assert "@symdiff_fn__py" in fn.llvm_ir and "@symdiff_fn__bound" in fn.llvm_ir
    assert "_batch" not in fn.llvm_ir and "__rows" not in fn.llvm_ir
    assert "define" in fn.llvm_ir_opt and "symdiff_fn__py" in fn.asm
    # ... and the batch module (its text and code, compiled or not)
    assert "define void @symdiff_fn_batch(" in fn.batch_llvm_ir
    assert "define internal void @symdiff_fn__rows(" in fn.batch_llvm_ir
    assert "__py" not in fn.batch_llvm_ir
    assert "symdiff_fn_batch" in fn.batch_asm
    assert fn.inputs == ("x", "z") and fn.n_inputs == 2 and fn.n_outputs == 2
    assert isinstance(fn.program, Program)
    assert "2 inputs (x, z) -> 2 outputs" in repr(fn)
    assert fn.object_code[:4] == b"\x7fELF"
    # default is strict IEEE
    assert " fast " not in fn.llvm_ir and " fast " not in fn.batch_llvm_ir


def test_one_module_for_out_of_line_bodies():
    # 40 inputs: too many for the inlined row loop, so the body stays out of
    # line and one module holds both kernels.
    xs = [sd.symbol(f"x{i}") for i in range(40)]
    fn = compiler.compile(sd.sum([sd.exp(v) * v for v in xs]), xs, cache=False)
    assert not fn.compile_info["split"] and not fn.compile_info["plan"].inline_body
    assert fn.batch_llvm_ir is fn.llvm_ir and fn.batch_asm is fn.asm
    assert "define void @symdiff_fn_batch(" in fn.llvm_ir
    assert fn.compile_info["batch"] is None
    X = np.random.default_rng(2).uniform(-1, 1, (5, 40))
    assert_same(fn.batch(X)[3], fn(X[3]))
    assert fn.compile_info["batch"] is None   # nothing more was compiled


def test_batch_module_is_compiled_on_first_batch(tmp_path, monkeypatch):
    from compiler import cache as ccache

    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path / "c"))
    ccache.clear_memory()
    _, g, _, want = lecture()
    fn = compiler.compile(g, name="lazy")
    assert fn.compile_info["split"] and fn.compile_info["batch"] is None
    assert fn._cbatch is None
    # a scalar call and bind() compile nothing more
    assert fn([2.0, 3.0]) == pytest.approx(want, rel=1e-14)
    fn.bind(np.array([2.0, 3.0]), np.zeros(2))()
    assert fn.compile_info["batch"] is None
    entries = {p.name for p in (tmp_path / "c").glob("*.sdobj")}
    Y = fn.batch(np.array([[2.0, 3.0], [1.5, 0.5]]))
    info = fn.compile_info["batch"]
    assert info["cache"] == "miss" and info["codegen_s"] > 0
    assert_same(Y[0], fn([2.0, 3.0]), what="batch row vs call")
    new = {p.name for p in (tmp_path / "c").glob("*.sdobj")} - entries
    assert len(new) == 1                      # the batch module's own entry
    # Another function of the same program: both modules from the cache.
    ccache.clear_memory()
    again = compiler.compile(g, name="lazy")
    assert again.compile_info["cache"] == "disk"
    again.batch(np.ones((3, 2)))
    assert again.compile_info["batch"]["cache"] == "disk"


def test_concurrent_first_batches_build_one_module():
    import threading

    _, g, _, _ = lecture()
    fn = compiler.compile(g, name="raced", cache=False)
    X = np.random.default_rng(5).uniform(0.5, 2.0, (300, 2))
    results, kernels = [None] * 4, set()
    start = threading.Barrier(4)

    def work(i):
        start.wait()
        results[i] = fn.batch(X, threads=1)
        kernels.add(id(fn._batch_inst))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(kernels) == 1
    for r in results[1:]:
        assert_same(r, results[0], what="concurrent first batches")


def test_fast_math_option():
    _, g, _, want = lecture()
    fn = compiler.compile(g, fast_math=True, vector_math=False)
    assert "fmul fast double" in fn.llvm_ir
    assert fn([2.0, 3.0]) == pytest.approx(want, rel=1e-12)


def test_program_and_node_inputs():
    x, y = sd.symbol("x"), sd.symbol("y")
    f = x * sd.exp(y)
    a = compiler.compile(f, ["y", "x"])
    assert a.inputs == ("y", "x")
    assert a([0.0, 2.0])[0] == 2.0
    p = sd.schedule([f, x, sd.const(4.0), f], [x, y])
    b = compiler.compile(p)
    assert b([3.0, 0.0]).tolist() == [3.0, 3.0, 4.0, 3.0]   # inputs/consts/duplicates out
    with pytest.raises(ValueError, match="inputs must be None"):
        compiler.compile(p, [x, y])
    c = compiler.compile([sd.const(2.5), sd.const(-0.0)], [])
    r = c([])
    assert r[0] == 2.5 and math.copysign(1, r[1]) < 0
    assert c.batch(np.zeros((3, 0))).tolist() == [[2.5, -0.0]] * 3


def test_chunked_program_matches(monkeypatch):
    # Force the chunked layout on a mid-sized gradient: values cross chunk
    # boundaries through scratch, outputs are stored by the defining chunk.
    monkeypatch.setattr(cplan, "CHUNK_MAX", 50)
    monkeypatch.setattr(cplan, "CHUNK_SIZE", 37)
    xs = [sd.symbol(f"x{i}") for i in range(12)]
    f = sd.sum([100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(11)])
    f = f + sd.tanh(xs[0] * xs[5]) * sd.log(1 + xs[3] ** 2)
    g = sd.grad(f, xs)
    fn = compiler.compile([f, *g, xs[2], sd.const(7.0)], xs, vector_math=False, cache=False)
    assert fn.compile_info["plan"].chunks and len(fn.compile_info["plan"].chunks) > 3
    assert "__chunk3" in fn.llvm_ir
    rng = np.random.default_rng(9)
    X = rng.uniform(-2, 2, (64, 12))
    got = fn.batch(X)
    ref = sd.Interpreter(fn.program)([X[:, j] for j in range(12)])
    for k in range(fn.n_outputs):
        r = np.broadcast_to(np.asarray(ref[k], dtype=np.float64), (64,))
        assert_same(got[:, k], r, max_ulp=LIBM_ULP, what=f"output {k}")
    assert_same(fn(X[3]), got[3])
    assert_same(fn.batch(X[:, ::-1][:, ::-1]), got)


def test_dump_ir(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMDIFF_DUMP_IR", str(tmp_path / "dump"))
    x = sd.symbol("x")
    compiler.compile(sd.exp(x) + 1, name="dumped")
    files = sorted(p.name for p in (tmp_path / "dump").iterdir())
    assert any(f.startswith("dumped-") and f.endswith(".opt.ll") for f in files)
    assert any(f.endswith(".ll") and not f.endswith(".opt.ll") for f in files)
