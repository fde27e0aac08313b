"""The object cache keys on what the code is: an edited lowering in the op
table is never served stale, options and names make their own entries."""

from __future__ import annotations

import json
import os

import pytest
from test_compiler_helpers import run_py

import compiler
from compiler import backend
from compiler import cache as ccache
from symdiff.core.program import Instr, Program


def _relu_program():
    return Program(("x",), (Instr("input", (), 0), Instr("relu", (0,))), (1,))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh, empty cache directory that only this test's kernels go to.

    The first compile in a process also builds the runtime objects every
    kernel links (:mod:`compiler.runtime`) and stores them in the cache of
    the moment; compiling relu once beforehand (into the session's cache)
    keeps them out of the fresh directory, so the entries counted below are
    the test's own kernels whether the test runs alone or after others."""
    compiler.compile(_relu_program())
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
    # two relu kernels and the fast entries' runtime object (compiler.runtime)
    assert len(list(cache_dir.glob("*.sdobj"))) == 3


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
        keys.add(fn._main.key)
    assert len(keys) == 4
    assert {p.name for p in cache_dir.glob("*.sdobj")} == \
        {ccache.entry_path(k).name for k in keys}
    # vector_math changes nothing in relu's code: same text, same entry.
    fn = compiler.compile(prog, vector_math=False)
    assert fn.compile_info["cache"] == "memory" and fn._main.key in keys


# ---------------------------------------------------------------------------
# Size limit and least-recently-used eviction


def _fake_entry(d, i: int, size: int, mtime_s: int):
    p = d / (f"{i:064x}.sdobj")
    p.write_bytes(b"\0" * size)
    os.utime(p, ns=(mtime_s * 10**9, mtime_s * 10**9))
    return p


def test_evict_removes_least_recently_used_entries_only(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    fakes = [_fake_entry(d, i, 1000, 1000 + 10 * i) for i in range(5)]
    other = d / "notes.txt"
    other.write_bytes(b"x" * 5000)                 # not ours: never counted
    tmp = d / ".tmp-abc123.sdobj"
    tmp.write_bytes(b"x" * 5000)                   # a temp file: not an entry
    assert [p for p, _, _ in ccache.entries(d)] == fakes
    assert ccache.evict(2500, directory=d) == (3, 3000)
    assert sorted(p.name for p in d.iterdir()) == sorted(
        [fakes[3].name, fakes[4].name, "notes.txt", ".tmp-abc123.sdobj"])
    assert ccache.evict(2500, directory=d) == (0, 0)
    assert ccache.evict(0, directory=d) == (2, 2000)
    assert ccache.entries(tmp_path / "missing") == []


@pytest.mark.parametrize("raw, want", [("", ccache.DEFAULT_MAX_BYTES), ("0", 0),
                                       ("12345", 12345), ("64k", 65536), ("64KiB", 65536),
                                       ("3M", 3 << 20), ("1G", 1 << 30), (" 2 mb ", 2 << 20)])
def test_max_bytes_from_environment(monkeypatch, raw, want):
    monkeypatch.setenv("SYMDIFF_CACHE_MAX_BYTES", raw)
    assert ccache.max_bytes() == want


@pytest.mark.parametrize("raw", ["lots", "-5", "1.5G", "10 pages"])
def test_malformed_max_bytes_is_an_error(monkeypatch, raw):
    monkeypatch.setenv("SYMDIFF_CACHE_MAX_BYTES", raw)
    with pytest.raises(ValueError, match="SYMDIFF_CACHE_MAX_BYTES must be a number"):
        ccache.max_bytes()


def test_default_limit_is_256_mib(monkeypatch):
    monkeypatch.delenv("SYMDIFF_CACHE_MAX_BYTES", raising=False)
    assert ccache.max_bytes() == 256 * 2**20


def test_compiles_stay_under_the_limit_and_hits_count_as_use(cache_dir, monkeypatch):
    # Three kernels of one size (names of one length): room for two.
    prog = _relu_program()
    a = compiler.compile(prog, name="ka")
    b = compiler.compile(prog, name="kb")
    pa, pb = ccache.entry_path(a._main.key), ccache.entry_path(b._main.key)
    size = pa.stat().st_size
    assert pb.stat().st_size == size
    os.utime(pa, ns=(10**18, 10**18))            # a used long ago ...
    os.utime(pb, ns=(11 * 10**17, 11 * 10**17))  # ... b later (both in the past)
    ccache.clear_memory()
    assert compiler.compile(prog, name="ka").compile_info["cache"] == "disk"  # a used now
    assert pa.stat().st_mtime_ns > pb.stat().st_mtime_ns
    monkeypatch.setenv("SYMDIFF_CACHE_MAX_BYTES", str(2 * size))
    c = compiler.compile(prog, name="kc")
    pc = ccache.entry_path(c._main.key)
    assert pa.exists() and pc.exists() and not pb.exists()   # b was least recently used
    assert sum(s for _, s, _ in ccache.entries()) == 2 * size
    # A budget smaller than one entry keeps nothing on disk; compiling works.
    monkeypatch.setenv("SYMDIFF_CACHE_MAX_BYTES", "0")
    assert compiler.compile(prog, name="kd")([-1.0])[0] == 0.0
    assert ccache.entries() == []


def test_info_and_clear(cache_dir, monkeypatch):
    assert ccache.info()["exists"] is False and ccache.info()["entries"] == 0
    assert ccache.clear() == (0, 0, 0)
    prog = _relu_program()
    keys = {compiler.compile(prog, name=name)._main.key for name in ("k1", "k2", "k3")}
    assert {p for p, _, _ in ccache.entries()} == {ccache.entry_path(k) for k in keys}
    (cache_dir / ".tmp-left0ver.sdobj").write_bytes(b"partial")
    (cache_dir / "README").write_text("not ours")
    (cache_dir / "0123.sdobj").write_text("not an entry name")
    st = ccache.info()
    sizes = [s for _, s, _ in ccache.entries()]
    assert st["exists"] and st["entries"] == 3 and st["bytes"] == sum(sizes)
    assert st["max_bytes"] == ccache.DEFAULT_MAX_BYTES and not st["limit_from_env"]
    assert ccache.clear() == (3, 1, sum(sizes) + len(b"partial"))
    assert sorted(p.name for p in cache_dir.iterdir()) == ["0123.sdobj", "README"]
    # the in-process cache is emptied too: the next compile builds again
    assert compiler.compile(prog, name="k1").compile_info["cache"] == "miss"
