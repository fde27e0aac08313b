"""Kernel names: a name that would shadow a C library function, is a C or
C++ keyword or is reserved is refused (CLI: exit 2 and one line; Python
API: ValueError), and shared libraries export their C API and nothing
else.

Regressions: ``symdiff compile "x^7" --name pow --at x=2`` crashed with a
segmentation fault (the kernel ``pow`` called ``pow``: itself), ``--name
tan`` ended in an LLVM traceback, ``--name int`` wrote a header no C
compiler accepts, and tensor libraries exported their internal
``N__run``."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys

import pytest

import compiler
from compiler.names import LIBM_FUNCTIONS, check_kernel_name
from compiler.tensor.aot import tensor_c_header, tensor_shared
from symdiff.cli.main import main
from symdiff.core import ops
from symdiff.core.program import schedule
from symdiff.core.tensor import sum as tsum
from symdiff.core.tensor import tensor
from symdiff.text.parser import parse

HAVE_CC = any(shutil.which(c) for c in ("cc", "gcc", "clang"))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path / "cache"))


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


REFUSED = [
    ("pow", "'pow' is a C math library function, which a kernel of that name would shadow; "
            "choose another name, such as pow_fn"),
    ("tan", "'tan' is a C math library function"),
    ("expf", "'expf' is a C math library function"),
    ("malloc", "'malloc' is a C library function"),
    ("memset", "'memset' is a C library function"),
    ("main", "'main' is a C library function"),
    ("int", "'int' is a C/C++ keyword; the C header could not declare it"),
    ("class", "'class' is a C/C++ keyword"),
    ("restrict", "'restrict' is a C/C++ keyword"),
    ("_Foo", "'_Foo' is reserved"),
    ("_x", "'_x' is reserved"),
    ("a__b", "'a__b' is reserved: C and C++ reserve names that start with '_' or contain "
             "'__'"),
    ("1bad", "name must be a C identifier"),
    ("bad name", "name must be a C identifier"),
    ("", "name must be a C identifier"),
    ("naïve", "name must be a C identifier"),
]


@pytest.mark.parametrize("name, message", REFUSED, ids=[r[0] or "empty" for r in REFUSED])
def test_check_kernel_name_refuses(name, message):
    with pytest.raises(ValueError) as info:
        check_kernel_name(name)
    assert message in str(info.value)


@pytest.mark.parametrize("name", ["symdiff_fn", "lecture", "rosen_fg", "k1", "mysin", "f",
                                  "softmax_regression", "pow_fn", "Tan"])
def test_check_kernel_name_accepts(name):
    assert check_kernel_name(name) == name


def test_every_libm_function_the_op_table_calls_is_refused():
    # The op table is the source of truth for what compiled code calls.
    called = set()
    for op in ops.ALL_OPS.values():
        low = getattr(op, "lowering", None)
        if isinstance(low, ops.Intrinsic):
            called.add(low.libm)
        elif isinstance(low, ops.Libm):
            called.add(low.name)
    assert {"exp", "tan", "tanh", "log1p"} <= called      # (pow: a hook, in REFUSED)
    assert called <= LIBM_FUNCTIONS
    for name in called:
        with pytest.raises(ValueError, match="C math library function"):
            check_kernel_name(name)


@pytest.mark.parametrize("name, message", [
    ("pow", "error: --name: 'pow' is a C math library function, which a kernel of that name "
            "would shadow; choose another name, such as pow_fn\n"),
    ("tan", "error: --name: 'tan' is a C math library function, which a kernel of that name "
            "would shadow; choose another name, such as tan_fn\n"),
    ("int", "error: --name: 'int' is a C/C++ keyword; the C header could not declare it\n"),
])
@pytest.mark.parametrize("emit", [[], ["--emit", "c-header"], ["--emit", "llvm"]])
def test_cli_refuses_kernel_names(capsys, name, message, emit):
    code, out, err = _run(capsys, "compile", "tan(x)^7", "--name", name, *emit)
    assert (code, out, err) == (2, "", message)


def test_cli_name_pow_no_longer_crashes():
    # Run in a child: before the fix this call died of SIGSEGV.
    res = subprocess.run([sys.executable, "-m", "symdiff.cli", "compile", "x^7", "--name",
                          "pow", "--at", "x=2"], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.startswith("error: --name: 'pow' is a C math library function")


def test_api_aot_functions_refuse_bad_names(tmp_path):
    x = parse("x")
    program = schedule([x ** 7], [x])
    with pytest.raises(ValueError, match="'pow' is a C math library function"):
        compiler.emit_object(program, tmp_path / "k.o", name="pow")
    with pytest.raises(ValueError, match="'int' is a C/C\\+\\+ keyword"):
        compiler.c_header(program, name="int")
    with pytest.raises(ValueError, match="'tan' is a C math library function"):
        compiler.emit_shared(program, tmp_path / "libk.so", name="tan")
    X = tensor("X", (3,))
    tprog = schedule([tsum(X * X)], [X])
    with pytest.raises(ValueError, match="'exp' is a C math library function"):
        tensor_c_header(tprog, name="exp")
    assert not list(tmp_path.iterdir())            # nothing was written


def test_api_compile_refuses_pow():
    code = ("import compiler, symdiff as sd\n"
            "x = sd.symbols('x')\n"
            "try:\n"
            "    compiler.compile([x**7], [x], name='pow')\n"
            "except ValueError as e:\n"
            "    print(e)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and "'pow' is a C math library function" in res.stdout


@pytest.mark.skipif(not HAVE_CC, reason="no C compiler on this machine")
def test_shared_libraries_export_only_their_api(tmp_path, capsys):
    lib = tmp_path / "libsk.so"
    assert _run(capsys, "compile", "exp(x)*sin(y)", "--emit", "shared", "-o", lib,
                "--name", "sk")[0] == 0
    so = ctypes.CDLL(str(lib))
    assert hasattr(so, "sk") and hasattr(so, "sk_batch")
    assert not hasattr(so, "sk__rows")

    X = tensor("X", ("m", 3))
    W = tensor("W", (3, 2))
    program = schedule([tsum((X @ W) * (X @ W))], [X, W])
    tlib = tensor_shared(program, tmp_path / "libtk.so", name="tk")
    so = ctypes.CDLL(tlib)
    assert hasattr(so, "tk") and hasattr(so, "tk__dgemm") and hasattr(so, "tk__dgemv")
    # Before: tk__run and tk__parallel were exported as well.
    assert not hasattr(so, "tk__run") and not hasattr(so, "tk__parallel")


@pytest.mark.skipif(not HAVE_CC, reason="no C compiler on this machine")
def test_c_program_calling_pow_links_a_symdiff_library(tmp_path, capsys):
    # An unrelated C program that calls pow and links a symdiff library
    # gets libm's pow (a library named pow can no longer be built).
    lib = tmp_path / "libkp.so"
    assert _run(capsys, "compile", "x^7", "--emit", "shared", "-o", lib,
                "--name", "kp")[0] == 0
    src = tmp_path / "main.c"
    src.write_text('#include <math.h>\n#include <stdio.h>\n#include "kp.h"\n'
                   "int main(void) { volatile double b = 2.0, e = 0.5; double in[1] = {2.0}, "
                   "out[2]; kp(in, out);\n"
                   '  printf("%.17g %.17g %.17g\\n", pow(b, e), out[0], out[1]); return 0; }\n')
    exe = tmp_path / "main"
    cc = next(shutil.which(c) for c in ("cc", "gcc", "clang") if shutil.which(c))
    subprocess.run([cc, "-o", str(exe), str(src), f"-I{tmp_path}", f"-L{tmp_path}", "-lkp",
                    "-lm", f"-Wl,-rpath,{tmp_path}"], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    assert out.split() == [repr(2 ** 0.5), "128", "448"]
