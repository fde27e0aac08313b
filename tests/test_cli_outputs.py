"""What ``symdiff compile`` (and the other commands) write: -o checked
before compiling, a library and its header never in one file, ``-o``
required for object files and libraries, IR of the kernel alone unless
``--all``, ``--cpu`` and its note in the header, ``--format json`` and
messages about written files on stderr.

Regressions: ``--emit c-header -o /nonexistent/x.h`` ended in a
FileNotFoundError traceback; ``--emit shared -o foo.h`` printed ``wrote
foo.h and foo.h`` (the header overwrote the library); ``--emit llvm`` of a
tensor program printed hundreds of lines of helpers."""

from __future__ import annotations

import ctypes
import json
import math
import os
import shutil

import numpy as np
import pytest

from symdiff.cli.compile import header_path
from symdiff.cli.main import main

HAVE_CC = any(shutil.which(c) for c in ("cc", "gcc", "clang"))
needs_cc = pytest.mark.skipif(not HAVE_CC, reason="no C compiler on this machine")
LECTURE = "exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)"
LN2 = math.log(2)
DX = 3 * math.exp(6) + 3 / LN2 - 3 / LN2 ** 2 + math.cos(LN2) / 12 - math.sin(LN2) / 12
DZ = 2 * math.exp(6) + 2 / LN2 - math.sin(LN2) / 18
SOFTMAX = ["Z = X @ W; mean(logsumexp(Z, axis=1))", "--shape", "X=m,3", "--shape", "W=3,2"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path / "cache"))


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- paths -----------------------------------------------------------------------


@pytest.mark.parametrize("path, emit, header", [
    ("libfoo.so", "shared", "foo.h"),
    ("foo.so", "shared", "foo.h"),
    ("foo", "shared", "foo.h"),
    ("lib.so", "shared", "lib.h"),
    (os.path.join("out", "libk.so"), "shared", os.path.join("out", "k.h")),
    ("libfoo.o", "obj", "libfoo.h"),
    ("foo.o", "obj", "foo.h"),
])
def test_header_path(path, emit, header):
    assert header_path(path, emit) == header


@pytest.mark.parametrize("emit, name", [("shared", "foo.h"), ("obj", "foo.h"),
                                        ("shared", "lib.h")])
def test_library_and_header_never_share_a_file(tmp_path, capsys, emit, name):
    path = tmp_path / name
    code, out, err = _run(capsys, "compile", "x*y", "--emit", emit, "-o", path)
    stem = os.path.splitext(name)[0]
    example = f"{stem}.o" if emit == "obj" else f"lib{stem}.so"
    what = "library" if emit == "shared" else "object file"
    assert (code, out) == (2, "")
    assert err == (f"error: -o {path}: its C header would be written to the same file; name "
                   f"the {what} like {example} (its header is then "
                   f"{header_path(example, emit)})\n")
    assert not path.exists()


@needs_cc
def test_header_may_not_overwrite_the_input_file(tmp_path, capsys):
    src = tmp_path / "k.h"
    src.write_text("x*y")
    code, _, err = _run(capsys, "compile", "-f", src, "--emit", "shared",
                        "-o", tmp_path / "libk.so")
    assert code == 2
    assert err == f"error: the C header {src}: that is the input file; refusing to overwrite it\n"
    assert src.read_text() == "x*y" and not (tmp_path / "libk.so").exists()


@pytest.mark.parametrize("emit, example, header", [("obj", "symdiff_fn.o", "symdiff_fn.h"),
                                                   ("shared", "libsymdiff_fn.so",
                                                    "symdiff_fn.h")])
def test_object_files_and_libraries_need_o(tmp_path, capsys, monkeypatch, emit, example,
                                           header):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "compile", "x*y", "--emit", emit)
    assert (code, out) == (2, "")
    assert err == (f"error: --emit {emit} needs -o FILE, e.g. -o {example} (the C header is "
                   f"written beside it: {header})\n")
    assert list(tmp_path.iterdir()) == [tmp_path / "cache"] or not list(tmp_path.iterdir())


