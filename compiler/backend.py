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

Memory (llvmlite 0.50): every object of an optimization run is freed
explicitly in :func:`_optimize`.  llvmlite's ``ModulePassManager`` never
frees itself -- its class lists ``ObjectRef`` before ``NewPassManager``, so
the no-op ``ObjectRef._dispose`` shadows the real one -- and the pass
objects it owns keep their per-run tables (GVN's value table, GlobalDCE's
maps): 125 KB per optimized compile, 123 MB over 1,000 compiles.  The pass
builder is made afresh for each run on purpose: llvmlite's run registers
instrumentation callbacks (pointing at a stack object) into the builder's
``PassInstrumentationCallbacks``, so a reused builder calls a growing list
of dangling callbacks on every pass (measured: 1.4 -> 15 ms per run of a
tiny module after 2,000 runs).  What remains is that callback object,
which llvmlite allocates per builder and never frees: ~1.5 KB a run.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import threading

import llvmlite.binding as llvm

__all__ = ["LOCK", "CPUS", "host_info", "check_cpu", "compile_text", "codegen_options",
           "optimized_ir", "assembly", "Instance", "make_target_machine"]

#: One lock around everything that touches LLVM.
LOCK = threading.RLock()

# fork() while another thread compiles would give the child a held lock (and
# LLVM state in mid-change) with no thread to release it: the child's first
# compile would hang.  Fork waits for the compile to finish instead, and
# both sides release the lock afterwards (in the child, the forking thread
# is its owner).
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=LOCK.acquire, after_in_parent=LOCK.release,
                        after_in_child=LOCK.release)

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


#: The CPUs code can be generated for: ``"native"`` (this machine's CPU and
#: every feature it has: the JIT's choice) or ``"generic"`` (the target's
#: baseline, for x86-64 SSE2 only: object files and shared libraries that
#: run on any machine of the architecture).
CPUS = ("native", "generic")


def check_cpu(cpu) -> str:
    """``cpu`` if it is one of :data:`CPUS`, else a ValueError naming the
    accepted values."""
    if cpu not in CPUS:
        raise ValueError(f"cpu must be 'native' or 'generic', got {cpu!r}")
    return cpu


def make_target_machine(level: int, *, pic: bool = False,
                        cpu: str = "native") -> "llvm.TargetMachine":
    """A new target machine for this machine's target triple.  ``pic`` for
    object files and shared libraries (position-independent, default code
    model); otherwise JIT settings.  ``cpu`` (:data:`CPUS`): ``"native"``
    tunes for and uses every feature of the host CPU, ``"generic"`` only the
    architecture's baseline."""
    _init()
    triple, host_cpu, host_features = host_info()
    if check_cpu(cpu) == "native":
        name, features = host_cpu, host_features
    else:
        name, features = "generic", ""
    target = llvm.Target.from_triple(triple)
    if pic:
        return target.create_target_machine(cpu=name, features=features, opt=level,
                                            reloc="pic", codemodel="default")
    return target.create_target_machine(cpu=name, features=features, opt=level,
                                        jit=True)


# Target machines used only to optimize and emit code (never handed to an
# engine, which would take ownership), one per (level, pic, cpu): a handful
# per process, reused by every build.
_CODEGEN_TMS: dict = {}


def _codegen_tm(level: int, pic: bool, cpu: str = "native"):
    tm = _CODEGEN_TMS.get((level, pic, cpu))
    if tm is None:
        tm = _CODEGEN_TMS[(level, pic, cpu)] = make_target_machine(level, pic=pic, cpu=cpu)
    return tm


@contextlib.contextmanager
def _parsed(text: str):
    """The verified module of ``text`` in a fresh context; both are freed on
    leaving, also when parsing, verification or a pass raises."""
    ctx = llvm.create_context()
    mod = None
    try:
        mod = llvm.parse_assembly(text, context=ctx)
        mod.verify()
        yield mod
    finally:
        if mod is not None:
            mod.close()
        ctx.close()


