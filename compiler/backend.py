"""The LLVM stages: parse, optimize, emit object code, load into a JIT.

Every entry point runs under :data:`LOCK` (LLVM's global state is not
thread-safe, and numba does the same).  Each build parses into a fresh
``LLVMContext``, so the constants and types of thousands of compiled
functions do not pile up in the global context.

Object code is the hinge: a build always ends in an object file (bytes),
which is what the disk cache stores and what an MCJIT engine loads through
``add_object_file``.  Loading a cached object therefore skips parsing,
optimization and code generation entirely.

Ownership (see STYLE.md): an MCJIT engine owns its target machine, so every
:class:`Instance` creates its own; :class:`Instance` disposes its engine
(under the lock) when it is garbage collected and is the only holder of it.
"""

from __future__ import annotations

import ctypes
import functools
import sys
import threading

import llvmlite.binding as llvm

__all__ = ["LOCK", "host_info", "compile_text", "codegen_options", "optimized_ir", "assembly",
           "Instance", "make_target_machine"]

#: One lock around everything that touches LLVM.
LOCK = threading.RLock()

_ready = False


def _init() -> None:
    # llvm.initialize() raises in llvmlite 0.50 (core init is automatic), but
    # the native target and asm printer still need registering.
    global _ready
    if not _ready:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        llvm.initialize_native_asmparser()
        _ready = True


@functools.lru_cache(maxsize=None)
def host_info() -> tuple[str, str, str]:
    """(target triple, CPU name, CPU feature string) of this machine."""
    _init()
    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # feature detection unsupported on this host
        features = ""
    return llvm.get_process_triple(), llvm.get_host_cpu_name(), features


def make_target_machine(level: int, *, pic: bool = False) -> "llvm.TargetMachine":
    """A new target machine for the host CPU.  ``pic`` for shared libraries
    (position-independent, default code model); otherwise JIT settings."""
    _init()
    triple, cpu, features = host_info()
    target = llvm.Target.from_triple(triple)
    if pic:
        return target.create_target_machine(cpu=cpu, features=features, opt=level,
                                            reloc="pic", codemodel="default")
    return target.create_target_machine(cpu=cpu, features=features, opt=level,
                                        jit=True)


# Target machines used only to optimize and emit code (never handed to an
# engine, which would take ownership), one per (level, pic).
_CODEGEN_TMS: dict = {}


def _codegen_tm(level: int, pic: bool):
    tm = _CODEGEN_TMS.get((level, pic))
    if tm is None:
        tm = _CODEGEN_TMS[(level, pic)] = make_target_machine(level, pic=pic)
    return tm


def _parse(text: str):
    ctx = llvm.create_context()
    mod = llvm.parse_assembly(text, context=ctx)
    mod.verify()
    return ctx, mod


def codegen_options(*, opt_level: int | None, codegen_level: int, slp: bool,
                    pic: bool = False, unroll: bool = True,
                    vectorize: bool | None = None) -> dict:
    """Every setting :func:`compile_text` applies to a module besides its
    text, as {name: value}: what the object cache keys on together with the
    text and the host.  A new setting that changes object code belongs here
    (and is read from here by :func:`_optimize`)."""
    return {
        "opt_level": opt_level,
        # The loop vectorizer runs from O2 on, or at any level when asked.
        "loop_vectorization": opt_level is not None and (
            opt_level >= 2 if vectorize is None else bool(vectorize)),
        "slp_vectorization": opt_level is not None and bool(slp),
        "loop_unrolling": opt_level is not None and bool(unroll),
        "codegen_level": codegen_level,
        # make_target_machine: JIT objects use the JIT code model; PIC ones
        # the default model with PIC relocations.
        "target_machine": "pic/default" if pic else "jit",
    }


def _optimize(mod, tm, level: int | None, slp: bool, unroll: bool = True,
              vectorize: bool | None = None) -> None:
    if level is None:  # see compiler.plan: the pipeline is skipped on purpose
        return
    opts = codegen_options(opt_level=level, codegen_level=0, slp=slp, unroll=unroll,
                           vectorize=vectorize)
    pto = llvm.create_pipeline_tuning_options(speed_level=level)
    pto.slp_vectorization = opts["slp_vectorization"]
    pto.loop_vectorization = opts["loop_vectorization"]
    pto.loop_unrolling = opts["loop_unrolling"]
    pb = llvm.create_pass_builder(tm, pto)
    mpm = pb.getModulePassManager()
    mpm.run(mod, pb)


