"""What every compile path shares: the checks of the ``name`` and ``opt``
options, and building one module's object code (:class:`Module`: cache key,
cache lookup, LLVM, cache store, ``SYMDIFF_DUMP_IR``, timings).

Scalar functions (:mod:`compiler.function`), tensor functions
(:mod:`compiler.tensor.function`) and the runtime objects
(:mod:`compiler.runtime`) all build their modules here, so they key,
cache, time and dump them alike.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from . import backend, cache

__all__ = ["check_name", "check_opt", "ModuleText", "Module"]


def check_name(name) -> str:
    """``name`` if it can name a kernel, else a ValueError saying why: a C
    identifier that is not a keyword, a reserved name or a C library or
    libm function the kernel would shadow (:func:`compiler.names.check_kernel_name`)."""
    from .names import check_kernel_name

    return check_kernel_name(name)


def check_opt(opt) -> int:
    """The optimization level ``opt`` (an int 0-3) as an int, else a
    ValueError saying so (a float such as 2.9 is an error, not 2)."""
    if not isinstance(opt, (int, np.integer)) or not 0 <= int(opt) <= 3:
        raise ValueError(f"opt must be 0, 1, 2 or 3, got {opt!r}")
    return int(opt)


class ModuleText:
    """A module's IR ``text`` and backend ``levels`` (the keyword arguments
    of :func:`compiler.backend.compile_text`), with its optimized IR and
    assembly worked out on demand and kept (inspection compiles nothing
    else)."""

    __slots__ = ("text", "levels", "lazy")

    def __init__(self, text: str, levels: dict):
        self.text = text
        self.levels = levels
        self.lazy: dict = {}

    def optimized_ir(self) -> str:
        """The IR after the optimization pipeline (what is codegen'd)."""
        s = self.lazy.get("llvm_ir_opt")
        if s is None:
            s = self.lazy["llvm_ir_opt"] = backend.optimized_ir(self.text, **self.levels)
        return s

    def assembly(self) -> str:
        """Native assembly of :meth:`optimized_ir`."""
        s = self.lazy.get("asm")
        if s is None:
            s = self.lazy["asm"] = backend.assembly(
                self.optimized_ir(), codegen_level=self.levels["codegen_level"])
        return s


class Module(ModuleText):
    """One compiled module: a :class:`ModuleText` with its cache ``key``,
    object code ``obj`` and what building it cost (``info``: ``key_s``,
    ``cache`` -- ``"memory"``, ``"disk"``, ``"miss"``, ``"corrupt"`` (also
    a symlink, FIFO or oversized file at the entry's path),
    ``"untrusted"`` (the cache directory is writable by others and was not
    used, :func:`compiler.cache.directory_problem`), ``"shipped"`` (object
    code that came with a pickle, :meth:`from_object`) or ``"off"`` -- and, when
    LLVM ran, ``parse_s``, ``optimize_s`` and ``codegen_s``).

    The key is what the code is: the text, the codegen options, the
    versions and the target (:func:`compiler.cache.make_key`).
    ``use_cache``: look in and write to the caches (also off when
    ``SYMDIFF_CACHE=0``).  ``dump_as``: ``(name, suffix)`` of the files
    ``SYMDIFF_DUMP_IR=dir`` writes, ``dir/<name>-<key><suffix>.ll`` and
    ``.opt.ll`` (None: never dumped).
    """

    __slots__ = ("key", "obj", "info")

    def __init__(self, text: str, levels: dict, *, use_cache: bool,
                 dump_as: tuple[str, str] | None = None):
        super().__init__(text, levels)
        dump_dir = os.environ.get("SYMDIFF_DUMP_IR") if dump_as is not None else None
        use_cache = use_cache and cache.cache_enabled()
        t0 = time.perf_counter()
        self.key = cache.make_key(text, backend.codegen_options(**levels), backend.host_info())
        info = {"key_s": time.perf_counter() - t0}
        obj, info["cache"] = cache.load(self.key) if use_cache else (None, "off")
        if obj is None:
            timings: dict = {}
            obj, opt_ir = backend.compile_text(text, **levels, want_opt_ir=bool(dump_dir),
                                               timings=timings)
            info.update({k + "_s": v for k, v in timings.items()})
            if opt_ir is not None:
                self.lazy["llvm_ir_opt"] = opt_ir
            if use_cache:
                cache.store(self.key, obj)
        self.obj = obj
        self.info = info
        if dump_dir:
            self._dump(dump_dir, *dump_as)

    @classmethod
    def from_object(cls, text: str, levels: dict, key: bytes, obj: bytes,
                    key_s: float = 0.0) -> Module:
        """The module of ``text`` whose object code ``obj`` (under cache
        ``key``) is already at hand -- shipped inside a pickle -- so no
        cache lookup and no LLVM run (``info["cache"] == "shipped"``)."""
        self = cls.__new__(cls)
        ModuleText.__init__(self, text, levels)
        self.key, self.obj = key, obj
        self.info = {"key_s": key_s, "cache": "shipped"}
        return self

    def _dump(self, d: str, name: str, suffix: str) -> None:
        try:
            os.makedirs(d, exist_ok=True)
            stem = os.path.join(d, f"{name}-{self.key.hex()[:12]}{suffix}")
            with open(stem + ".ll", "w") as f:
                f.write(self.text)
            with open(stem + ".opt.ll", "w") as f:
                f.write(self.optimized_ir())
        except OSError as e:
            print(f"symdiff: cannot dump IR to {d}: {e}", file=sys.stderr)
