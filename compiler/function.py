"""``compile()`` and :class:`CompiledFunction`: native kernels as Python callables.

Call paths, fastest first (measured numbers in benchmarks/bench_compiled.py):

``fn.bind(x_buf, out_buf)()``
    A zero-argument ctypes call of ``N__bound``, whose globals hold the two
    array objects.  The kernel re-reads the arrays' headers on every call,
    so a buffer reshaped, retyped or resized after bind() raises ValueError
    instead of crashing.
``fn(x, out=buf)``
    ``N__py(id(x), id(buf))`` through a ``ctypes.PYFUNCTYPE`` (GIL held, so
    the array headers cannot change under us).  The compiled entry checks
    type, dtype, ndim, length, flags and overlap by reading numpy's
    ``PyArrayObject`` fields, runs the kernel and returns 0; anything else
    returns non-zero and the Python validator below takes over (it converts
    sequences and int arrays, or raises ValueError with the expectation).
    Passing ``id()`` ints costs about 0.2 us; the alternatives measured here
    (``arr.__array_interface__['data'][0]``: ~1.4-3 us per array,
    ``arr.ctypes.data``: similar, ``py_object`` arguments: slower than ints)
    would each blow the 1 us budget on their own.  (Where Python itself
    needs a pointer, :func:`compiler.npyabi.data_ptr` reads it from the
    header in ~0.1 us.)
``fn(x)``
    The same plus ``numpy.empty(m)``.
``fn.batch(X)``
    ``N_batch(X, row_stride, col_stride, Y, nrows)`` through ``CFUNCTYPE``
    (which releases the GIL), split into contiguous row blocks over a
    thread pool for large N.  For small programs its module (the vectorized
    row loop) is compiled on the first batch; the scalar entries above are
    compiled at once, without it (see :mod:`compiler.emit`).  Every row goes
    through the same sequence of IEEE operations (vector lanes, the scalar
    remainder loop and the scalar entries execute the same instructions; no
    fast-math by default), so results are bitwise independent of the thread
    count and of the block boundaries, and equal to single calls.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
import warnings
import weakref

import numpy as np

from symdiff.core.program import Program, schedule

from . import backend, emit, npyabi, runtime
from .build import Module, ModuleText, check_name, check_opt
from .plan import plan
from .threads import default_threads, shared_pool

__all__ = ["compile", "CompiledFunction", "DEFAULT_THREAD_MIN_ROWS"]

_F64 = np.dtype(np.float64)
_empty = np.empty
_id = id

#: Batches with fewer rows than this run on the calling thread.
DEFAULT_THREAD_MIN_ROWS = 2048


# The fast entries read numpy's array header directly (compiler.npyabi);
# where this numpy's layout differs, they are turned off, loudly.
_LAYOUT_PROBLEM = npyabi.LAYOUT_PROBLEM
if _LAYOUT_PROBLEM is not None:
    warnings.warn(f"symdiff: numpy's array header differs from compiler.npyabi's layout "
                  f"({_LAYOUT_PROBLEM}); compiled functions take the checked Python path "
                  f"(about 1 us more per call)", RuntimeWarning, stacklevel=2)
# SYMDIFF_NO_FAST_PATH=1 turns them off on request (for comparisons).
_FAST_OK = (_LAYOUT_PROBLEM is None
            and os.environ.get("SYMDIFF_NO_FAST_PATH", "") in ("", "0"))

_PYFAST = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_PYBOUND = ctypes.PYFUNCTYPE(None)
_CSCALAR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_CBATCH = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                           ctypes.c_void_p, ctypes.c_int64)


def _always_slow(xid, oid):
    return 1


_ptr = npyabi.data_ptr


def _describe(names, limit=8) -> str:
    names = list(names)
    if len(names) > limit:
        return ", ".join(names[:limit]) + f", ... ({len(names)} in all)"
    return ", ".join(names)


# ---------------------------------------------------------------------------


def _normalize_options(opt, fast_math, vector_math) -> dict:
    return {"opt": check_opt(opt), "fast_math": bool(fast_math),
            "vector_math": bool(vector_math)}


def _symbols(name: str, with_batch: bool) -> tuple[list[str], list[str]]:
    funcs, globs = npyabi.entry_symbols(name)
    return [name, *([f"{name}_batch"] if with_batch else []), *funcs], globs


def as_program(outputs, inputs=None) -> Program:
    """What ``compile`` compiles: ``outputs`` scheduled over ``inputs``, or
    ``outputs`` itself when it is already a :class:`Program` (which fixes
    its input order, so ``inputs`` must then be None)."""
    if isinstance(outputs, Program):
        if inputs is not None:
            raise ValueError("inputs must be None when compiling a Program "
                             "(it already fixes the input order)")
        return outputs
    return schedule(outputs, inputs)


def compile(outputs, inputs=None, *, opt: int = 2, cache: bool = True, fast_math: bool = False,
            vector_math: bool = True, name: str = "symdiff_fn") -> "CompiledFunction":
    """Compile expressions to native code.

    ``outputs``: a Node, a (nested) list of Nodes, or a
    :class:`symdiff.core.graph.Program`.  ``inputs``: ordered symbols or names
    (default: the free symbols in natural order); must be None for a
    Program.  ``opt``: LLVM optimization level 0-3.  ``cache``: reuse object
    code from the in-process and disk caches (also disabled by the
    environment variable ``SYMDIFF_CACHE=0``).  ``fast_math``: allow LLVM's
    fast-math rewrites (default: strict IEEE).  ``vector_math``: use the
    vectorizable exp/log/sin/cos/tanh/log1p/expm1 of :mod:`compiler.vecmath`
    instead of libm, so batch loops vectorize.  ``name``: the
    kernel's symbol name (a C identifier).

    Returns a :class:`CompiledFunction`: ``f(x)`` maps a length-n vector to
    a length-m vector.
    """
    program = as_program(outputs, inputs)
    check_name(name)
    options = _normalize_options(opt, fast_math, vector_math)
    return CompiledFunction._build(program, name, options, use_cache=bool(cache))


def _rebuild(program: Program, name: str, options: dict, use_cache: bool):
    """Unpickling: recompile (usually a disk-cache hit; pickles come from the
    same version of symdiff, so ``options`` has every key)."""
    return compile(program, opt=options["opt"], fast_math=options["fast_math"],
                   vector_math=options["vector_math"], cache=use_cache, name=name)


class CompiledFunction:
    """A compiled program: call it like a function of a vector.

    ``f(x)`` / ``f(x, out=buf)``: one point (length n) -> length m.
    ``f.batch(X)``: many points, rows of X.  ``f.bind(x_buf, out_buf)``: a
    pre-bound zero-argument callable.  Introspection: ``inputs``,
    ``n_outputs``, ``program``, ``llvm_ir``, ``llvm_ir_opt``, ``asm`` (the
    module compiled at once), ``batch_llvm_ir``, ``batch_llvm_ir_opt``,
    ``batch_asm`` (the module holding the batch kernel), ``compile_info``.
    Picklable (the program and options are stored; the receiving process
    recompiles or loads from its disk cache).

    Small programs (``compile_info["plan"].inline_body``) are compiled as
    two modules, each with its own engine and cache entry: the scalar
    entries at once, and the vectorized batch loop on the first
    :meth:`batch`.  Larger programs have one module holding both.

    ``compile_info``: ``n_ops``, ``n_instrs``, ``plan``, ``split`` (two
    modules), ``cache`` (where the first module's object code came from:
    ``"memory"``, ``"disk"``, ``"miss"``, ``"corrupt"`` or ``"off"``),
    seconds ``emit_s``, ``key_s``, ``parse_s``/``optimize_s``/``codegen_s``
    (when LLVM ran), ``runtime_s`` (runtime objects), ``load_s``,
    ``total_s``; and ``batch``: None until a separate batch module is built,
    then the same keys for it.
    """

    __slots__ = ("_fast", "_m", "_n", "_n_ops", "_inst", "_cfunc", "_cbatch", "program", "name",
                 "options", "_use_cache", "_plan", "_main", "_libs", "_batch", "_batch_inst",
                 "_batch_lock", "_lazy", "compile_info", "_bind_instances", "_bind_lock",
                 "__weakref__")

    # -- construction --------------------------------------------------------
    @classmethod
    def _build(cls, program: Program, name: str, options: dict, use_cache: bool):
        t0 = time.perf_counter()
        self = object.__new__(cls)
        self.program = program
        self.name = name
        self.options = options
        self._use_cache = use_cache
        self._n = len(program.inputs)
        self._m = len(program.outputs)
        self._lazy = {}
        self._bind_instances = []
        self._bind_lock = threading.Lock()
        self._batch = self._batch_inst = self._cbatch = None
        self._batch_lock = threading.Lock()
        pl = self._plan = plan(program, options["opt"], vector_math=options["vector_math"])
        self._n_ops = pl.n_ops
        split = pl.inline_body
        info = {"n_ops": pl.n_ops, "n_instrs": len(program.instrs), "plan": pl,
                "split": split, "batch": None}
        # The IR is emitted even on a cache hit: the cache keys on it.
        t1 = time.perf_counter()
        if split:
            text, vec = emit.scalar_module_text(program, name, fast_math=options["fast_math"],
                                                vector_math=options["vector_math"])
            levels = pl.scalar_levels()
        else:
            text, vec = emit.module_text(program, name, pl, fast_math=options["fast_math"],
                                         vector_math=options["vector_math"]), ()
            levels = pl.levels()
        info["emit_s"] = time.perf_counter() - t1
        self._main = Module(text, levels, use_cache=use_cache, dump_as=(name, ""))
        info.update(self._main.info)
        t3 = time.perf_counter()
        # Runtime objects the module calls: the fast entries' checks and
        # vecmath's functions in a scalar module (compiler.runtime; built
        # or read from disk once per process).
        self._libs = [runtime.pyabi_object(use_cache=use_cache),
                      *runtime.vecmath_objects(vec, use_cache=use_cache)]
        t4 = time.perf_counter()
        info["runtime_s"] = t4 - t3
        self._inst = self._load_instance()
        addr = self._inst.addresses
        self._cfunc = _CSCALAR(addr[name])
        if not split:
            self._cbatch = _CBATCH(addr[f"{name}_batch"])
        self._fast = _PYFAST(addr[f"{name}__py"]) if _FAST_OK else _always_slow
        t5 = time.perf_counter()
        info["load_s"] = t5 - t4
        info["total_s"] = t5 - t0
        self.compile_info = info
        return self

    def _load_instance(self) -> backend.Instance:
        funcs, globs = _symbols(self.name, with_batch=not self._plan.inline_body)
        rt_globals = npyabi.runtime_globals()
        inst = backend.Instance([*self._libs, self._main.obj], funcs, [*globs, *rt_globals])
        for sym, value in rt_globals.items():
            inst.set_pointer(sym, value)
        return inst

    def _batch_levels(self) -> dict | None:
        """Backend levels of the separate batch module, or None if the batch
        kernel is in the main module."""
        return self._plan.levels() if self._plan.inline_body else None

    def _batch_kernel(self):
        """The batch kernel, compiling its module on first use (under a lock:
        concurrent first batches build it once)."""
        with self._batch_lock:
            if self._cbatch is None:
                t0 = time.perf_counter()
                text = self.batch_llvm_ir
                t1 = time.perf_counter()
                mod = Module(text, self._batch_levels(), use_cache=self._use_cache,
                             dump_as=(self.name, "-batch"))
                t2 = time.perf_counter()
                inst = backend.Instance(mod.obj, [f"{self.name}_batch"], [])
                t3 = time.perf_counter()
                self._batch, self._batch_inst = mod, inst
                self.compile_info["batch"] = {"emit_s": t1 - t0, **mod.info,
                                              "load_s": t3 - t2, "total_s": t3 - t0}
                # Published last: readers outside the lock see all or nothing.
                self._cbatch = _CBATCH(inst.addresses[f"{self.name}_batch"])
        return self._cbatch

    # -- pickling --------------------------------------------------------------
    def __reduce__(self):
        return (_rebuild, (self.program, self.name, dict(self.options), self._use_cache))

    # -- introspection ---------------------------------------------------------
    @property
    def inputs(self) -> tuple:
        """Input names, in calling order."""
        return self.program.inputs

    @property
    def n_inputs(self) -> int:
        """Length of the input vector."""
        return self._n

    @property
    def n_outputs(self) -> int:
        """Length of the output vector."""
        return self._m

    @property
    def llvm_ir(self) -> str:
        """The LLVM IR (as emitted) of the module compiled at once: for small
        programs the scalar module (``N``, ``N__py``, ``N__bound``; the batch
        loop is in :attr:`batch_llvm_ir`), otherwise the one module holding
        both kernels."""
        return self._main.text

    @property
    def llvm_ir_opt(self) -> str:
        """:attr:`llvm_ir` after the optimization pipeline (what was
        codegen'd; the pipeline is skipped where it has nothing to do, see
        compiler.plan)."""
        return self._main.optimized_ir()

    @property
    def asm(self) -> str:
        """Native assembly of :attr:`llvm_ir_opt`."""
        return self._main.assembly()

    @property
    def batch_llvm_ir(self) -> str:
        """The LLVM IR of the module holding the batch kernel ``N_batch``
        (for small programs its own module, compiled on the first batch;
        otherwise :attr:`llvm_ir`).  Reading it compiles nothing."""
        if self._batch_levels() is None:
            return self.llvm_ir
        s = self._lazy.get("batch_llvm_ir")
        if s is None:
            o = self.options
            s = self._lazy["batch_llvm_ir"] = emit.batch_module_text(
                self.program, self.name, self._plan, fast_math=o["fast_math"],
                vector_math=o["vector_math"])
        return s

    def _batch_text(self) -> ModuleText:
        """The module holding the batch kernel: the main one, the batch
        module once built, else its text (inspecting it compiles nothing)."""
        if self._batch is not None:
            return self._batch
        levels = self._batch_levels()
        if levels is None:
            return self._main
        t = self._lazy.get("batch_text")
        if t is None:
            t = self._lazy["batch_text"] = ModuleText(self.batch_llvm_ir, levels)
        return t

    @property
    def batch_llvm_ir_opt(self) -> str:
        """:attr:`batch_llvm_ir` after the optimization pipeline."""
        return self._batch_text().optimized_ir()

    @property
    def batch_asm(self) -> str:
        """Native assembly of :attr:`batch_llvm_ir_opt`."""
        return self._batch_text().assembly()

    @property
    def object_code(self) -> bytes:
        """The ELF object code of :attr:`llvm_ir` loaded into the JIT (also
        what the cache stores)."""
        return self._main.obj

    def __repr__(self) -> str:
        return (f"<CompiledFunction {self.name}: {self._n} inputs ({_describe(self.inputs, 4)})"
                f" -> {self._m} outputs, {self.program.n_ops} ops>")

    # -- single point ------------------------------------------------------------
    def __call__(self, x, out=None):
        """Evaluate at one point: ``x`` is a float64 vector of length
        ``n_inputs`` (sequences and int arrays are converted).  Returns a new
        array of length ``n_outputs``, or fills and returns ``out`` (a
        writeable C-contiguous float64 array of that length)."""
        if out is None:
            out = _empty(self._m)
        if self._fast(_id(x), _id(out)):
            return self._call_checked(x, out)
        return out

    def _expect_in(self) -> str:
        return (f"a float64 array of length {self._n} "
                f"(inputs {_describe(self.inputs)})")

    def _coerce_input(self, x) -> np.ndarray:
        if isinstance(x, np.ndarray):
            if x.dtype != _F64:
                if x.dtype.kind in "biuf" and np.can_cast(x.dtype, _F64, "safe"):
                    x = x.astype(_F64)
                else:
                    raise ValueError(f"expected {self._expect_in()}, got dtype {x.dtype}")
        else:
            try:
                x = np.asarray(x, dtype=_F64)
            except (TypeError, ValueError) as e:
                raise ValueError(f"expected {self._expect_in()}, got {type(x).__name__} "
                                 f"that does not convert to float64 ({e})") from None
        if x.ndim != 1 or x.shape[0] != self._n:
            hint = " (use .batch() for many points)" if x.ndim == 2 else ""
            raise ValueError(f"expected {self._expect_in()}, got shape {x.shape}{hint}")
        if not (x.flags.c_contiguous and x.flags.aligned):
            x = x.copy()  # (ascontiguousarray would keep a misaligned buffer)
        return x

    def _check_out(self, out, shape: tuple, what: str) -> None:
        if not isinstance(out, np.ndarray):
            raise ValueError(f"out must be a numpy array ({what}), got {type(out).__name__}")
        if out.dtype != _F64:
            raise ValueError(f"out must be a float64 array ({what}), got dtype {out.dtype}")
        if out.shape != shape:
            raise ValueError(f"out must have shape {shape} ({what}), got shape {out.shape}")
        if not out.flags.c_contiguous or not out.flags.aligned:
            raise ValueError(f"out must be C-contiguous and aligned ({what})")
        if not out.flags.writeable:
            raise ValueError(f"out must be writeable ({what})")

    def _out_what(self) -> str:
        return f"outputs: {self._m}"

    def _call_checked(self, x, out):
        xa = self._coerce_input(x)
        if xa is not x and not self._fast(_id(xa), _id(out)):
            return out  # converted input, then the native entry accepted both
        self._check_out(out, (self._m,), self._out_what())
        if self._n and self._m and np.may_share_memory(xa, out):
            xa = xa.copy()  # the kernel may store outputs before reading all inputs
        self._cfunc(_ptr(xa), _ptr(out))
        return out

    # -- pre-bound ---------------------------------------------------------------
    def bind(self, x_buf: np.ndarray, out_buf: np.ndarray):
        """A zero-argument callable computing ``out_buf[:] = f(x_buf)``.

        Both must be C-contiguous float64 arrays (lengths ``n_inputs`` and
        ``n_outputs``, ``out_buf`` writeable, not overlapping).  Write new
        inputs into ``x_buf`` in place and call; the callable keeps both
        arrays and this function alive.  If a buffer is later reshaped or
        retyped in place, the call raises ValueError.
        """
        xv = self._bind_view(x_buf, self._n, "x_buf", writeable=False)
        ov = self._bind_view(out_buf, self._m, "out_buf", writeable=True)
        if self._n and self._m and np.may_share_memory(xv, ov):
            raise ValueError("x_buf and out_buf must not overlap")
        if not _FAST_OK:  # no native header checks available: plain ctypes call
            xp, op, cf = _ptr(xv), _ptr(ov), self._cfunc

            def bound():
                cf(xp, op)

            bound._refs = (self, xv, ov)
            return bound
        with self._bind_lock:
            inst = None
            for i, (cand, user) in enumerate(self._bind_instances):
                if user() is None:
                    inst = cand
                    del self._bind_instances[i]
                    break
            if inst is None:
                # The main instance's bound slot first, then fresh copies of
                # the object code (each copy has its own pair of globals).
                used = any(c is self._inst for c, _ in self._bind_instances)
                inst = self._load_instance() if used else self._inst
            inst.set_pointer(f"{self.name}__bound_args", id(xv), 0)
            inst.set_pointer(f"{self.name}__bound_args", id(ov), 1)
            fn = _PYBOUND(inst.addresses[f"{self.name}__bound"])
            # The ctypes object carries the references that keep the engine,
            # this function and both buffers alive while it is reachable.
            fn._refs = (self, inst, xv, ov)
            self._bind_instances.append((inst, weakref.ref(fn)))
        return fn

    def _bind_view(self, a, length: int, what: str, writeable: bool) -> np.ndarray:
        if not isinstance(a, np.ndarray) or a.dtype != _F64:
            got = f"dtype {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
            raise ValueError(f"{what} must be a float64 numpy array of length {length}, "
                             f"got {got}")
        if a.shape != (length,):
            raise ValueError(f"{what} must have shape ({length},), got shape {a.shape}")
        if not (a.flags.c_contiguous and a.flags.aligned):
            raise ValueError(f"{what} must be C-contiguous and aligned")
        if writeable and not a.flags.writeable:
            raise ValueError(f"{what} must be writeable")
        if type(a) is not np.ndarray or a.dtype is not _F64:
            # The native check wants an exact ndarray with the canonical
            # float64 descriptor; a view shares the memory.
            a = a.view(dtype=_F64, type=np.ndarray)
        return a

    # -- batch ---------------------------------------------------------------------
    def batch(self, X, out=None, threads: int | None = None) -> np.ndarray:
        """Evaluate at every row of ``X`` (shape ``(N, n_inputs)``, float64,
        any strides) into a new ``(N, n_outputs)`` array or into ``out``
        (C-contiguous float64, writeable).  Large batches are split across
        ``threads`` threads (default: :func:`compiler.threads.default_threads`,
        i.e. ``SYMDIFF_NUM_THREADS``, ``OMP_NUM_THREADS`` or all cores); results do not depend on
        the number of threads."""
        n, m = self._n, self._m
        if not isinstance(X, np.ndarray):
            try:
                X = np.asarray(X, dtype=_F64)
            except (TypeError, ValueError) as e:
                raise ValueError(f"X must be a float64 array of shape (N, {n}): {e}") from None
        if X.dtype != _F64:
            raise ValueError(f"X must be a float64 array of shape (N, {n}) "
                             f"(inputs {_describe(self.inputs)}), got dtype {X.dtype}")
        if X.ndim != 2 or X.shape[1] != n:
            raise ValueError(f"X must be a float64 array of shape (N, {n}) "
                             f"(inputs {_describe(self.inputs)}), got shape {X.shape}")
        N = X.shape[0]
        if out is None:
            out = _empty((N, m))
        else:
            self._check_out(out, (N, m), f"N rows by {m} outputs")
        if N == 0 or m == 0:
            return out
        if n and np.may_share_memory(X, out):
            X = X.copy()  # the kernel assumes X and Y do not overlap
        rs, cs = self._strides(X)
        if rs is None:
            X = X.copy()  # misaligned view: a fresh copy is aligned and contiguous
            rs, cs = self._strides(X)
        xp = _ptr(X) if n else 0
        yp = _ptr(out)
        self._run_batch(xp, rs, cs, yp, N, threads)
        return out

    def _strides(self, X):
        """Row and column strides of X in elements, or (None, None) if X
        cannot be read as aligned doubles."""
        N, n = X.shape
        rs_b, cs_b = X.strides
        # Strides of length-1 axes are arbitrary in numpy and never used by
        # the kernel: pick the values that select the contiguous loop.
        if N == 1:
            rs_b = 8 * n
        if n <= 1:
            cs_b = 8
        if rs_b % 8 or cs_b % 8 or not X.flags.aligned:
            return None, None
        return rs_b // 8, cs_b // 8

    def _run_batch(self, xp: int, rs: int, cs: int, yp: int, N: int, threads) -> None:
        kernel = self._cbatch or self._batch_kernel()
        if threads is not None:
            threads = int(threads)
            if threads < 1:
                raise ValueError(f"threads must be >= 1, got {threads}")
        # Threads pay off once a block holds enough work, not enough rows:
        # scale the minimum rows per thread by the program's size (measured:
        # 1,797-row per-sample softmax/MLP gradients, ~2,000-8,000 ops a
        # row, ran 1.6-1.9x faster on 2 threads; tiny kernels need
        # thousands of rows to amortize the hand-off).
        min_rows = max(64, min(DEFAULT_THREAD_MIN_ROWS, 400_000 // max(1, self._n_ops)))
        if N < min_rows:
            kernel(xp, rs, cs, yp, N)
            return
        if threads is None:  # resolved only where threads could run
            threads = default_threads()
        threads = min(threads, max(1, N // (min_rows // 2)))
        if threads == 1:
            kernel(xp, rs, cs, yp, N)
            return
        m = self._m
        # Contiguous row blocks; block boundaries at multiples of 64 rows.
        step = -(-N // threads)
        step = -(-step // 64) * 64
        blocks = [(lo, min(N, lo + step)) for lo in range(0, N, step)]
        pool = shared_pool(len(blocks) - 1)
        futs = [pool.submit(kernel, xp + 8 * rs * lo, rs, cs, yp + 8 * m * lo, hi - lo)
                for lo, hi in blocks[1:]]
        lo, hi = blocks[0]
        kernel(xp, rs, cs, yp, hi - lo)  # ctypes drops the GIL during the call
        for f in futs:
            f.result()
