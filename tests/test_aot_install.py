"""Rebuilding a shared library at the same path gives a new file: a process
that has the old one loaded keeps running its code (copying over the file
in place changed the code under it, and the next call crashed)."""

from __future__ import annotations

import ctypes
import os
import shutil

import pytest

import compiler
import symdiff as sd

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="needs a C compiler to link shared libraries")


def _load(path):
    f = ctypes.CDLL(str(path)).kern
    f.argtypes = [ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double)]
    return f


def test_rebuilding_a_loaded_library_leaves_it_running(tmp_path):
    x, y = sd.symbols("x y")
    lib = tmp_path / "libkern.so"
    compiler.emit_shared(sd.schedule([x * y], [x, y]), lib, name="kern")
    before = os.stat(lib)
    old = _load(lib)
    inp, out = (ctypes.c_double * 2)(2.0, 3.0), (ctypes.c_double * 1)()
    old(inp, out)
    assert out[0] == 6.0
    compiler.emit_shared(sd.schedule([x + y + sd.sin(x)], [x, y]), lib, name="kern")
    after = os.stat(lib)
    assert after.st_ino != before.st_ino                  # a new file, renamed into place
    assert after.st_mode & 0o111                          # executable, as the linker makes it
    old(inp, out)                                         # the old code, still mapped
    assert out[0] == 6.0
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".symdiff-")]
