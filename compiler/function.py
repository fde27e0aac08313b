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
    thread pool when the batch holds enough work
    (:func:`compiler.threads.threads_for_work`).  With ``fixed=``,
    ``N_batch_fixed``, which reads the fixed inputs from one vector.  For
    small programs its module (the vectorized row loop) is compiled on the
    first batch; the scalar entries above are
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

from . import backend, cache, emit, npyabi, runtime
from .batch_inputs import InputNames, describe_names
from .build import Module, ModuleText, check_name, check_opt
from .dask_batch import is_dask_collection
from .inputs import to_float64
from .plan import plan
from .threads import WORK_PER_THREAD, default_threads, run_parallel, threads_for_work

__all__ = ["compile", "CompiledFunction", "BLOCK_ROWS", "module_for"]

_F64 = np.dtype(np.float64)
_ndarray = np.ndarray
_empty = np.empty
_id = id

#: Thread blocks of a batch start at multiples of this many rows.
BLOCK_ROWS = 64

# Every live compiled function, so that a forked child can replace locks
# that another thread of the parent held at fork() (they would stay held).
_LIVE: "weakref.WeakSet[CompiledFunction]" = weakref.WeakSet()


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
_CBATCH_FIXED = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                 ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                                 ctypes.c_int64, ctypes.c_void_p)


def _always_slow(xid, oid):
    return 1


_ptr = npyabi.data_ptr


_describe = describe_names


# ---------------------------------------------------------------------------


def _normalize_options(opt, fast_math, vector_math) -> dict:
    return {"opt": check_opt(opt), "fast_math": bool(fast_math),
            "vector_math": bool(vector_math)}


def _batch_symbols(name: str, n: int) -> list[str]:
    # N_batch_fixed exists for functions with inputs (compiler.kernels).
    return [f"{name}_batch", *([f"{name}_batch_fixed"] if n else [])]