def codegen_options(*, opt_level: int | None, codegen_level: int, slp: bool,
                    pic: bool = False, unroll: bool = True,
                    vectorize: bool | None = None, cpu: str = "native") -> dict:
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
        # make_target_machine: the host CPU and its features, or the baseline.
        "cpu": check_cpu(cpu),
    }


def _optimize(mod, tm, level: int | None, slp: bool, unroll: bool = True,
              vectorize: bool | None = None) -> None:
    if level is None:  # see compiler.plan: the pipeline is skipped on purpose
        return
    opts = codegen_options(opt_level=level, codegen_level=0, slp=slp, unroll=unroll,
                           vectorize=vectorize)
    pto = llvm.create_pipeline_tuning_options(speed_level=level)
    pb = mpm = None
    try:
        pto.slp_vectorization = opts["slp_vectorization"]
        pto.loop_vectorization = opts["loop_vectorization"]
        pto.loop_unrolling = opts["loop_unrolling"]
        # A fresh builder per run: a reused one accumulates dangling
        # instrumentation callbacks (module docstring).
        pb = llvm.create_pass_builder(tm, pto)
        mpm = pb.getModulePassManager()
        mpm.run(mod, pb)
    finally:
        # Freed here, not left to the garbage collector: the pass manager
        # would never be freed at all (module docstring).
        if mpm is not None:
            _free_pass_manager(mpm)
        if pb is not None:
            pb.close()
        pto.close()


def _free_pass_manager(pm) -> None:
    """Free an llvmlite (module or function) pass manager now.  llvmlite
    0.50's classes inherit ``ObjectRef``'s no-op ``_dispose`` before
    ``NewPassManager``'s real one, so ``close()`` alone would only detach
    the pointer; call the real one while it is shadowed, else ``close()``."""
    from llvmlite.binding import ffi, newpassmanagers

    real = getattr(newpassmanagers.NewPassManager, "_dispose", None)
    if type(pm)._dispose is ffi.ObjectRef._dispose and real is not None:
        if not pm.closed:
            real(pm)
            pm.detach()
    else:
        pm.close()


def compile_text(text: str, *, opt_level: int | None, codegen_level: int, slp: bool,
                 pic: bool = False, want_opt_ir: bool = False, timings: dict | None = None,
                 unroll: bool = True, vectorize: bool | None = None, cpu: str = "native"):
    """IR text -> (object bytes, optimized IR text or None).  ``cpu``:
    :data:`CPUS` (``"generic"`` for portable object files)."""
    import time

    check_cpu(cpu)
    with LOCK:
        _init()
        t0 = time.perf_counter()
        with _parsed(text) as mod:
            t1 = time.perf_counter()
            tm = _codegen_tm(codegen_level, pic, cpu)
            _optimize(mod, tm, opt_level, slp, unroll, vectorize)
            t2 = time.perf_counter()
            opt_ir = str(mod) if want_opt_ir else None
            # Code generation mutates the module (CodeGenPrepare), so the
            # optimized IR above is captured first.
            obj = tm.emit_object(mod)
            t3 = time.perf_counter()
    if timings is not None:
        timings.update(parse=t1 - t0, optimize=t2 - t1, codegen=t3 - t2)
    return bytes(obj), opt_ir


def optimized_ir(text: str, *, opt_level: int | None, codegen_level: int, slp: bool,
                 unroll: bool = True, vectorize: bool | None = None) -> str:
    """The optimized IR of ``text`` (what :func:`compile_text` codegens)."""
    with LOCK:
        _init()
        with _parsed(text) as mod:
            _optimize(mod, _codegen_tm(codegen_level, False), opt_level, slp, unroll,
                      vectorize)
            s = str(mod)
    return s


def assembly(opt_text: str, *, codegen_level: int) -> str:
    """Native assembly for already optimized IR text."""
    with LOCK:
        _init()
        with _parsed(opt_text) as mod:
            asm = _codegen_tm(codegen_level, False).emit_assembly(mod)
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
