"""The numpy-ABI fast entry: ``N__py`` and ``N__bound``.

A ctypes call that converts two numpy arrays to pointers costs several
microseconds (``arr.ctypes.data``, ``__array_interface__``); passing
``id(arr)`` costs about 0.2 us.  So the JIT modules carry two entries that
take the array *objects* and read numpy's ``PyArrayObject`` header
themselves::

    i32  N__py(PyObject *x, PyObject *out)   validate both, run N(x, out)
    void N__bound(void)                      the same on objects stored in
                                             globals by bind(); raises
                                             ValueError through the C API

``N__py`` returns :data:`OK` after running the kernel, :data:`REJECTED` if
either object is not an exact ndarray of the canonical float64 dtype, one
dimension of the right length, C-contiguous and aligned (``out`` also
writeable), and :data:`OVERLAP` if the two buffers overlap.  Anything but
OK leaves ``out`` untouched, and the Python wrapper takes its slow, fully
checked path.

The header layout is numpy's public ABI (``PyArray_DATA`` and friends are
inline field reads in every extension module).  :func:`layout_mismatch`
checks it against numpy's own attributes at import; where it differs, the
caller turns the fast entry off and says so.

The module globals the entries read are filled by the loader
(:data:`GLOBALS`): ``ndarray_type`` (``id(numpy.ndarray)``), ``f64_descr``
(``id(numpy.dtype(float64))``), ``err_fn`` (``PyErr_SetString``),
``err_type`` (``ValueError``), and by bind(): ``bound_x``, ``bound_out``.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

__all__ = ["Layout", "NDARRAY_LAYOUT", "layout_mismatch", "entries_text", "entry_symbols",
           "static_globals", "GLOBALS", "OK", "REJECTED", "OVERLAP", "BOUND_ERROR"]

#: Return codes of ``N__py``.
OK, REJECTED, OVERLAP = 0, 1, 2

#: The message of the ValueError ``N__bound`` raises.
BOUND_ERROR = "bound buffers changed (dtype, shape, flags or overlap) since bind()"

#: Suffixes of the module globals the entries read (``N__<suffix>``).
GLOBALS = ("ndarray_type", "f64_descr", "bound_x", "bound_out", "err_fn", "err_type")


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


def entry_symbols(name: str) -> tuple[list[str], list[str]]:
    """(function symbols, global symbols) the entries of kernel ``name`` define."""
    return [f"{name}__py", f"{name}__bound"], [f"{name}__{g}" for g in GLOBALS]


def static_globals(name: str) -> dict[str, int]:
    """{global symbol: pointer value} the loader stores once per loaded
    module (the bound_* pair is bind()'s)."""
    return {
        f"{name}__ndarray_type": id(np.ndarray),
        f"{name}__f64_descr": id(np.dtype(np.float64)),
        # PyErr_SetString(ValueError, msg) raises from N__bound.
        f"{name}__err_fn": ctypes.cast(ctypes.pythonapi.PyErr_SetString, ctypes.c_void_p).value,
        f"{name}__err_type": id(ValueError),
    }


def _check(name: str, obj: str, tag: str, length: int, mask: int, fail: str,
           nxt: str) -> list[str]:
    """IR checking that ``obj`` is an exact 1-d float64 ndarray of ``length``
    with the ``mask`` flags set; leaves its data pointer in ``%<tag>.da``."""
    L = NDARRAY_LAYOUT
    # Read ob_type first: valid for any PyObject.  Only an exact ndarray
    # has the other fields.
    return [
        f"  %{tag}.tp.p = getelementptr inbounds i8, ptr {obj}, i64 {L.ob_type}",
        f"  %{tag}.tp = load ptr, ptr %{tag}.tp.p, align 8",
        f"  %{tag}.nt = load ptr, ptr @{name}__ndarray_type, align 8",
        f"  %{tag}.ok1 = icmp eq ptr %{tag}.tp, %{tag}.nt",
        f"  br i1 %{tag}.ok1, label %{tag}.bb.fields, label %{fail}",
        f"{tag}.bb.fields:",
        f"  %{tag}.de.p = getelementptr inbounds i8, ptr {obj}, i64 {L.descr}",
        f"  %{tag}.de = load ptr, ptr %{tag}.de.p, align 8",
        f"  %{tag}.fd = load ptr, ptr @{name}__f64_descr, align 8",
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


def entries_text(name: str, n: int, m: int) -> str:
    """IR for ``N__py`` and ``N__bound`` (and their globals) calling the
    kernel ``void @N(ptr in, ptr out)`` of ``n`` inputs and ``m`` outputs,
    which the same module defines."""
    L = NDARRAY_LAYOUT
    ro = L.c_contiguous | L.aligned
    rw = ro | L.writeable
    body = ["entry:"]
    body += _check(name, "%xo", "x", n, ro, "fail", "xok")
    body.append("xok:")
    body += _check(name, "%oo", "o", m, rw, "fail", "ook")
    body.append("ook:")
    # Overlap: [xd, xd+8n) and [od, od+8m) must be disjoint (the kernel
    # stores outputs while inputs may still be read in chunked programs).
    body += [
        "  %xi = ptrtoint ptr %x.da to i64",
        "  %oi = ptrtoint ptr %o.da to i64",
        f"  %xe = add i64 %xi, {8 * n}",
        f"  %oe = add i64 %oi, {8 * m}",
        "  %before = icmp ule i64 %xe, %oi",
        "  %after = icmp ule i64 %oe, %xi",
        "  %disj = or i1 %before, %after",
        f"  %empty = icmp eq i64 {8 * n * m}, 0",
        "  %okov = or i1 %disj, %empty",
        "  br i1 %okov, label %run, label %overlap",
        "run:",
        f"  call void @{name}(ptr %x.da, ptr %o.da)",
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
        *(f"@{name}__{g} = global ptr null, align 8" for g in GLOBALS),
        f"@{name}__err_msg = private unnamed_addr constant [{len(msg)} x i8] c\"{msg_ir}\"",
        "",
        f"define i32 @{name}__py(ptr %xo, ptr %oo) nounwind {{",
        *body,
        "}",
        "",
        f"define void @{name}__bound() nounwind {{",
        "entry:",
        f"  %x = load ptr, ptr @{name}__bound_x, align 8",
        f"  %o = load ptr, ptr @{name}__bound_out, align 8",
        f"  %r = call i32 @{name}__py(ptr %x, ptr %o)",
        f"  %bad = icmp ne i32 %r, {OK}",
        "  br i1 %bad, label %err, label %ok",
        "err:",
        # PyErr_SetString(PyExc_ValueError, msg): the ctypes PYFUNCTYPE
        # wrapper sees the pending exception and raises it.
        f"  %f = load ptr, ptr @{name}__err_fn, align 8",
        f"  %e = load ptr, ptr @{name}__err_type, align 8",
        f"  call void %f(ptr %e, ptr @{name}__err_msg)",
        "  ret void",
        "ok:",
        "  ret void",
        "}",
    ])
