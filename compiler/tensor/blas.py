"""BLAS entry points for compiled tensor kernels.

Matrix products call the double-precision BLAS that SciPy ships (the way
numba reaches BLAS): ``dgemm`` and ``dgemv`` with the Fortran calling
convention (every argument by pointer, 32-bit integers).  The addresses
come from ``scipy.linalg.cython_blas``'s exported C functions, or, first,
straight from the OpenBLAS library that SciPy's wheels bundle
(``scipy.libs/libscipy_openblas*.so``, the library those functions call):
importing ``scipy.linalg`` costs about 0.25 s and running the
``cython_blas`` extension's initialisation alone about 0.1 s, while loading
the library takes 2 ms, which matters for a compile that should take a
fraction of a second.  Without SciPy the kernels use their own loops,
which give the same results up to rounding.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import importlib.util
import os

__all__ = ["blas_pointers", "blas_threads"]


@functools.lru_cache(maxsize=None)
def _bundled_library():
    """SciPy's bundled OpenBLAS (LP64) as a ctypes library, or None."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.origin:
        return None
    site = os.path.dirname(os.path.dirname(spec.origin))
    for path in sorted(glob.glob(os.path.join(site, "scipy.libs", "libscipy_openblas*.so*"))):
        if "64_" in os.path.basename(path):
            continue                        # an ILP64 build: 64-bit integers
        lib = ctypes.CDLL(path)
        if all(hasattr(lib, f"scipy_{n}_") for n in ("dgemm", "dgemv")):
            return lib
    return None


def _bundled_openblas() -> dict:
    """Addresses from the OpenBLAS bundled in SciPy's wheel, or {}."""
    lib = _bundled_library()
    if lib is None:
        return {}
    return {name: ctypes.cast(getattr(lib, f"scipy_{name}_"), ctypes.c_void_p).value
            for name in ("dgemm", "dgemv")}


@functools.lru_cache(maxsize=None)
def blas_threads():
    """``(get, set)`` of the bundled OpenBLAS's thread count, or None where
    it cannot be controlled (another BLAS: it then follows its own
    environment variables)."""
    lib = _bundled_library()
    if lib is None or not hasattr(lib, "scipy_openblas_set_num_threads"):
        return None
    get, set_ = lib.scipy_openblas_get_num_threads, lib.scipy_openblas_set_num_threads
    get.restype, get.argtypes = ctypes.c_int, []
    set_.restype, set_.argtypes = None, [ctypes.c_int]
    return get, set_


def _cython_blas() -> dict:
    """Addresses of ``scipy.linalg.cython_blas``'s dgemm and dgemv, or {}."""
    try:
        from scipy.linalg import cython_blas
    except ImportError:  # scipy is optional: kernels then use their own loops
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


@functools.lru_cache(maxsize=None)
def blas_pointers() -> dict:
    """``{"dgemm": address, "dgemv": address}`` of SciPy's BLAS, or ``{}``
    when SciPy is not installed."""
    return _bundled_openblas() or _cython_blas()
