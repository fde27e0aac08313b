"""Runtime objects linked into JIT modules: code that is the same for
every kernel, compiled once per process instead of into every module.

* vecmath's functions (:func:`vecmath_objects`, one object per set).  A scalar
  module (:func:`compiler.emit.scalar_module_text`) calls ``symdiff.vexp``
  & co. instead of defining them: generating their machine code took ~7 ms
  of a 12 ms scalar compile of the lecture gradient (exp, log, sin, cos).
* The numpy-ABI checks behind every kernel's fast entries
  (:func:`pyabi_object`, see :mod:`compiler.npyabi`): ~0.5-0.7 ms a module.

Each object is kept here for the life of the process and in the object
cache under its own IR-text key, and loaded next to the kernel's object
into the kernel's engine, which resolves the calls (MCJIT links the objects
of one engine).  Every engine gets its own copy, so a compiled function
still owns all the code it runs.  The objects are kept whatever the
``cache`` option says: like libm, they are runtime support, identical for
every kernel, not a kernel's compiled code.
"""

from __future__ import annotations

import os
import threading

from . import emit, npyabi
from .build import Module

__all__ = ["vecmath_objects", "pyabi_object", "VECMATH_LEVELS", "PYABI_LEVELS"]

#: Pipeline and codegen levels of the runtime objects (built once per
#: process, and when the disk cache is empty, during the first compile).
#: vecmath: codegen level 1 without the IR pipeline.  Scalar calls measured
#: as fast as at level 2 or with the O2 pipeline (lecture gradient 283-284
#: ns a call at levels 1 and 2, 278 with the pipeline; a 167-op tanh/exp/log
#: gradient 491-495 ns) for a fraction of the build time (exp, log, sin and
#: cos: 7 ms at level 1, 9-17 ms at level 2, 18 ms with the pipeline), while
#: level 0 code was slower (294 and 572 ns).  The fast entries' checks
#: (loads, compares, branches): level 0, within 4-8 ns of level 2 on a
#: ~280 ns call and 1.1-1.3 instead of 4.2-5.7 ms to build.  Neither uses
#: fast-math, so a vecmath call computes the same bits as the same function
#: inlined into a vectorized batch loop.
VECMATH_LEVELS = {"opt_level": None, "codegen_level": 1, "slp": False}
PYABI_LEVELS = {"opt_level": None, "codegen_level": 0, "slp": False}

_OBJECTS: dict[tuple, bytes] = {}
_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    # A lock another parent thread held at fork() would stay held in the
    # child (that thread does not exist there): start with a fresh one.
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def vecmath_objects(names, *, use_cache: bool) -> list[bytes]:
    """Object code defining vecmath's ``names`` (one object for the set, or
    none for no names), built or loaded on first use in this process.
    ``use_cache``: also look in and write to the disk cache."""
    if not names:
        return []
    names = tuple(sorted(set(names)))
    # One object per set: each object an engine loads costs ~0.05 ms, and a
    # process meets few sets.
    return [_object(("vecmath", names), lambda: emit.vecmath_module_text(names),
                    VECMATH_LEVELS, use_cache)]


def pyabi_object(*, use_cache: bool) -> bytes:
    """Object code of :func:`compiler.npyabi.runtime_text` (the fast
    entries' checks), built or loaded on first use in this process."""
    return _object(("pyabi",), npyabi.runtime_text, PYABI_LEVELS, use_cache)


def _object(memo_key: tuple, make_text, levels: dict, use_cache: bool) -> bytes:
    with _LOCK:
        obj = _OBJECTS.get(memo_key)
        if obj is None:
            obj = _OBJECTS[memo_key] = Module(make_text(), levels, use_cache=use_cache).obj
    return obj