def test_header_into_a_missing_directory(capsys):
    code, out, err = _run(capsys, "compile", "x*y", "--emit", "c-header",
                          "-o", "/nonexistent/x.h")
    assert (code, out, err) == (2, "", "error: -o /nonexistent/x.h: directory /nonexistent "
                                       "does not exist\n")


@needs_cc
def test_shared_library_and_header_written(tmp_path, capsys):
    lib = tmp_path / "libk.so"
    code, out, err = _run(capsys, "compile", LECTURE, "--emit", "shared", "-o", lib,
                          "--name", "k")
    assert (code, out) == (0, "")
    assert err == f"wrote {lib} and {tmp_path / 'k.h'}\n"
    assert lib.read_bytes()[:4] == b"\x7fELF"
    assert "void k(const double *in, double *out);" in (tmp_path / "k.h").read_text()


# -- --emit llvm --------------------------------------------------------------------


def test_emit_llvm_shows_the_kernel_and_all_shows_the_module(capsys):
    code, short, _ = _run(capsys, "compile", *SOFTMAX, "--emit", "llvm")
    assert code == 0
    code, full, _ = _run(capsys, "compile", *SOFTMAX, "--emit", "llvm", "--all")
    assert code == 0
    assert 'define internal double @"symdiff.vexp"' in full
    assert "define internal void @symdiff_fn__gemm" in full
    assert 'define internal double @"symdiff.vexp"' not in short
    assert "@symdiff_fn__gemm.nn(" not in short.split("; not shown")[0].replace(
        "call void @symdiff_fn__gemm.nn(", "")
    assert "define void @symdiff_fn__run(" in short
    assert short.rstrip().endswith("; --all prints the whole module")
    assert "symdiff.vexp" in short.splitlines()[-2]
    assert len(short.splitlines()) < len(full.splitlines())


def test_emit_llvm_of_a_scalar_kernel_hides_the_python_entries(capsys):
    code, short, _ = _run(capsys, "compile", LECTURE, "--emit", "llvm")
    _, full, _ = _run(capsys, "compile", LECTURE, "--emit", "llvm", "--all")
    assert code == 0
    assert "define void @symdiff_fn(" in short and "define void @symdiff_fn(" in full
    assert "@symdiff_fn__py(" in full and "define i32 @symdiff_fn__py(" not in short
    assert short.splitlines()[-2] == ("; not shown: 2 helper functions (symdiff_fn__py, "
                                      "symdiff_fn__bound);")


@pytest.mark.parametrize("argv, message", [
    (["--all"], "error: --all applies to --emit llvm\n"),
    (["--emit", "asm", "--all"], "error: --all applies to --emit llvm\n"),
    (["--cpu", "generic"], "error: --cpu applies to --emit obj|shared|c-header (JIT-compiled "
                           "code always targets this machine)\n"),
    (["--emit", "llvm", "-o", ""], "error: -o: the file name is empty\n"),
])
def test_options_that_do_not_apply(capsys, argv, message):
    code, out, err = _run(capsys, "compile", "x*y", *argv)
    assert (code, out, err) == (2, "", message)


# -- --cpu --------------------------------------------------------------------------


@needs_cc
def test_cpu_generic_and_native_libraries_agree_with_the_closed_form(tmp_path, capsys):
    values = {}
    for cpu in ("generic", "native"):
        lib = tmp_path / f"lib{cpu}k.so"
        code, _, _ = _run(capsys, "compile", LECTURE, "--emit", "shared", "-o", lib,
                          "--name", f"{cpu}k", "--cpu", cpu)
        assert code == 0
        header = (tmp_path / f"{cpu}k.h").read_text()
        note = {"generic": " * Built for any CPU of this architecture (cpu=generic; "
                           "cpu=native is",
                "native": " * Built for the CPU of the machine that built it (cpu=native): "
                          "it may"}[cpu]
        assert note in header.splitlines()
        so = ctypes.CDLL(str(lib))
        fn = getattr(so, f"{cpu}k")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        x = np.array([2.0, 3.0])
        y = np.empty(3)
        fn(x.ctypes.data, y.ctypes.data)
        values[cpu] = y
    assert values["generic"][1] == pytest.approx(DX, rel=1e-14)
    assert values["generic"][2] == pytest.approx(DZ, rel=1e-14)
    assert values["native"][1] == pytest.approx(DX, rel=1e-14)


