"""Compiled tensor programs as Python callables over numpy arrays.

``fn = compile_tensor(program)`` builds one native kernel for every size
of the named dimensions: ``fn(X, Theta, y)`` (or keywords by input name)
binds the dimension names from the arrays' shapes, checks every input
against its declared shape and dtype (a ValueError naming the input and
the expected shape otherwise), allocates the outputs (or fills ``out=``)
and runs the kernel, returning a tuple of arrays.

Inputs are read as C-contiguous float64 (int64 for label inputs): other
layouts and dtypes that convert safely are copied first, so nothing is
ever read out of bounds.  Temporaries are allocated once per call size and
thread and reused.  Large steps whose rows are independent run on
``threads`` threads (each row is computed by the same code whichever
thread runs it, so results are bitwise independent of the thread count);
matrix products call SciPy's BLAS, whose own threads run only while our
loops wait, so the two never oversubscribe the cores.  Without ``threads``
the count follows :func:`compiler.threads.default_threads` at call time,
read when a step is large enough to be split (as ``batch()`` does).
"""

from __future__ import annotations

import ctypes
import threading
import time

import numpy as np

from symdiff.core.program import Program
from symdiff.core.shapes import ShapeError, bind_dims, format_tuple, resolve_shape

from .. import backend
from ..build import check_name, check_opt
from ..function import module_for
from ..inputs import to_float64, to_int64
from ..npyabi import data_ptr
from ..threads import default_threads, run_parallel
from .blas import blas_pointers, blas_threads
from .codegen import module_text
from .plan import TensorPlan, plan_tensor_program

__all__ = ["TensorFunction", "compile_tensor", "levels"]

_MAIN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_STEP = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                         ctypes.c_int64)
_PARALLEL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                             ctypes.c_int64)
_INT32_MAX = 2 ** 31 - 1

# LLVM settings per ``opt`` level.  The default (2) runs LLVM's O1 pipeline
# with the loop vectorizer, no unrolling, at codegen level 1: on the
# lectures' models it ran as fast as O2 (the time is in BLAS and in
# vectorized fused loops either way) and compiled in 136 ms instead of
# 162 ms for the 784-256-10 MLP gradient (benchmarks/bench_tensor_compiled.py
# measures the compile against JAX's).
_LEVELS = {
    0: {"opt_level": None, "codegen_level": 0, "slp": False, "unroll": False},
    1: {"opt_level": 1, "codegen_level": 1, "slp": False, "unroll": False, "vectorize": False},
    2: {"opt_level": 1, "codegen_level": 1, "slp": False, "unroll": False, "vectorize": True},
    3: {"opt_level": 3, "codegen_level": 3, "slp": True, "unroll": True},
}
_F64 = np.dtype(np.float64)
_I64 = np.dtype(np.int64)


