"""The numpy-ABI fast entry (compiler.npyabi) on its own: the layout
self-test, and every rejection path of ``N__py`` returning its documented
code with ``out`` untouched; ``N__bound`` raising ValueError."""

from __future__ import annotations

import ctypes
from dataclasses import replace

import numpy as np
import pytest

from compiler import backend, npyabi

N_IN, N_OUT = 3, 2

# A kernel of 3 inputs and 2 outputs: out = [x0 + x1, x1 * x2].
_KERNEL = """
define void @k(ptr nocapture readonly %in, ptr nocapture writeonly %out) nounwind {
entry:
  %p1 = getelementptr inbounds double, ptr %in, i64 1
  %p2 = getelementptr inbounds double, ptr %in, i64 2
  %a = load double, ptr %in, align 8
  %b = load double, ptr %p1, align 8
  %c = load double, ptr %p2, align 8
  %s = fadd double %a, %b
  %t = fmul double %b, %c
  %q = getelementptr inbounds double, ptr %out, i64 1
  store double %s, ptr %out, align 8
  store double %t, ptr %q, align 8
  ret void
}
"""


@pytest.fixture(scope="module")
def entry():
    # The kernel's module (kernel + wrappers) linked with the runtime object
    # holding the checks, as compiler.function loads them.
    rt, _ = backend.compile_text(npyabi.runtime_text(), opt_level=2, codegen_level=2,
                                 slp=False)
    text = _KERNEL + "\n" + npyabi.entries_text("k", N_IN, N_OUT) + "\n"
    obj, _ = backend.compile_text(text, opt_level=None, codegen_level=0, slp=False)
    funcs, globs = npyabi.entry_symbols("k")
    rt_globals = npyabi.runtime_globals()
    inst = backend.Instance([rt, obj], funcs, [*globs, *rt_globals])
    for sym, value in rt_globals.items():
        inst.set_pointer(sym, value)
    py = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(
        inst.addresses["k__py"])
    bound = ctypes.PYFUNCTYPE(None)(inst.addresses["k__bound"])

    def call(x, out):
        return py(id(x), id(out))

    def call_bound(x, out):
        inst.set_pointer("k__bound_args", id(x), 0)
        inst.set_pointer("k__bound_args", id(out), 1)
        try:
            bound()
        finally:
            inst.set_pointer("k__bound_args", 0, 0)
            inst.set_pointer("k__bound_args", 0, 1)

    call.bound = call_bound
    call.inst = inst  # the engine lives as long as the fixture
    return call


def test_layout_self_test_passes_here():
    assert npyabi.layout_mismatch() is None


def test_layout_self_test_reports_a_wrong_layout():
    # Each field at a wrong offset is named (and no wrong pointer is followed).
    assert npyabi.layout_mismatch(replace(npyabi.NDARRAY_LAYOUT, data=24)) == "data offset"
    assert npyabi.layout_mismatch(replace(npyabi.NDARRAY_LAYOUT, nd=28)) == "nd offset"
    assert npyabi.layout_mismatch(replace(npyabi.NDARRAY_LAYOUT, descr=48)) == "descr offset"
    assert npyabi.layout_mismatch(replace(npyabi.NDARRAY_LAYOUT, writeable=0x0800)) == \
        "flag bits"


def test_accepts_and_runs_the_kernel(entry):
    x = np.array([1.5, 2.0, -4.0])
    out = np.zeros(N_OUT)
    assert entry(x, out) == npyabi.OK
    assert out.tolist() == [3.5, -8.0]
    # a read-only input is fine
    x.flags.writeable = False
    out[:] = 0.0
    assert entry(x, out) == npyabi.OK and out.tolist() == [3.5, -8.0]


def _rejected(entry, x, out, code=npyabi.REJECTED):
    before = out.copy() if isinstance(out, np.ndarray) else None
    assert entry(x, out) == code
    if before is not None:
        assert np.array_equal(out, before, equal_nan=True)  # untouched


def test_wrong_type(entry):
    good_x, good_out = np.ones(N_IN), np.zeros(N_OUT)
    _rejected(entry, [1.0, 2.0, 3.0], good_out)
    _rejected(entry, good_x, [0.0, 0.0])
    _rejected(entry, None, good_out)

    class Sub(np.ndarray):
        pass

    # only an exact ndarray: a subclass may have other fields
    _rejected(entry, good_x.view(Sub), good_out)
    _rejected(entry, good_x, good_out.view(Sub))


def test_wrong_dtype(entry):
    out = np.zeros(N_OUT)
    _rejected(entry, np.ones(N_IN, dtype=np.float32), out)
    _rejected(entry, np.ones(N_IN, dtype=np.int64), out)
    _rejected(entry, np.ones(N_IN), np.zeros(N_OUT, dtype=np.float32))
    # float64 but not the canonical descriptor (byte-swapped)
    _rejected(entry, np.ones(N_IN, dtype=">f8"), out)


def test_wrong_ndim(entry):
    out = np.zeros(N_OUT)
    _rejected(entry, np.ones((1, N_IN)), out)
    _rejected(entry, np.ones(()), out)
    _rejected(entry, np.ones(N_IN), np.zeros((1, N_OUT)))


def test_wrong_length(entry):
    _rejected(entry, np.ones(N_IN + 1), np.zeros(N_OUT))
    _rejected(entry, np.ones(N_IN - 1), np.zeros(N_OUT))
    _rejected(entry, np.ones(N_IN), np.zeros(N_OUT + 1))


def test_wrong_flags(entry):
    out = np.zeros(N_OUT)
    _rejected(entry, np.ones(2 * N_IN)[::2], out)               # not contiguous
    raw = np.zeros(8 * N_IN + 1, dtype=np.uint8)
    mis = raw[1:].view(np.float64)                               # misaligned
    assert not mis.flags.aligned
    _rejected(entry, mis, out)
    ro = np.zeros(N_OUT)
    ro.flags.writeable = False
    _rejected(entry, np.ones(N_IN), ro)                          # out read-only
    _rejected(entry, np.ones(N_IN), np.zeros(2 * N_OUT)[::2])    # out strided


def test_overlap(entry):
    buf = np.arange(6.0)
    _rejected(entry, buf[0:3], buf[2:4], npyabi.OVERLAP)
    _rejected(entry, buf[1:4], buf[0:2], npyabi.OVERLAP)
    # adjacent but disjoint is fine
    assert entry(buf[0:3], buf[3:5]) == npyabi.OK
    assert buf[3:5].tolist() == [1.0, 2.0]


def test_bound_entry_raises_value_error(entry):
    x, out = np.array([1.0, 2.0, 3.0]), np.zeros(N_OUT)
    entry.bound(x, out)
    assert out.tolist() == [3.0, 6.0]
    with pytest.raises(ValueError, match=r"bound buffers changed \(dtype, shape, flags"):
        entry.bound(x.astype(np.float32), out)
    with pytest.raises(ValueError, match="since bind"):
        entry.bound(x, np.zeros(N_OUT + 1))


def test_kernel_modules_carry_only_wrappers():
    # The checks live once, in the runtime object; a kernel's entries are
    # one call each with its n and m.
    text = npyabi.entries_text("k", 7, 5)
    assert "fcmp" not in text and "icmp" not in text and "br " not in text
    assert '@"symdiff.py_entry"(ptr %xo, ptr %oo, i64 7, i64 5, ptr @k)' in text
    assert '@"symdiff.py_bound"(ptr @k__bound_args, i64 7, i64 5, ptr @k)' in text