def compile_text(text: str, *, opt_level: int | None, codegen_level: int, slp: bool,
                 pic: bool = False, want_opt_ir: bool = False, timings: dict | None = None,
                 unroll: bool = True, vectorize: bool | None = None):
    """IR text -> (object bytes, optimized IR text or None)."""
    import time

    with LOCK:
        _init()
        t0 = time.perf_counter()
        ctx, mod = _parse(text)
        t1 = time.perf_counter()
        tm = _codegen_tm(codegen_level, pic)
        _optimize(mod, tm, opt_level, slp, unroll, vectorize)
        t2 = time.perf_counter()
        opt_ir = str(mod) if want_opt_ir else None
        # Code generation mutates the module (CodeGenPrepare), so the
        # optimized IR above is captured first.
        obj = tm.emit_object(mod)
        t3 = time.perf_counter()
        mod.close()
        ctx.close()
    if timings is not None:
        timings.update(parse=t1 - t0, optimize=t2 - t1, codegen=t3 - t2)
    return bytes(obj), opt_ir


def optimized_ir(text: str, *, opt_level: int | None, codegen_level: int, slp: bool,
                 unroll: bool = True, vectorize: bool | None = None) -> str:
    """The optimized IR of ``text`` (what :func:`compile_text` codegens)."""
    with LOCK:
        _init()
        ctx, mod = _parse(text)
        _optimize(mod, _codegen_tm(codegen_level, False), opt_level, slp, unroll, vectorize)
        s = str(mod)
        mod.close()
        ctx.close()
    return s


def assembly(opt_text: str, *, codegen_level: int) -> str:
    """Native assembly for already optimized IR text."""
    with LOCK:
        _init()
        ctx, mod = _parse(opt_text)
        asm = _codegen_tm(codegen_level, False).emit_assembly(mod)
        mod.close()
        ctx.close()
    return asm


class Instance:
    """One loaded copy of a kernel module: an MCJIT engine (which owns its
    target machine and an empty shell module) plus the addresses we need.

    ``objs``: the kernel's object code, or a list of objects linked together
    in this engine (runtime objects first, see :mod:`compiler.runtime`).
    The engine is freed when this object is garbage collected, and only
    then; whoever holds a function pointer from it must hold the Instance.
    """

    __slots__ = ("_engine", "_ctx", "addresses", "__weakref__")

    def __init__(self, objs, functions: list[str], globals_: list[str]):
        if isinstance(objs, (bytes, bytearray)):
            objs = [objs]
        with LOCK:
            _init()
            ctx = llvm.create_context()
            shell = llvm.parse_assembly("", context=ctx)
            engine = llvm.create_mcjit_compiler(shell, make_target_machine(0))
            self._engine = engine
            self._ctx = ctx
            for obj in objs:
                engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            engine.finalize_object()
            addrs = {}
            for f in functions:
                a = engine.get_function_address(f)
                if not a:
                    raise RuntimeError(f"symbol {f!r} missing from object code")
                addrs[f] = a
            for g in globals_:
                a = engine.get_global_value_address(g)
                if not a:
                    raise RuntimeError(f"global {g!r} missing from object code")
                addrs[g] = a
            self.addresses = addrs

    def set_pointer(self, global_name: str, value: int, index: int = 0) -> None:
        """Store a pointer-sized integer into one of the module's globals
        (element ``index`` of a pointer array)."""
        ctypes.c_void_p.from_address(self.addresses[global_name] + 8 * index).value = value

    def __del__(self):
        engine = getattr(self, "_engine", None)
        if engine is None:
            return
        if sys.is_finalizing():
            # Interpreter shutdown: llvmlite's own modules may already be torn
            # down, and the process's memory goes back to the OS anyway.
            return
        with LOCK:
            engine.close()   # disposes the shell module and target machine
            self._engine = None
            ctx = self._ctx
            self._ctx = None
            if ctx is not None:
                ctx.close()
