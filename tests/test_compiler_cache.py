"""The object cache keys on what the code is: an edited lowering in the op
table is never served stale, options and names make their own entries."""

from __future__ import annotations

import json
import os
import stat

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


# ---------------------------------------------------------------------------
# Hostile entries: never followed, waited on or read whole (in a subprocess,
# so a regression hangs or runs out of memory there, not in the test run)

_HOSTILE = """
    import json, os, resource, sys, warnings
    import compiler
    from compiler import cache as ccache
    from symdiff.core.program import Instr, Program

    # A read of /dev/zero or of the 2 GiB file fails fast instead of eating
    # the machine's memory (the JIT needs far less address space than this).
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    prog = Program(("x",), (Instr("input", (), 0), Instr("relu", (0,))), (1,))
    fn = compiler.compile(prog, name="hostile")
    path = ccache.entry_path(fn._main.key)
    good = open(path, "rb").read()
    os.unlink(path)
    kind = sys.argv[1]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "devzero":
        os.symlink("/dev/zero", path)
    elif kind == "sparse":
        with open(path, "wb") as f:
            f.truncate(2 << 30)            # 2 GiB of holes: nothing is written
    else:
        os.mkdir(path)
    ccache.clear_memory()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = compiler.compile(prog, name="hostile")
    replaced = os.path.isfile(path) and not os.path.islink(path)
    print(json.dumps({
        "cache": again.compile_info["cache"], "value": float(again([-2.0])[0]),
        "warnings": [str(w.message) for w in caught
                     if issubclass(w.category, ccache.CacheWarning)],
        "replaced": replaced and open(path, "rb").read() == good,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }))
"""


@pytest.mark.parametrize("kind, problem, replaced", [
    ("fifo", "not a regular file", True),
    ("devzero", "a symbolic link", True),
    ("sparse", "2,147,483,648 bytes, more than any entry (268,435,456)", True),
    ("directory", "not a regular file", False),   # os.replace cannot replace a directory
])
def test_hostile_entry_is_rebuilt_without_reading_it(cache_dir, kind, problem, replaced):
    out = json.loads(run_py(_HOSTILE, {"SYMDIFF_CACHE_DIR": str(cache_dir)}, args=[kind],
                            timeout=60))
    assert out["cache"] == "corrupt" and out["value"] == 0.0
    assert len(out["warnings"]) == 1 and f": {problem}; rebuilding it" in out["warnings"][0]
    assert out["replaced"] is replaced
    assert out["maxrss_mb"] < 1000          # the 2 GiB file was not read


def test_entries_are_read_up_to_their_size_only(tmp_path):
    # An entry file of exactly the cap is read; one byte more is refused
    # by its size (a sparse file: nothing is written).
    p = tmp_path / ("ab" * 32 + ".sdobj")
    with open(p, "wb") as f:
        f.truncate(ccache.MAX_ENTRY_BYTES + 1)
    with pytest.warns(ccache.CacheWarning, match="268,435,457 bytes, more than any entry"):
        assert ccache._read_entry(p) == b""
    p.write_bytes(b"SYMDIFF")
    assert ccache._read_entry(p) == b"SYMDIFF"
    assert ccache._read_entry(tmp_path / "missing.sdobj") is None


def test_oversized_object_is_not_written(cache_dir, monkeypatch):
    monkeypatch.setattr(ccache, "MAX_ENTRY_BYTES", 1000)
    key = bytes(range(32))
    assert ccache.store(key, b"\x7fELF" + b"\0" * 2000) is None
    assert not ccache.entry_path(key).exists()
    assert ccache.load(key) == (b"\x7fELF" + b"\0" * 2000, "memory")


# ---------------------------------------------------------------------------
# Trust: a directory others can write is never used; ours is private


def _modes(root, leaf):
    out, p = {}, leaf
    while p != root:
        out[p.name] = stat.S_IMODE(p.stat().st_mode)
        p = p.parent
    return out


def test_created_directories_are_private(tmp_path, monkeypatch):
    d = tmp_path / "a" / "b" / "cache"
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(d))
    monkeypatch.delenv("SYMDIFF_CACHE", raising=False)
    old = os.umask(0o002)                   # a permissive umask must not widen them
    try:
        path = ccache.store(bytes(32), b"object")
    finally:
        os.umask(old)
    assert path == ccache.entry_path(bytes(32)) and path.exists()
    assert _modes(tmp_path, d) == {"a": 0o700, "b": 0o700, "cache": 0o700}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode, who", [(0o777, "group and others"), (0o770, "group"),
                                       (0o703, "others")])
