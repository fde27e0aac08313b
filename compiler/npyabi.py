"""The numpy-ABI fast entry: ``N__py`` and ``N__bound``.

A ctypes call that converts two numpy arrays to pointers costs several
microseconds (``arr.ctypes.data``, ``__array_interface__``); passing
``id(arr)`` costs about 0.2 us.  So JIT modules carry two entries that take
the array *objects* and read numpy's ``PyArrayObject`` header themselves::

    i32  N__py(PyObject *x, PyObject *out)   validate both, run N(x, out)
    void N__bound(void)                      the same on the two objects in
                                             N__bound_args (stored by
                                             bind()); raises ValueError
                                             through the C API

``N__py`` returns :data:`OK` after running the kernel, :data:`REJECTED` if
either object is not an exact ndarray of the canonical float64 dtype, one
dimension of the right length, C-contiguous and aligned (``out`` also
writeable), and :data:`OVERLAP` if the two buffers overlap.  Anything but
OK leaves ``out`` untouched, and the Python wrapper takes its slow, fully
checked path.

The checks are the same for every kernel but for ``n``, ``m`` and the
kernel called, so they live once in a runtime object
(:func:`runtime_text`: ``symdiff.py_entry`` and ``symdiff.py_bound``,
compiled once per process by :mod:`compiler.runtime` and linked into each
engine); a kernel module has only two one-call wrappers
(:func:`entries_text`).  Generating the checks' machine code in every
module cost ~0.5-0.7 ms of a ~2.5 ms cold compile of the lecture gradient;
the indirect kernel call costs a nanosecond or two.

The header layout is numpy's public ABI (``PyArray_DATA`` and friends are
inline field reads in every extension module).  :func:`layout_mismatch`
checks it against numpy's own attributes at import (:data:`LAYOUT_PROBLEM`);
where it differs, the caller turns the fast entry off and says so.

:func:`data_ptr` reads an array's data pointer from the same header in
Python (~0.1 us, against ~1 us for ``__array_interface__`` or
``.ctypes.data``), for the per-call paths that pass pointers through
ctypes (``batch()``, tensor kernels).

The runtime object's globals (:func:`runtime_globals`: ``numpy.ndarray``,
the float64 descriptor, ``PyErr_SetString`` and ``ValueError``) are filled
by the loader in every engine that links it.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

__all__ = ["Layout", "NDARRAY_LAYOUT", "LAYOUT_PROBLEM", "layout_mismatch", "data_ptr",
           "entries_text", "entry_symbols", "runtime_text", "runtime_globals", "OK",
           "REJECTED", "OVERLAP", "BOUND_ERROR"]

#: Return codes of ``N__py``.
OK, REJECTED, OVERLAP = 0, 1, 2

#: The message of the ValueError ``N__bound`` raises.
BOUND_ERROR = "bound buffers changed (dtype, shape, flags or overlap) since bind()"

# Globals of the runtime object, filled by the loader (runtime_globals).
_RT_GLOBALS = ("symdiff.ndarray_type", "symdiff.f64_descr", "symdiff.err_fn",
               "symdiff.err_type")


@dataclass(frozen=True)
class Layout:
    """Byte offsets of the PyObject / PyArrayObject fields we read, and the
    flag bits we test."""

    ob_type: int = 8
    data: int = 16
    nd: int = 24
    dimensions: int = 32
    descr: int = 56
    flags: int = 64
    c_contiguous: int = 0x0001
    aligned: int = 0x0100
    writeable: int = 0x0400


NDARRAY_LAYOUT = Layout()


def layout_mismatch(layout: Layout = NDARRAY_LAYOUT) -> str | None:
    """None if numpy's array header matches ``layout`` in this process, else
    what differs (checked on contiguous, strided, sliced and read-only
    samples against numpy's own attributes)."""
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        return f"pointers are {ctypes.sizeof(ctypes.c_void_p)} bytes, the entry assumes 8"
    L = layout
    samples = [np.arange(3.0), np.zeros((2, 3))[:, 1], np.ones(5)[::2]]
    ro = np.arange(4.0)
    ro.flags.writeable = False
    samples.append(ro)
    vp = ctypes.c_void_p.from_address
    for a in samples:
        base = id(a)
        # Fields are compared in order, and the dimensions pointer is only
        # followed once the fields before it matched (so a wrong layout is
        # reported, not dereferenced).
        if vp(base + L.ob_type).value != id(type(a)):
            return "ob_type offset"
        if vp(base + L.data).value != a.__array_interface__["data"][0]:
            return "data offset"
        if ctypes.c_int.from_address(base + L.nd).value != a.ndim:
            return "nd offset"
        if vp(base + L.descr).value != id(a.dtype):
            return "descr offset"
        flags = ctypes.c_int.from_address(base + L.flags).value
        if flags & 0xFFFF != a.flags.num & 0xFFFF:
            return "flags offset"
        got = (bool(flags & L.c_contiguous), bool(flags & L.aligned), bool(flags & L.writeable))
        if got != (a.flags.c_contiguous, a.flags.aligned, a.flags.writeable):
            return "flag bits"
        dims = vp(base + L.dimensions).value
        if dims is None or ctypes.c_ssize_t.from_address(dims).value != a.shape[0]:
            return "dimensions offset"
    return None


#: :func:`layout_mismatch` of this process (None: the layout matched).
LAYOUT_PROBLEM = layout_mismatch()

if LAYOUT_PROBLEM is None:
    _word_at = ctypes.c_size_t.from_address
    _DATA_OFFSET = NDARRAY_LAYOUT.data

    def data_ptr(a: np.ndarray) -> int:
        """The address of ``a``'s data (``a`` a numpy array, kept alive by
        the caller), read from its header."""
        return _word_at(id(a) + _DATA_OFFSET).value
else:
    def data_ptr(a: np.ndarray) -> int:
        """The address of ``a``'s data (numpy's header layout differs from
        :data:`NDARRAY_LAYOUT` here, so through ``a.ctypes``)."""
        return a.ctypes.data


def entry_symbols(name: str) -> tuple[list[str], list[str]]:
    """(function symbols, global symbols) of kernel ``name``'s entries:
    ``N__py``, ``N__bound`` and ``N__bound_args`` (two object pointers,
    x then out, that bind() stores)."""
    return [f"{name}__py", f"{name}__bound"], [f"{name}__bound_args"]


def runtime_globals() -> dict[str, int]:
    """{global symbol: pointer value} to store in every engine linking the
    runtime object of :func:`runtime_text`."""
    return {
        "symdiff.ndarray_type": id(np.ndarray),
        "symdiff.f64_descr": id(np.dtype(np.float64)),
        # PyErr_SetString(ValueError, msg) raises from N__bound.
        "symdiff.err_fn": ctypes.cast(ctypes.pythonapi.PyErr_SetString, ctypes.c_void_p).value,
        "symdiff.err_type": id(ValueError),
    }


def _check(obj: str, tag: str, length: str, mask: int, fail: str, nxt: str) -> list[str]:
    """IR checking that ``obj`` is an exact 1-d float64 ndarray of ``length``
    (an i64 operand) with the ``mask`` flags set; leaves its data pointer in
    ``%<tag>.da``."""
    L = NDARRAY_LAYOUT
    # Read ob_type first: valid for any PyObject.  Only an exact ndarray
    # has the other fields, and only a 1-d one a dimensions[0].
    return [
        f"  %{tag}.tp.p = getelementptr inbounds i8, ptr {obj}, i64 {L.ob_type}",
        f"  %{tag}.tp = load ptr, ptr %{tag}.tp.p, align 8",
        f'  %{tag}.nt = load ptr, ptr @"symdiff.ndarray_type", align 8',
        f"  %{tag}.ok1 = icmp eq ptr %{tag}.tp, %{tag}.nt",
        f"  br i1 %{tag}.ok1, label %{tag}.bb.fields, label %{fail}",
        f"{tag}.bb.fields:",
        f"  %{tag}.de.p = getelementptr inbounds i8, ptr {obj}, i64 {L.descr}",
        f"  %{tag}.de = load ptr, ptr %{tag}.de.p, align 8",
        f'  %{tag}.fd = load ptr, ptr @"symdiff.f64_descr", align 8',
        f"  %{tag}.okd = icmp eq ptr %{tag}.de, %{tag}.fd",
        f"  %{tag}.nd.p = getelementptr inbounds i8, ptr {obj}, i64 {L.nd}",
        f"  %{tag}.nd = load i32, ptr %{tag}.nd.p, align 4",
        f"  %{tag}.okn = icmp eq i32 %{tag}.nd, 1",
        f"  %{tag}.fl.p = getelementptr inbounds i8, ptr {obj}, i64 {L.flags}",
        f"  %{tag}.fl = load i32, ptr %{tag}.fl.p, align 4",
        f"  %{tag}.flm = and i32 %{tag}.fl, {mask}",
        f"  %{tag}.okf = icmp eq i32 %{tag}.flm, {mask}",
        f"  %{tag}.ok2a = and i1 %{tag}.okd, %{tag}.okn",
        f"  %{tag}.ok2 = and i1 %{tag}.ok2a, %{tag}.okf",
        f"  br i1 %{tag}.ok2, label %{tag}.bb.len, label %{fail}",
        f"{tag}.bb.len:",
        f"  %{tag}.dm.p = getelementptr inbounds i8, ptr {obj}, i64 {L.dimensions}",
        f"  %{tag}.dm = load ptr, ptr %{tag}.dm.p, align 8",
        f"  %{tag}.len = load i64, ptr %{tag}.dm, align 8",
        f"  %{tag}.okl = icmp eq i64 %{tag}.len, {length}",
        f"  %{tag}.da.p = getelementptr inbounds i8, ptr {obj}, i64 {L.data}",
        f"  %{tag}.da = load ptr, ptr %{tag}.da.p, align 8",
        f"  br i1 %{tag}.okl, label %{nxt}, label %{fail}",
    ]


def runtime_text() -> str:
    """The runtime module: the checks of every fast entry, once.

    ``i32 symdiff.py_entry(x, out, i64 n, i64 m, ptr kernel)`` validates the
    two objects for a kernel of ``n`` inputs and ``m`` outputs and calls
    ``kernel(x data, out data)``; ``void symdiff.py_bound(ptr args, n, m,
    kernel)`` does the same on ``args[0]``, ``args[1]`` and raises
    ValueError (:data:`BOUND_ERROR`) if they no longer pass."""
    L = NDARRAY_LAYOUT
    ro = L.c_contiguous | L.aligned
    rw = ro | L.writeable
    body = ["entry:"]
    body += _check("%xo", "x", "%n", ro, "fail", "xok")
    body.append("xok:")
    body += _check("%oo", "o", "%m", rw, "fail", "ook")
    body.append("ook:")
    # Overlap: [xd, xd+8n) and [od, od+8m) must be disjoint (the kernel
    # stores outputs while inputs may still be read in chunked programs).
    body += [
        "  %xi = ptrtoint ptr %x.da to i64",
        "  %oi = ptrtoint ptr %o.da to i64",
        "  %nb = shl i64 %n, 3",
        "  %mb = shl i64 %m, 3",
        "  %xe = add i64 %xi, %nb",
        "  %oe = add i64 %oi, %mb",
        "  %before = icmp ule i64 %xe, %oi",
        "  %after = icmp ule i64 %oe, %xi",
        "  %disj = or i1 %before, %after",
        "  %nm = mul i64 %n, %m",
        "  %empty = icmp eq i64 %nm, 0",
        "  %okov = or i1 %disj, %empty",
        "  br i1 %okov, label %run, label %overlap",
        "run:",
        "  call void %kernel(ptr %x.da, ptr %o.da)",
        f"  ret i32 {OK}",
        "overlap:",
        f"  ret i32 {OVERLAP}",
        "fail:",
        f"  ret i32 {REJECTED}",
    ]
    msg = BOUND_ERROR.encode() + b"\x00"
    msg_ir = "".join(chr(c) if 32 <= c < 127 and c not in (34, 92) else "\\%02X" % c
                     for c in msg)
    return "\n".join([
        "; symdiff runtime: the numpy-ABI fast entries",
        *(f'@"{g}" = global ptr null, align 8' for g in _RT_GLOBALS),
        f'@"symdiff.err_msg" = private unnamed_addr constant [{len(msg)} x i8] c"{msg_ir}"',
        "",
        'define i32 @"symdiff.py_entry"(ptr %xo, ptr %oo, i64 %n, i64 %m, ptr %kernel) '
        "nounwind {",
        *body,
        "}",
        "",
        'define void @"symdiff.py_bound"(ptr %args, i64 %n, i64 %m, ptr %kernel) nounwind {',
        "entry:",
        "  %x = load ptr, ptr %args, align 8",
        "  %o.p = getelementptr inbounds ptr, ptr %args, i64 1",
        "  %o = load ptr, ptr %o.p, align 8",
        '  %r = call i32 @"symdiff.py_entry"(ptr %x, ptr %o, i64 %n, i64 %m, ptr %kernel)',
        f"  %bad = icmp ne i32 %r, {OK}",
        "  br i1 %bad, label %err, label %ok",
        "err:",
        # PyErr_SetString(PyExc_ValueError, msg): the ctypes PYFUNCTYPE
        # wrapper sees the pending exception and raises it.
        '  %f = load ptr, ptr @"symdiff.err_fn", align 8',
        '  %e = load ptr, ptr @"symdiff.err_type", align 8',
        '  call void %f(ptr %e, ptr @"symdiff.err_msg")',
        "  ret void",
        "ok:",
        "  ret void",
        "}",
        "",
    ])


def entries_text(name: str, n: int, m: int) -> str:
    """IR for ``N__py``, ``N__bound`` and ``N__bound_args``: one tail call
    each into the runtime object (:func:`runtime_text`) for the kernel
    ``void @N(ptr in, ptr out)`` of ``n`` inputs and ``m`` outputs, which
    the same module defines."""
    return "\n".join([
        'declare i32 @"symdiff.py_entry"(ptr, ptr, i64, i64, ptr) nounwind',
        'declare void @"symdiff.py_bound"(ptr, i64, i64, ptr) nounwind',
        f"@{name}__bound_args = global [2 x ptr] zeroinitializer, align 8",
        "",
        f"define i32 @{name}__py(ptr %xo, ptr %oo) nounwind {{",
        "entry:",
        f'  %r = tail call i32 @"symdiff.py_entry"(ptr %xo, ptr %oo, i64 {n}, i64 {m}, '
        f"ptr @{name})",
        "  ret i32 %r",
        "}",
        "",
        f"define void @{name}__bound() nounwind {{",
        "entry:",
        f'  tail call void @"symdiff.py_bound"(ptr @{name}__bound_args, i64 {n}, i64 {m}, '
        f"ptr @{name})",
        "  ret void",
        "}",
    ])