def _symbols(name: str, n: int, with_batch: bool) -> tuple[list[str], list[str]]:
    funcs, globs = npyabi.entry_symbols(name)
    return [name, *(_batch_symbols(name, n) if with_batch else []), *funcs], globs


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
    vectorizable exp/log/sin/cos/tanh/cosh/sinh/log1p/expm1 of :mod:`compiler.vecmath`
    instead of libm, so batch loops vectorize.  ``name``: the
    kernel's symbol name (a C identifier).

    Returns a :class:`CompiledFunction`: ``f(x)`` maps a length-n vector to
    a length-m vector.
    """
    program = as_program(outputs, inputs)
    check_name(name)
    options = _normalize_options(opt, fast_math, vector_math)
    return CompiledFunction._build(program, name, options, use_cache=bool(cache))


def _rebuild(program: Program, name: str, options: dict, use_cache: bool,
             objects: dict | None = None):
    """Unpickling.  ``objects``: {cache key: object code} of the pickled
    function's modules; a module whose key (IR text, options, LLVM
    version, target triple, CPU and features) matches is loaded from them
    without running LLVM, any other is compiled (or found in the caches) as
    ``compile`` would.  Pickles come from the same version of symdiff, so
    ``options`` has every key."""
    program = as_program(program)
    # The name was checked when the function was compiled; checking it
    # again here would also refuse names some library of *this* process
    # happens to export (compiler.names), and a worker could not load it.
    options = _normalize_options(options["opt"], options["fast_math"], options["vector_math"])
    return CompiledFunction._build(program, name, options, use_cache=bool(use_cache),
                                   objects=objects)


def module_for(text: str, levels: dict, use_cache: bool, dump_as: tuple, objects) -> Module:
    """The compiled module of ``text``: from ``objects`` ({cache key:
    object code}, from a pickle) when it holds code under this module's
    key, else built as usual (:class:`compiler.build.Module`)."""
    if objects:
        t0 = time.perf_counter()
        key = cache.make_key(text, backend.codegen_options(**levels), backend.host_info())
        obj = objects.get(key)
        if obj is not None:
            return Module.from_object(text, levels, key, obj, time.perf_counter() - t0)
    return Module(text, levels, use_cache=use_cache, dump_as=dump_as)


class CompiledFunction:
    """A compiled program: call it like a function of a vector.

    ``f(x)`` / ``f(x, out=buf)``: one point (length n) -> length m.
    ``f.batch(X)``: many points, rows of X.  ``f.bind(x_buf, out_buf)``: a
    pre-bound zero-argument callable.  Introspection: ``inputs``,
    ``n_outputs``, ``program``, ``llvm_ir``, ``llvm_ir_opt``, ``asm`` (the
    module compiled at once), ``batch_llvm_ir``, ``batch_llvm_ir_opt``,
    ``batch_asm`` (the module holding the batch kernel), ``compile_info``.
    Picklable: the pickle holds the program, the options and the object
    code; a process on the same target (triple, CPU, features) and LLVM
    version loads that code without compiling (``compile_info["cache"] ==
    "shipped"``), any other recompiles (or finds the code in its caches).

    Small programs (``compile_info["plan"].inline_body``) are compiled as
    two modules, each with its own engine and cache entry: the scalar
    entries at once, and the vectorized batch loop on the first
    :meth:`batch`.  Larger programs have one module holding both.

    ``compile_info``: ``n_ops``, ``n_instrs``, ``plan``, ``split`` (two
    modules), ``cache`` (where the first module's object code came from:
    ``"memory"``, ``"disk"``, ``"miss"``, ``"corrupt"``, ``"untrusted"``
    (a cache directory others can write, not used), ``"off"`` or
    ``"shipped"``: loaded from a pickle),
    seconds ``emit_s``, ``key_s``, ``parse_s``/``optimize_s``/``codegen_s``
    (when LLVM ran), ``runtime_s`` (runtime objects), ``load_s``,
    ``total_s``; and ``batch``: None until a separate batch module is built,
    then the same keys for it.
    """

    __slots__ = ("_fast", "_m", "_n", "_n_ops", "_inst", "_cfunc", "_cbatch", "program", "name",
                 "options", "_use_cache", "_plan", "_main", "_libs", "_batch", "_batch_inst",
                 "_batch_lock", "_lazy", "compile_info", "_bind_instances", "_bind_lock",
                 "_cbatch_fixed", "_objects", "_names", "_row_cost", "__weakref__")

    # -- construction --------------------------------------------------------
    @classmethod
    def _build(cls, program: Program, name: str, options: dict, use_cache: bool,
               objects: dict | None = None):
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
        self._batch = self._batch_inst = self._cbatch = self._cbatch_fixed = None
        self._batch_lock = threading.Lock()
        self._objects = objects   # unpickled object code, until the batch module loads
        self._names = InputNames(name, program.inputs)
        pl = self._plan = plan(program, options["opt"], vector_math=options["vector_math"])
        self._n_ops = pl.n_ops
        # The work of one row (compiler.threads): its operations plus moving
        # its inputs and outputs.
        self._row_cost = pl.n_ops + self._n + self._m
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
        self._main = module_for(text, levels, use_cache, (name, ""), objects)
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
            self._set_batch_entries(addr)
        self._fast = _PYFAST(addr[f"{name}__py"]) if _FAST_OK else _always_slow
        t5 = time.perf_counter()
        info["load_s"] = t5 - t4
        info["total_s"] = t5 - t0
        self.compile_info = info
        _LIVE.add(self)
        return self

    def _set_batch_entries(self, addresses) -> None:
        # N_batch_fixed first: _cbatch is what readers outside the lock test.
        if self._n:
            self._cbatch_fixed = _CBATCH_FIXED(addresses[f"{self.name}_batch_fixed"])
        self._cbatch = _CBATCH(addresses[f"{self.name}_batch"])

    def _reset_locks(self) -> None:
        """Fresh locks (in a forked child: another parent thread may have
        held the old ones at fork())."""
        self._batch_lock = threading.Lock()
        self._bind_lock = threading.Lock()

    def _load_instance(self) -> backend.Instance:
        funcs, globs = _symbols(self.name, self._n, with_batch=not self._plan.inline_body)
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
                mod = module_for(text, self._batch_levels(), self._use_cache,
                                 (self.name, "-batch"), self._objects)
                self._objects = None
                t2 = time.perf_counter()
                inst = backend.Instance(mod.obj, _batch_symbols(self.name, self._n), [])
                t3 = time.perf_counter()
                self._batch, self._batch_inst = mod, inst
                self.compile_info["batch"] = {"emit_s": t1 - t0, **mod.info,
                                              "load_s": t3 - t2, "total_s": t3 - t0}
                # Published last: readers outside the lock see all or nothing.
                self._set_batch_entries(inst.addresses)
        return self._cbatch

    # -- pickling --------------------------------------------------------------
    def __reduce__(self):
        # The object code travels along (a worker on the same kind of
        # machine loads it instead of compiling); the keys say which module
        # each is, and the receiver checks them against its own target.
        objects = {self._main.key: self._main.obj}
        if self._batch is not None:
            objects[self._batch.key] = self._batch.obj
        return (_rebuild, (self.program, self.name, dict(self.options), self._use_cache,
                           objects))

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
    def __call__(self, x=None, /, out=None, **inputs):
        """Evaluate at one point: ``x`` is a float64 vector of length
        ``n_inputs`` (sequences, bool, int and float32 arrays are converted;
        a Python int too large for a float64 is a ValueError naming the
        input), or the inputs are given by name, ``fn(x=1.0, y=2.0)``.
        Returns a new array of length ``n_outputs``, or fills and returns
        ``out`` (a writeable C-contiguous float64 array of that length).
        (An input named ``out`` can only be given in the vector.)"""
        if inputs:
            if x is not None:
                raise ValueError("give the inputs either as one vector or by name, not both")
            x = self._names.vector(inputs)
        if out is None:
            out = _empty(self._m)
        if self._fast(_id(x), _id(out)):
            return self._call_checked(x, out)
        return out

    def _expect_in(self) -> str:
        return (f"a float64 array of length {self._n} "
                f"(inputs {_describe(self.inputs)})")

    def _input_name(self, index: tuple) -> str:
        # The input an element index of a vector (j,) or a batch (i, j) is.
        j = index[-1] if index else 0
        return self.inputs[j] if 0 <= j < self._n else f"#{j}"

    def _coerce_input(self, x) -> np.ndarray:
        if x is None:
            if self._n:
                raise ValueError(f"no input given: expected {self._expect_in()}, "
                                 f"or the inputs by name")
            x = ()
        x = to_float64(x, self._input_name, f"expected {self._expect_in()}")
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
    def batch(self, X=None, /, out=None, threads: int | None = None, *, fixed=None,
              **columns) -> np.ndarray:
        """Evaluate at many points: one row of outputs per row of inputs.

        ``X``: shape ``(N, k)``, any strides, float64 (bool, int and float32
        arrays and sequences are converted as by ``fn(x)``); its columns are
        the inputs in order, those in ``fixed`` left out.  Or the inputs by
        name as columns, ``fn.batch(x=xs, y=ys)`` (1-D arrays of N values;
        inputs named ``out`` or ``threads`` only through ``X`` or ``fixed``).
        ``fixed``: {name: value} of inputs that are the same in every row
        (parameters when rows are data); a name may also be the stem of
        :func:`symdiff.vector` / :func:`symdiff.matrix` symbols with an
        array of that shape (``fixed={"W": W}`` for ``W0_0 .. W9_63``).
        The kernel reads fixed inputs from one vector, never from every row.

        Returns a new ``(N, n_outputs)`` array, or fills ``out``
        (C-contiguous float64, writeable).  ``threads``: the number of
        threads (rows split into contiguous blocks); by default
        :func:`compiler.threads.threads_for_work` picks it from the work (N
        x the program's size) up to :func:`compiler.threads.default_threads`
        (``SYMDIFF_NUM_THREADS``, ``OMP_NUM_THREADS``, else the cores).
        Results do not depend on the number of threads.  A dask array ``X``
        gives a lazy dask array (:mod:`compiler.dask_batch`)."""
        base = free = None          # free: the inputs X's columns are (None: all)
        if not (X.__class__ is _ndarray and X.dtype is _F64 and X.ndim == 2
                and X.shape[1] == self._n and fixed is None and not columns):
            # Anything but the common case (float64 rows of every input).
            if X is not None and is_dask_collection(X):
                # Any dask collection goes there: a dask array is mapped
                # block by block, anything else is refused by name.
                if out is not None or columns:
                    raise ValueError("batch of a dask array takes neither out= nor inputs "
                                     "by name")
                from .dask_batch import batch_dask

                return batch_dask(self, X, fixed=fixed, threads=threads)
            if fixed:
                base, free = self._names.fixed_vector(fixed)
            elif fixed is not None and not isinstance(fixed, dict):
                raise ValueError(f"fixed must be a dict {{input name: value}}, "
                                 f"got {type(fixed).__name__}")
            if columns:
                if X is not None:
                    raise ValueError("give the rows either as X or the inputs by name, "
                                     "not both")
                X = self._names.rows_from_columns(columns, free)
            X = self._names.rows(X, free)
        if threads is not None:
            threads = _check_threads(threads)
        N, k = X.shape
        m = self._m
        if out is None:
            out = _empty((N, m))
        else:
            self._check_out(out, (N, m), f"N rows by {m} outputs")
        if N == 0 or m == 0:
            return out
        if k and np.may_share_memory(X, out):
            X = X.copy()  # the kernel assumes X and Y do not overlap
        rs, cs = self._strides(X)
        if rs is None:
            X = X.copy()  # misaligned view: a fresh copy is aligned and contiguous
            rs, cs = self._strides(X)
        xp = _ptr(X) if k else 0
        yp = _ptr(out)
        kernel = self._cbatch or self._batch_kernel()
        extra = ()
        if base is not None:
            kernel = self._cbatch_fixed
            cols = np.array(free, dtype=np.int64)
            extra = (_ptr(cols) if k else 0, k, _ptr(base))
        self._run_batch(kernel, xp, rs, cs, yp, N, k, threads, extra)
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

    def batch_threads(self, rows: int, threads: int | None = None) -> int:
        """The threads a batch of ``rows`` rows runs on: ``threads`` when
        given (at most one per block of :data:`BLOCK_ROWS` rows), else
        :func:`compiler.threads.threads_for_work` of rows x (operations +
        inputs + outputs), up to :func:`compiler.threads.default_threads`."""
        blocks = max(1, -(-rows // BLOCK_ROWS))
        if threads is not None:
            return min(_check_threads(threads), blocks)
        work = rows * self._row_cost
        if work < 2 * WORK_PER_THREAD:
            return 1  # (without reading the environment: small batches stay cheap)
        return min(threads_for_work(work, default_threads()), blocks)

    def _run_batch(self, kernel, xp: int, rs: int, cs: int, yp: int, N: int, k: int,
                   threads, extra: tuple) -> None:
        threads = self.batch_threads(N, threads)
        if threads == 1:
            kernel(xp, rs, cs, yp, N, *extra)
            return
        m = self._m
        # Contiguous row blocks; block boundaries at multiples of BLOCK_ROWS.
        step = -(-N // threads)
        step = -(-step // BLOCK_ROWS) * BLOCK_ROWS
        run_parallel(kernel, [(xp + 8 * rs * lo if k else 0, rs, cs, yp + 8 * m * lo,
                               min(N, lo + step) - lo, *extra) for lo in range(0, N, step)])


def _check_threads(threads) -> int:
    """``threads`` as a positive int, else a ValueError."""
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return int(threads)


def _after_fork_in_child() -> None:
    for fn in list(_LIVE):
        fn._reset_locks()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