def test_default_library_is_native_and_says_so(tmp_path, capsys):
    code, out, _ = _run(capsys, "compile", "x*y", "--emit", "c-header", "--cpu", "native")
    assert code == 0 and "(cpu=native)" in out
    code, out, _ = _run(capsys, "compile", "x*y", "--emit", "c-header")
    assert code == 0 and "cpu=" not in out          # a lone header: built for nothing yet


def test_api_refuses_an_unknown_cpu(tmp_path):
    import compiler
    from symdiff.core.program import schedule
    from symdiff.text.parser import parse

    x = parse("x")
    with pytest.raises(ValueError, match="cpu must be 'native' or 'generic'"):
        compiler.emit_object(schedule([x * x], [x]), tmp_path / "k.o", cpu="i386")


# -- --format json ---------------------------------------------------------------------


def test_compile_json_at_a_point(capsys):
    code, out, err = _run(capsys, "compile", LECTURE, "--at", "x=2,z=3", "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["name"] == "symdiff_fn" and doc["inputs"] == ["x", "z"]
    assert doc["outputs"] == ["f", "df/dx", "df/dz"] and doc["operations"] == 21
    assert doc["at"] == {"x": 2.0, "z": 3.0}
    assert doc["values"]["df/dx"] == pytest.approx(DX, rel=1e-14)
    assert doc["values"]["df/dz"] == pytest.approx(DZ, rel=1e-14)
    assert doc["compile_seconds"] > 0


def test_compile_json_of_ir_and_of_written_files(tmp_path, capsys):
    code, out, _ = _run(capsys, "compile", "x*y", "--emit", "llvm", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["llvm"].startswith('; symdiff kernel "symdiff_fn"')
    path = tmp_path / "k.h"
    code, out, err = _run(capsys, "compile", "x*y", "--emit", "c-header", "-o", path,
                          "--format", "json")
    assert code == 0 and json.loads(out)["wrote"] == [str(path)]
    assert err == f"wrote {path}\n"


def test_compile_json_of_a_tensor_program(tmp_path, capsys):
    X = np.arange(6.0).reshape(2, 3) / 10
    W = np.ones((3, 2))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "W.npy", W)
    code, out, _ = _run(capsys, "compile", *SOFTMAX, "--wrt", "W", "--format", "json",
                        "--at", f"X={tmp_path / 'X.npy'},W={tmp_path / 'W.npy'}")
    assert code == 0
    doc = json.loads(out)
    assert doc["inputs"] == {"X": "m x 3", "W": "3 x 2"} and doc["outputs"] == ["f", "df/dW"]
    Z = X @ W
    assert doc["values"]["f"] == pytest.approx(np.mean(np.log(np.exp(Z).sum(axis=1))),
                                               rel=1e-14)
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(doc["values"]["df/dW"], X.T @ P / 2, rtol=1e-13)


def test_cache_info_json(capsys, tmp_path):
    code, out, _ = _run(capsys, "cache", "info", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["directory"] == str(tmp_path / "cache")
    assert set(doc) == {"directory", "exists", "entries", "bytes", "max_bytes", "enabled",
                        "problem"}
    assert doc["problem"] is None


def test_written_files_are_reported_on_stderr(tmp_path, capsys):
    path = tmp_path / "k.ll"
    code, out, err = _run(capsys, "compile", "x*y", "--emit", "llvm", "-o", path)
    assert (code, out, err) == (0, "", f"wrote {path}\n")
