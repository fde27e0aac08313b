"""Memory: optimized compiles do not leak.

llvmlite 0.50's pass managers never free themselves (see
:mod:`compiler.backend`), which cost 125 KB per optimized compile (123 MB
over 1,000).  Each test compiles many distinct modules in a fresh process
and bounds the growth of its resident memory after a warm-up."""

from __future__ import annotations

import json

import pytest
from test_compiler_helpers import run_py

# RSS after gc and malloc_trim (glibc keeps freed memory otherwise), so the
# growth counted is memory still allocated.
_RSS = """
    import ctypes, gc, json
    try:
        _trim = ctypes.CDLL("libc.so.6").malloc_trim
    except OSError:
        _trim = None

    def rss():
        gc.collect()
        if _trim is not None:
            _trim(0)
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
"""

# 400 distinct small modules through the whole optimization pipeline (O2
# with loop and SLP vectorization) and code generation, at the backend level.
_BACKEND = _RSS + """
    from compiler import backend

    TEXT = '''define double @f{i}(double %x) {{
      %a = fmul double %x, {i}.5
      %b = fadd double %a, %x
      %c = call double @llvm.sqrt.f64(double %b)
      ret double %c
    }}
    declare double @llvm.sqrt.f64(double)
    '''

    def build(i):
        obj, opt = backend.compile_text(TEXT.format(i=i), opt_level=2, codegen_level=0,
                                        slp=True, want_opt_ir=True)
        assert obj[:4] == b"\\x7fELF" and "@llvm.sqrt.f64" in opt

    for i in range(50):
        build(i)
    before = rss()
    for i in range(50, 450):
        build(i)
    print(json.dumps({"growth_mb": (rss() - before) / 2**20}))
"""

# 1,000 distinct compiled functions through sd.compile at opt=3 (whose
# modules all run the IR pipeline), the disk cache off.
_COMPILE = _RSS + """
    import symdiff as sd
    import compiler

    x = sd.symbol("x")

    def build(i):
        fn = compiler.compile([sd.sqrt(x * (i + 0.5) + 1.0)], [x], cache=False, opt=3)
        assert fn([3.0])[0] == (3.0 * (i + 0.5) + 1.0) ** 0.5

    for i in range(30):
        build(i)
    before = rss()
    for i in range(30, 1030):
        build(i)
    print(json.dumps({"growth_mb": (rss() - before) / 2**20}))
"""


def _growth(code: str) -> float:
    return json.loads(run_py(code, {"SYMDIFF_CACHE": "0"}, timeout=300))["growth_mb"]


def test_optimization_pipeline_frees_its_passes():
    # Before the fix: 23 MB over these 400 runs; now ~0.6 MB (llvmlite's
    # per-builder callback list, which it never frees).
    assert _growth(_BACKEND) < 10


@pytest.mark.slow
def test_thousand_optimized_compiles_stay_under_10_mb():
    # Before the fix: 54.5 MB over these 1,000 compiles; now ~0.4 MB.
    assert _growth(_COMPILE) < 10
