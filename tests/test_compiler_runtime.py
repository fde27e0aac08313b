"""Compiler runtime behaviour: the object-code cache (hits, corruption,
atomic entries), pickling across processes, engine lifetime and memory,
shared libraries called from C, and the compile of a 10^5-op program."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_compiler_helpers import assert_same, lecture, run_py

import compiler
import symdiff as sd
from compiler import cache as ccache

ROOT = Path(__file__).resolve().parent.parent




# ---------------------------------------------------------------------------
# cache


def test_cache_hit_loads_from_disk(cache_dir):
    _, g, _, want = lecture()
    a = compiler.compile(g)
    assert a.compile_info["cache"] == "miss"
    # (Besides vecmath's runtime objects, if this process had not built
    # them yet: compiler.runtime.)
    data = ccache.entry_path(a._main.key).read_bytes()
    assert data.startswith(ccache.MAGIC)
    assert data.endswith(a.object_code)
    entries = set(cache_dir.glob("*.sdobj"))
    ccache.clear_memory()
    b = compiler.compile(g)
    assert b.compile_info["cache"] == "disk"
    assert "codegen_s" not in b.compile_info       # no LLVM work at all
    assert_same(b([2.0, 3.0]), a([2.0, 3.0]))
    c = compiler.compile(g)
    assert c.compile_info["cache"] == "memory"
    # introspection still works for cache-loaded functions
    assert "define void @symdiff_fn(" in b.llvm_ir and "define" in b.llvm_ir_opt
    assert "<4 x double>" in b.batch_llvm_ir_opt or "<8 x double>" in b.batch_llvm_ir_opt
    # other options, other key
    d = compiler.compile(g, fast_math=True)
    assert d.compile_info["cache"] == "miss"
    assert set(cache_dir.glob("*.sdobj")) - entries == {ccache.entry_path(d._main.key)}


@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip", "foreign", "empty"])
def test_corrupt_cache_entry_is_rebuilt(cache_dir, damage):
    x = sd.symbol("x")
    f = sd.exp(x) * x + 1.0
    a = compiler.compile(f)
    # (Not "the one entry in the directory": the first compile of exp in a
    # process also stores vecmath's runtime object, compiler.runtime.)
    path = ccache.entry_path(a._main.key)
    good = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(os.urandom(500))
    elif damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "flip":
        bad = bytearray(good)
        bad[-20] ^= 0xFF
        path.write_bytes(bytes(bad))
    elif damage == "foreign":
        # a valid entry for another key, renamed over this one
        other = ccache.entry_path(compiler.compile(sd.sin(x))._main.key)
        shutil.copy(other, path)
    else:
        path.write_bytes(b"")
    ccache.clear_memory()
    b = compiler.compile(f)
    assert b.compile_info["cache"] == "corrupt"
    assert b([1.5])[0] == a([1.5])[0]
    assert path.read_bytes() == good          # rewritten
    ccache.clear_memory()
    assert compiler.compile(f).compile_info["cache"] == "disk"


def test_cache_disabled(cache_dir, monkeypatch):
    monkeypatch.setenv("SYMDIFF_CACHE", "0")
    x = sd.symbol("x")
    a = compiler.compile(sd.cos(x))
    assert a.compile_info["cache"] == "off"
    assert not cache_dir.exists() or not list(cache_dir.glob("*.sdobj"))
    monkeypatch.delenv("SYMDIFF_CACHE")
    assert compiler.compile(sd.cos(x), cache=False).compile_info["cache"] == "off"


def test_cache_location_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("SYMDIFF_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ccache.cache_dir() == tmp_path / "xdg" / "symdiff"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert ccache.cache_dir() == Path.home() / ".cache" / "symdiff"
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path / "explicit"))
    assert ccache.cache_dir() == tmp_path / "explicit"


def test_unwritable_cache_dir_is_harmless(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(blocker / "sub"))
    ccache.clear_memory()
    x = sd.symbol("x")
    assert compiler.compile(x * 3.0 + 1.0)([2.0])[0] == 7.0


@pytest.mark.slow
def test_cached_recompile_in_new_process(cache_dir):
    code = """
        import json
        import compiler
        from test_compiler_helpers import lecture
        _, g, _, _ = lecture()
        fn = compiler.compile(g)
        print(json.dumps({"cache": fn.compile_info["cache"], "value": list(fn([2.0, 3.0]))}))
    """
    env = {"SYMDIFF_CACHE_DIR": str(cache_dir)}
    first = json.loads(run_py(code, env))
    second = json.loads(run_py(code, env))
    assert first["cache"] == "miss" and second["cache"] == "disk"
    assert second["value"] == first["value"]
    # (How fast the hit is: benchmarks/bench_compiled.py, section 3c.)


# ---------------------------------------------------------------------------
# pickle


def _eval_pickled(blob_and_x):
    blob, x = blob_and_x
    fn = pickle.loads(blob)
    return fn(np.array(x)).tolist(), fn.compile_info["cache"]


@pytest.mark.slow
def test_pickle_round_trip_in_subprocess(cache_dir):
    import multiprocessing as mp

    _, g, _, want = lecture()
    fn = compiler.compile(g, name="pickled", vector_math=False, opt=3)
    blob = pickle.dumps(fn)
    # Same process: a new engine, same results, same options.
    again = pickle.loads(blob)
    assert again.options == fn.options and again.name == "pickled"
    assert_same(again([2.0, 3.0]), fn([2.0, 3.0]))
    # Another process (spawned: nothing inherited), as multiprocessing does.
    ctx = mp.get_context("spawn")
    env_path = os.pathsep.join([str(ROOT), str(ROOT / "tests")])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = env_path + (os.pathsep + old if old else "")
    try:
        with ctx.Pool(1) as pool:
            vals, where = pool.map(_eval_pickled, [(blob, [2.0, 3.0])])[0]
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    assert vals == fn([2.0, 3.0]).tolist()
    assert where == "shipped"  # the child loaded the object code the pickle carries


# ---------------------------------------------------------------------------
# lifetime and memory


@pytest.mark.slow
def test_engine_lifetime_and_memory_in_subprocess(tmp_path):
    code = """
        import gc, json, resource, weakref
        import numpy as np
        import symdiff as sd, compiler
        from compiler import backend

        def rss_mb():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * resource.getpagesize() / 2**20

        x, y = sd.symbol("x"), sd.symbol("y")
        f = sd.exp(x * y) + sd.sin(x) / y
        v = np.array([0.5, 2.0])
        want = compiler.compile(f)(v)[0]
        # 1) 2,000 compiles of a cached program: each makes and frees an engine.
        import time
        times = {}
        for i in range(200):
            compiler.compile(f)(v)
        gc.collect(); base = rss_mb()
        t = time.perf_counter()
        for i in range(2000):
            assert compiler.compile(f)(v)[0] == want
        times["cached"] = time.perf_counter() - t
        gc.collect(); after_cached = rss_mb()
        # 2) distinct programs: real LLVM builds, each in a fresh context.
        #    Out-of-line bodies skip the IR pipeline: no growth at all.
        from compiler import plan
        budget, plan.INLINE_BUDGET = plan.INLINE_BUDGET, 0
        t = time.perf_counter()
        for i in range(30):
            g = sd.exp(x * (1.0 + i)) + y * i
            compiler.compile(g, [x, y], cache=False)(v)
        gc.collect(); mid = rss_mb()
        for i in range(30, 180):
            g = sd.exp(x * (1.0 + i)) + y * i
            compiler.compile(g, [x, y], cache=False)(v)
        times["distinct"] = time.perf_counter() - t
        gc.collect(); after_distinct = rss_mb()
        #    Inlined bodies: a scalar module (no pipeline) and, on the first
        #    batch, a vectorized one through llvmlite's pass pipeline, whose
        #    PassBuilder never frees its instrumentation callbacks (~70 KB).
        plan.INLINE_BUDGET = budget
        V = np.array([[0.5, 2.0]] * 4)
        t = time.perf_counter()
        for i in range(1000, 1030):
            g = sd.exp(x * (1.0 + i)) + y * i
            fi = compiler.compile(g, [x, y], cache=False)
            fi(v), fi.batch(V)
        gc.collect(); mid2 = rss_mb()
        for i in range(1100, 1150):
            g = sd.exp(x * (1.0 + i)) + y * i
            fi = compiler.compile(g, [x, y], cache=False)
            fi(v), fi.batch(V)
        del fi
        times["distinct_inline"] = time.perf_counter() - t
        gc.collect(); after_inline = rss_mb()
        # 3) engines die with their function; bound callables keep them alive
        fn = compiler.compile(f, cache=False)
        fn.batch(V)  # its batch module has an engine of its own
        ref, bref = weakref.ref(fn._inst), weakref.ref(fn._batch_inst)
        xb, ob = v.copy(), np.zeros(1)
        call = fn.bind(xb, ob)
        del fn; gc.collect()
        alive_while_bound = ref() is not None
        call()
        del call; gc.collect()
        print(json.dumps({"cached_growth": after_cached - base,
                          "distinct_growth": after_distinct - mid,
                          "inline_growth_per_build_kb": (after_inline - mid2) * 1024 / 50,
                          "alive_while_bound": alive_while_bound,
                          "freed": ref() is None and bref() is None,
                          "bound_value": bool(ob[0] == want),
                          "times": times}))
    """
    out = json.loads(run_py(code, {"SYMDIFF_CACHE_DIR": str(tmp_path / "c")}, timeout=600))
    assert out["alive_while_bound"] and out["freed"] and out["bound_value"]
    assert out["cached_growth"] < 10, out       # 2,000 engines created and freed
    assert out["distinct_growth"] < 5, out      # 150 LLVM builds
    # llvmlite's pipeline leak, bounded per build (not an engine leak).
    assert out["inline_growth_per_build_kb"] < 150, out


# ---------------------------------------------------------------------------
# ahead-of-time: objects, shared libraries, headers


def test_header_and_object(tmp_path):
    _, g, _, _ = lecture()
    p = sd.schedule(g)
    h = compiler.c_header(p, "lect")
    assert "void lect(const double *in, double *out);" in h
    assert ("void lect_batch(const double *X, long long row_stride, long long col_stride,"
            in h)
    assert "in[0] = x" in h and "in[1] = z" in h and "out[1]" in h
    obj = compiler.emit_object(p, tmp_path / "lect.o", "lect")
    assert Path(obj).read_bytes()[:4] == b"\x7fELF"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_shared_library_called_from_c(tmp_path):
    _, g, _, want = lecture()
    p = sd.schedule(g)
    so = compiler.emit_shared(p, tmp_path / "liblect.so", "lect")
    (tmp_path / "lect.h").write_text(compiler.c_header(p, "lect"))
    (tmp_path / "main.c").write_text(textwrap.dedent("""
        #include <stdio.h>
        #include "lect.h"
        int main(void) {
            double in[2] = {2.0, 3.0}, out[2];
            double X[6] = {2.0, 3.0, 1.5, 0.5, 2.0, 3.0}, Y[6];
            lect(in, out);
            printf("%.17g %.17g\\n", out[0], out[1]);
            lect_batch(X, 2, 1, Y, 3);
            printf("%.17g %.17g %.17g\\n", Y[0], Y[4], Y[5]);
            lect_batch(X, 1, 0, Y, 2); /* strided: rows (2,2) and (3,3) */
            printf("%.17g\\n", Y[0]);
            return 0;
        }
    """))
    exe = tmp_path / "main"
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(tmp_path / "main.c"), "-L", str(tmp_path),
                    "-llect", f"-Wl,-rpath,{tmp_path}"], check=True, capture_output=True)
    lines = subprocess.run([str(exe)], check=True, capture_output=True,
                           text=True).stdout.split("\n")
    dx, dz = map(float, lines[0].split())
    assert dx == pytest.approx(want[0], rel=1e-14) and dz == pytest.approx(want[1], rel=1e-14)
    y0, y4, y5 = map(float, lines[1].split())
    assert (y0, y4, y5) == (dx, dx, dz)
    fn = compiler.compile(g)
    assert float(lines[2]) == pytest.approx(fn([2.0, 2.0])[0], rel=1e-15)
    assert Path(so).exists()


# ---------------------------------------------------------------------------
# large programs


@pytest.mark.slow
def test_hundred_thousand_op_chain_compiles(cache_dir):
    # A 10^5-op chain (depth 5*10^4, no recursion anywhere) plus its
    # derivative: the chunked layout with the huge-program levels (their
    # compile times: benchmarks/bench_compiled.py, section 3).
    x = sd.symbol("x")
    v = x
    for k in range(33000):
        v = v * 0.999 + sd.sin(v) * 1e-3 if k % 50 == 0 else v * 0.9999 + 1e-4
    program = sd.schedule([v, sd.diff(v, x)], [x])
    assert program.n_ops >= 100000
    fn = compiler.compile(program, cache=False)
    info = fn.compile_info
    # Compiled in chunks at the huge-program levels, which keeps the compile
    # time in seconds (a wall-clock cap would be flaky on a busy machine).
    assert info["plan"].chunks and info["plan"].codegen_level == 0
    assert info["plan"].opt_level is None and len(info["plan"].chunks) >= 50
    got = fn([0.3])
    ref = sd.Interpreter(program)([0.3])
    assert got[0] == pytest.approx(ref[0], rel=1e-12)
    assert got[1] == pytest.approx(ref[1], rel=1e-10)


@pytest.mark.slow
def test_deep_sin_chain_and_gradient_compile_at_default_recursion_limit(
        sin_chain, default_recursion_limit):
    # The README's claim: sin(sin(...x)), 10^5 deep, and its derivative
    # compile at Python's default recursion limit (no recursion in
    # differentiation, scheduling, emission or loading).  3 * 10^5 ops in
    # all; cache=False makes it a real compile.
    with default_recursion_limit():
        (g,) = sd.grad(sin_chain)
        fn = sd.compile([sin_chain, g], cache=False)
        got = [fn([x0]) for x0 in (0.7, -1.3)]
    assert fn.compile_info["n_ops"] >= 3 * 100_000 - 1
    for x0, (value, slope) in zip((0.7, -1.3), got):
        # numpy: v_{k+1} = sin(v_k), and the chain rule's product of cos(v_k)
        v, d = np.float64(x0), np.float64(1.0)
        for _ in range(100_000):
            d *= np.cos(v)
            v = np.sin(v)
        assert value == pytest.approx(v, rel=1e-13)     # measured: equal
        assert slope == pytest.approx(d, rel=1e-12)     # measured 5e-15


def test_shared_library_exports_the_name_its_header_declares(tmp_path):
    # A function compiled with name="mysin": the library and the header both
    # use that name (emit_shared used to export symdiff_fn while c_header
    # declared mysin); an explicit name wins in both.
    import ctypes
    import re

    from compiler.aot import _find_cc

    try:
        _find_cc()
    except RuntimeError:
        pytest.skip("needs a C compiler")
    x = sd.symbol("x")
    fn = compiler.compile(sd.sin(x), name="mysin")
    lib = ctypes.CDLL(str(compiler.emit_shared(fn, tmp_path / "libmysin.so")))
    declared = re.findall(r"^void (\w+)\(", compiler.c_header(fn), re.M)
    assert declared == ["mysin", "mysin_batch"]
    assert all(hasattr(lib, s) for s in declared) and not hasattr(lib, "symdiff_fn")
    cfn = lib.mysin
    cfn.argtypes = [ctypes.POINTER(ctypes.c_double)] * 2
    cfn.restype = None
    inp, out = (ctypes.c_double * 1)(0.5), (ctypes.c_double * 1)()
    cfn(inp, out)
    assert out[0] == fn([0.5])[0]
    other = ctypes.CDLL(str(compiler.emit_shared(fn, tmp_path / "libother.so", "other")))
    declared = re.findall(r"^void (\w+)\(", compiler.c_header(fn, "other"), re.M)
    assert declared == ["other", "other_batch"]
    assert all(hasattr(other, s) for s in declared)