class TensorFunction:
    """A compiled tensor program: ``fn(*arrays, out=None, **by_name)``."""

    def __init__(self, program: Program, name: str, options: dict, use_cache: bool = True,
                 objects: dict | None = None):
        t0 = time.perf_counter()
        self.program = program
        self.name = name
        self.options = dict(options)
        self._use_cache = use_cache
        self.plan: TensorPlan = plan_tensor_program(program)
        text = module_text(self.plan, name, vector_math=options.get("vector_math", True),
                           fast_math=options.get("fast_math", False))
        self.llvm_ir = text
        info = {"n_ops": program.n_ops, "steps": len(self.plan.steps)}
        # objects: {cache key: object code} from a pickle (loaded if the key,
        # which covers the target and LLVM version, matches; else compiled).
        self._module = module_for(text, levels(options.get("opt", 2)), use_cache, (name, ""),
                                  objects)
        info.update(self._module.info)
        obj = self.object_code = self._module.obj
        globals_ = [f"{name}__dgemm", f"{name}__dgemv", f"{name}__parallel"]
        self._inst = backend.Instance(obj, [f"{name}__run"], globals_)
        has_products = any(s.kind == "matmul" for s in self.plan.steps)
        blas = blas_pointers() if options.get("blas", True) and has_products else {}
        self._blas_threads = blas_threads() if blas else None
        for fn_name in ("dgemm", "dgemv"):
            if fn_name in blas:
                self._inst.set_pointer(f"{name}__{fn_name}", blas[fn_name])
        self._main = _MAIN(self._inst.addresses[f"{name}__run"])
        # None: default_threads(), read when a step is handed to _parallel.
        self._threads = options.get("threads")
        self._steps: dict = {}
        # The callback object must outlive every call that can reach it.
        self._parallel_cb = _PARALLEL(self._parallel)
        if self._threads is None or self._threads > 1:
            self._inst.set_pointer(f"{name}__parallel",
                                   ctypes.cast(self._parallel_cb, ctypes.c_void_p).value)
        self._arrays = [self.program.instrs[k].payload for k, b in
                        sorted(((k, b) for k, b in self.plan.buffers.items()
                                if b.kind == "array"), key=lambda kb: kb[1].index)]
        self._scratch = threading.local()
        self._scratch_buffers = sorted((b for b in self.plan.buffers.values()
                                        if b.kind == "scratch"), key=lambda b: b.index)
        self._dtypes = [_I64 if d == "int64" else _F64 for d in program.input_dtypes]
        # Label inputs and the k of every onehot reading them: checked per
        # call, so an out-of-range label is an error, not a zero row.
        self._label_bounds: dict = {}
        for ins in program.instrs:
            if ins.op == "onehot":
                src = program.instrs[ins.args[0]]
                if src.op == "input":
                    j = src.payload
                    self._label_bounds[j] = min(self._label_bounds.get(j, ins.payload[0]),
                                                ins.payload[0])
        info["total_s"] = time.perf_counter() - t0
        self.compile_info = info

    # -- pickling ------------------------------------------------------------
    def __reduce__(self):
        # The object code travels along, as for scalar functions.
        return (_rebuild, (self.program, self.name, self.options, self._use_cache,
                           {self._module.key: self._module.obj}))

    # -- introspection -------------------------------------------------------
    @property
    def llvm_ir_opt(self) -> str:
        """The LLVM IR after the optimization pipeline (what was compiled)."""
        return self._module.optimized_ir()

    @property
    def asm(self) -> str:
        """Native assembly of the optimized module."""
        return self._module.assembly()

    @property
    def inputs(self) -> tuple:
        """Input names, in calling order."""
        return self.program.inputs

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n}: {s}" for n, s in zip(self.inputs, self.program.input_shapes))
        return f"<TensorFunction {self.name}({shapes}) -> {len(self.program.outputs)} outputs>"

    # -- threads -------------------------------------------------------------
    def _parallel(self, step, bufs, dims, rows):
        """The kernel's thread callback: rows 0..rows of a step, split into
        one contiguous block per thread (rows are independent)."""
        fn = self._steps.get(step)
        if fn is None:
            fn = self._steps[step] = _STEP(step)
        threads = self._threads
        if threads is None:
            try:
                threads = default_threads()
            except ValueError as e:
                # An exception cannot leave a ctypes callback: the step runs
                # here, and __call__ raises once the kernel has returned.
                self._scratch.state.error = e
                threads = 1
        threads = min(threads, max(1, rows))
        if threads == 1:
            fn(bufs, dims, 0, rows)
            return
        size = -(-rows // threads)
        # (ctypes releases the GIL during each block)
        run_parallel(fn, [(bufs, dims, lo, min(rows, lo + size)) for lo in range(0, rows, size)])

    # -- calls ---------------------------------------------------------------
    def _bind(self, args, kwargs) -> list:
        names = self.program.inputs
        if not kwargs and len(args) == len(names):
            return list(args)
        if len(args) > len(names):
            raise ValueError(f"{self.name} takes {len(names)} inputs ({', '.join(names)}), "
                             f"got {len(args)}")
        values = list(args) + [None] * (len(names) - len(args))
        for k, v in kwargs.items():
            if k not in names:
                raise ValueError(f"{self.name} has no input {k!r} (inputs: {', '.join(names)})")
            j = names.index(k)
            if j < len(args):
                raise ValueError(f"input {k!r} given twice")
            values[j] = v
        missing = [n for n, v in zip(names, values) if v is None]
        if missing:
            raise ValueError(f"no value given for {', '.join(missing)}")
        return values

    def _convert(self, values) -> list:
        out = []
        for j, v in enumerate(values):
            want = self._dtypes[j]
            if v.__class__ is np.ndarray and v.dtype is want and v.flags.c_contiguous \
                    and v.flags.aligned:
                out.append(v)                   # the common case: used as it is
            else:
                out.append(self._converted(j, v))
        return out

    def _converted(self, j: int, v) -> np.ndarray:
        """Input ``j`` as a C-contiguous, aligned array of its dtype (a copy
        where needed), or a ValueError naming the input."""
        name = self.program.inputs[j]
        want = f"shape {format_tuple(self.program.input_shapes[j])}"
        # The same conversions as scalar functions (compiler.inputs): safe
        # casts only, and a Python int too large is named, not an
        # OverflowError.
        if self._dtypes[j] is _I64:
            a = to_int64(v, name, f"an int64 array of {want}")
        else:
            a = to_float64(v, lambda idx: name, f"input {name}: expected a float64 array of {want}")
        # (astype, not ascontiguousarray, which makes a 0-d array 1-d)
        a = a.astype(self._dtypes[j], order="C", copy=False)
        if not a.flags.aligned:
            a = a.copy()
        return a

    def __call__(self, *args, out=None, **kwargs):
        """Evaluate on arrays (positional in input order, or by name);
        returns a tuple of arrays, one per output (into ``out``, a tuple of
        C-contiguous float64 arrays of the right shapes, when given)."""
        arrays = self._convert(self._bind(args, kwargs))
        state = self._state_for(tuple(a.shape for a in arrays))
        for j, k in self._label_bounds.items():
            a = arrays[j]
            if a.size and (a.min() < 0 or a.max() >= k):
                bad = a[(a < 0) | (a >= k)].ravel()[0]
                raise ValueError(f"input {self.program.inputs[j]}: label {int(bad)} is outside "
                                 f"0..{k - 1} (onehot with k = {k})")
        outs = [np.empty(s) for s in state.out_shapes] if out is None else \
            self._check_out(out, state.out_shapes, arrays)
        bufs = state.bufs
        n_in = len(arrays)
        for j, a in enumerate(arrays):
            bufs[j] = data_ptr(a)
        for k, o in enumerate(outs):
            bufs[n_in + k] = data_ptr(o)
        control = self._blas_threads
        previous = control[0]() if control is not None else 1
        if previous != 1:
            # Our threads split products into fixed row blocks, each one
            # single-threaded BLAS call: BLAS's own threads would depend on
            # how many threads run and change the bits.  Restored afterwards.
            control[1](1)
        try:
            self._main(state.bufs_address, state.dims_address)
        finally:
            if previous != 1:
                control[1](previous)
        if state.error is not None:  # from _parallel
            e, state.error = state.error, None
            raise e
        return tuple(outs)

    def _state_for(self, shapes: tuple) -> "_CallState":
        """The per-thread call state for input ``shapes``: bound dims,
        output shapes, scratch buffers and the pointer array (scratch and
        constant pointers filled in), reused while the shapes repeat."""
        local = self._scratch
        state = getattr(local, "state", None)
        if state is not None and state.shapes == shapes:
            return state
        try:
            dims = bind_dims(self.program.input_shapes, shapes, self.program.inputs)
            out_shapes = [resolve_shape(s, dims) for s in self.program.output_shapes]
            scratch_shapes = [resolve_shape(b.shape, dims) for b in self._scratch_buffers]
        except ShapeError as e:
            raise ValueError(str(e)) from None
        for d, v in dims.items():
            if v > _INT32_MAX:
                raise ValueError(f"dimension {d} = {v} is too large (BLAS takes 32-bit sizes)")
        state = local.state = _CallState(self, shapes, dims, out_shapes, scratch_shapes)
        return state

    def _check_out(self, out, shapes, arrays) -> list:
        out = tuple(out) if isinstance(out, (list, tuple)) else (out,)
        if len(out) != len(shapes):
            raise ValueError(f"out must hold {len(shapes)} arrays, got {len(out)}")
        spans = [_span(a) for a in arrays]
        for k, (o, s) in enumerate(zip(out, shapes)):
            if not isinstance(o, np.ndarray) or o.dtype != np.float64 or o.shape != s \
                    or not o.flags.c_contiguous or not o.flags.writeable:
                got = f"{o.dtype} {o.shape}" if isinstance(o, np.ndarray) else type(o).__name__
                raise ValueError(f"out[{k}] must be a writeable C-contiguous float64 array "
                                 f"of shape {s}, got {got}")
            lo, hi = _span(o)
            if hi > lo and any(a < hi and lo < b for a, b in spans):
                raise ValueError(f"out[{k}] overlaps an input or another output")
            spans.append((lo, hi))
        return list(out)


class _CallState:
    """What calls with one set of input shapes share (per thread): dims,
    output shapes, scratch arrays and the kernel's pointer array."""

    __slots__ = ("shapes", "out_shapes", "scratch", "dim_array", "bufs", "bufs_address",
                 "dims_address", "error")

    def __init__(self, fn: "TensorFunction", shapes, dims, out_shapes, scratch_shapes):
        self.shapes = shapes
        self.out_shapes = out_shapes
        self.scratch = [np.empty(s) for s in scratch_shapes]
        self.dim_array = np.array([dims[d] for d in fn.plan.dims] or [0], dtype=np.int64)
        n_in, n_out = len(fn.program.inputs), len(fn.program.outputs)
        consts = [data_ptr(a) for a in fn._arrays]
        scratch = [data_ptr(a) for a in self.scratch]
        self.bufs = (ctypes.c_void_p * max(1, n_in + n_out + len(consts) + len(scratch)))()
        for k, ptr in enumerate(consts + scratch):
            self.bufs[n_in + n_out + k] = ptr
        self.bufs_address = ctypes.addressof(self.bufs)
        self.dims_address = data_ptr(self.dim_array)
        self.error = None   # a ValueError of _parallel, raised by the call


def _span(a: np.ndarray) -> tuple:
    """[first byte, last byte + 1) of a C-contiguous array's memory."""
    lo = data_ptr(a)
    return lo, lo + a.nbytes


def levels(opt: int) -> dict:
    """The backend settings of optimization level ``opt`` (0-3)."""
    return dict(_LEVELS[check_opt(opt)])


def _rebuild(program, name, options, use_cache, objects=None):
    return TensorFunction(program, name, options, use_cache, objects)


def compile_tensor(program: Program, *, name: str = "symdiff_fn", opt: int = 2,
                   fast_math: bool = False, vector_math: bool = True, threads: int | None = None,
                   blas: bool = True, cache: bool = True) -> TensorFunction:
    """Compile a tensor program (see the module docstring)."""
    check_name(name)
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    options = {"opt": check_opt(opt), "fast_math": bool(fast_math),
               "vector_math": bool(vector_math), "blas": bool(blas)}
    if threads is not None:
        options["threads"] = threads
    return TensorFunction(program, name, options, use_cache=cache)
