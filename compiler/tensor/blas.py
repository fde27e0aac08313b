"""BLAS entry points for compiled tensor kernels.

Matrix products call the double-precision BLAS that SciPy ships, through
the C function pointers of ``scipy.linalg.cython_blas`` (the way numba
reaches BLAS): ``dgemm`` and ``dgemv`` with the Fortran calling convention
(every argument by pointer, 32-bit integers).  Without SciPy the kernels
use their own loops, which give the same results up to rounding.
"""

from __future__ import annotations

import ctypes
import functools

__all__ = ["blas_pointers"]


@functools.lru_cache(maxsize=None)
def blas_pointers() -> dict:
    """``{"dgemm": address, "dgemv": address}`` from SciPy's BLAS, or ``{}``
    when SciPy is not installed."""
    try:
        from scipy.linalg import cython_blas
    except ImportError:  # scipy is optional for scalar work; tensor kernels fall back
        return {}
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype = ctypes.c_void_p
    get_ptr.argtypes = [ctypes.py_object, ctypes.c_char_p]
    out = {}
    for name in ("dgemm", "dgemv"):
        capsule = cython_blas.__pyx_capi__[name]
        out[name] = get_ptr(capsule, get_name(capsule))
    return out