def test_writable_by_others_is_not_used(cache_dir, mode, who):
    cache_dir.mkdir(mode=0o700)
    os.chmod(cache_dir, mode)
    prog = _relu_program()
    with pytest.warns(ccache.CacheWarning) as caught:
        fn = compiler.compile(prog, name=f"k{mode:o}")
        assert fn.compile_info["cache"] == "untrusted" and fn([-1.0])[0] == 0.0
    messages = [str(w.message) for w in caught if issubclass(w.category, ccache.CacheWarning)]
    assert messages == [f"symdiff: not using the compile cache in {cache_dir}: it is writable "
                        f"by {who} (mode {mode:o}; chmod go-w it); compiling without the disk "
                        "cache (set SYMDIFF_CACHE_DIR to a private directory)"]
    assert list(cache_dir.iterdir()) == []          # nothing written ...
    # ... and a planted entry is not loaded: memory hits still work
    assert compiler.compile(prog, name=f"k{mode:o}").compile_info["cache"] == "memory"
    ccache.clear_memory()
    assert compiler.compile(prog, name=f"k{mode:o}").compile_info["cache"] == "untrusted"
    assert ccache.directory_problem(cache_dir).startswith(f"it is writable by {who}")
    os.chmod(cache_dir, 0o700)
    assert ccache.directory_problem(cache_dir) is None


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="giving a directory to another user needs root")
def test_directory_of_another_user_is_not_used(cache_dir):
    cache_dir.mkdir(mode=0o700)
    os.chown(cache_dir, 65534, 65534)
    assert ccache.directory_problem(cache_dir) == \
        "it is owned by uid 65534, not by this user (uid 0)"
    with pytest.warns(ccache.CacheWarning, match="owned by uid 65534"):
        fn = compiler.compile(_relu_program(), name="foreign_owner")
    assert fn.compile_info["cache"] == "untrusted"
    assert list(cache_dir.iterdir()) == []


def test_cache_dir_expands_tilde_and_fixes_relative_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", "~/objs")
    assert ccache.cache_dir() == tmp_path / "home" / "objs"
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", "rel/cache")
    assert ccache.cache_dir() == tmp_path / "work" / "rel" / "cache"
    monkeypatch.chdir(tmp_path)             # the cache does not move with the process
    assert ccache.cache_dir() == tmp_path / "work" / "rel" / "cache"
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", "$HOME/x")   # no $VAR expansion
    assert ccache.cache_dir() == tmp_path / "$HOME" / "x"
    monkeypatch.delenv("SYMDIFF_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/xdg")  # ignored, as XDG says
    assert ccache.cache_dir() == tmp_path / "home" / ".cache" / "symdiff"


def test_tilde_cache_dir_creates_no_literal_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", "~/symdiff-cache")
    monkeypatch.delenv("SYMDIFF_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)
    ccache.clear_memory()
    fn = compiler.compile(_relu_program(), name="tilde")
    assert fn.compile_info["cache"] == "miss"
    assert not (tmp_path / "~").exists()
    assert ccache.entry_path(fn._main.key).parent == tmp_path / "home" / "symdiff-cache"
    assert ccache.entry_path(fn._main.key).exists()
    ccache.clear_memory()


# ---------------------------------------------------------------------------
# cpu: native or generic code, keyed apart


def test_cpu_choice_is_keyed_and_checked():
    host = ("x86_64-unknown-linux-gnu", "znver4", "+avx2,+fma")
    text = "define void @f() {\n  ret void\n}\n"
    native = backend.codegen_options(opt_level=2, codegen_level=2, slp=False, pic=True)
    generic = backend.codegen_options(opt_level=2, codegen_level=2, slp=False, pic=True,
                                      cpu="generic")
    assert native["cpu"] == "native" and generic["cpu"] == "generic"
    assert ccache.make_key(text, native, host) != ccache.make_key(text, generic, host)
    with pytest.raises(ValueError, match="cpu must be 'native' or 'generic', got 'znver9'"):
        backend.codegen_options(opt_level=2, codegen_level=2, slp=False, cpu="znver9")
    with pytest.raises(ValueError, match="cpu must be 'native' or 'generic', got None"):
        backend.compile_text(text, opt_level=None, codegen_level=0, slp=False, cpu=None)


_VECTOR_ADD = """
define void @vadd(ptr %a, ptr %b) {
  %x = load <4 x double>, ptr %a
  %y = load <4 x double>, ptr %b
  %s = fadd <4 x double> %x, %y
  store <4 x double> %s, ptr %a
  ret void
}
"""


@pytest.mark.skipif(not backend.host_info()[0].startswith("x86_64"),
                    reason="register names checked are x86-64's")
def test_generic_cpu_uses_only_the_baseline():
    import llvmlite.binding as llvm

    def asm(cpu):
        ctx = llvm.create_context()
        mod = llvm.parse_assembly(_VECTOR_ADD, context=ctx)
        try:
            return backend.make_target_machine(2, pic=True, cpu=cpu).emit_assembly(mod)
        finally:
            mod.close()
            ctx.close()

    generic = asm("generic")
    assert "ymm" not in generic and "zmm" not in generic and generic.count("addpd") == 2
    if "+avx" in backend.host_info()[2].split(","):
        assert "ymm" in asm("native")
    obj, _ = backend.compile_text(_VECTOR_ADD, opt_level=2, codegen_level=2, slp=False,
                                  pic=True, cpu="generic")
    assert obj[:4] == b"\x7fELF"
