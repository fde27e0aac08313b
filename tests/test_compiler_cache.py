"""The object cache keys on what the code is: an edited lowering in the op
table is never served stale, options and names make their own entries."""

from __future__ import annotations

import json

import pytest

import symdiff as sd

import compiler
from compiler import backend, cache as ccache
from symdiff.core.program import Instr, Program
from test_compiler_helpers import run_py


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(d))
    monkeypatch.delenv("SYMDIFF_CACHE", raising=False)
    monkeypatch.delenv("SYMDIFF_CACHE_MAX_BYTES", raising=False)
    ccache.clear_memory()
    yield d
    ccache.clear_memory()


# relu(x) compiled in a fresh process; with argument "patched" the op
# table's relu lowering is replaced first (as an edit of symdiff/core/ops.py
# would), by one computing 2*x.
_RELU = """
    import dataclasses, json, sys
    import compiler
    from symdiff.core import ops
    from symdiff.core.program import Instr, Program

    if sys.argv[1] == "patched":
        def doubled(em, x):
            return em.fmul(x, em.const(2.0))
        ops.OPS["relu"] = dataclasses.replace(ops.OPS["relu"], lowering=ops.Hook(doubled))
    prog = Program(("x",), (Instr("input", (), 0), Instr("relu", (0,))), (1,))
    fn = compiler.compile(prog)
    print(json.dumps({"cache": fn.compile_info["cache"], "value": fn([-3.0])[0]}))
"""


def test_edited_lowering_hook_is_not_served_stale(cache_dir):
    env = {"SYMDIFF_CACHE_DIR": str(cache_dir)}

    def run(which):
        return json.loads(run_py(_RELU, env, args=[which]))

    assert run("original") == {"cache": "miss", "value": 0.0}
    # Nothing changed: the first process's object code is served.
    assert run("original") == {"cache": "disk", "value": 0.0}
    # The lowering changed: new code, not the cached relu.
    assert run("patched") == {"cache": "miss", "value": -6.0}
    assert run("patched") == {"cache": "disk", "value": -6.0}
    assert run("original") == {"cache": "disk", "value": 0.0}
    assert len(list(cache_dir.glob("*.sdobj"))) == 2


def _relu_program():
    return Program(("x",), (Instr("input", (), 0), Instr("relu", (0,))), (1,))


def test_key_covers_text_options_and_host():
    codegen = backend.codegen_options(opt_level=2, codegen_level=2, slp=False)
    host = ("x86_64-unknown-linux-gnu", "znver4", "+avx2,+fma")
    base = ccache.make_key("define void @f() {\n  ret void\n}\n", codegen, host)
    assert len(base) == 32
    assert ccache.make_key("define void @f() {\n  ret void\n}\n", dict(codegen), host) == base
    variants = [
        ccache.make_key("define void @g() {\n  ret void\n}\n", codegen, host),
        ccache.make_key("define void @f() {\n  ret void\n}\n",
                        backend.codegen_options(opt_level=2, codegen_level=0, slp=False), host),
        ccache.make_key("define void @f() {\n  ret void\n}\n",
                        backend.codegen_options(opt_level=None, codegen_level=2, slp=False),
                        host),
        ccache.make_key("define void @f() {\n  ret void\n}\n",
                        backend.codegen_options(opt_level=2, codegen_level=2, slp=False,
                                                pic=True), host),
        ccache.make_key("define void @f() {\n  ret void\n}\n", codegen,
                        ("x86_64-unknown-linux-gnu", "znver3", "+avx2,+fma")),
        ccache.make_key("define void @f() {\n  ret void\n}\n", codegen,
                        ("x86_64-unknown-linux-gnu", "znver4", "+avx2,-fma")),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_options_and_names_get_their_own_entries(cache_dir):
    prog = _relu_program()
    keys = set()
    for kw in ({}, {"fast_math": True}, {"opt": 3}, {"name": "other"}):
        fn = compiler.compile(prog, **kw)
        assert fn.compile_info["cache"] == "miss", kw
        keys.add(fn._key)
    assert len(keys) == 4 and len(list(cache_dir.glob("*.sdobj"))) == 4
    # vector_math changes nothing in relu's code: same text, same entry.
    fn = compiler.compile(prog, vector_math=False)
    assert fn.compile_info["cache"] == "memory" and fn._key in keys
