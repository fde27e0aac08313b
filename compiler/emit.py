"""Program -> LLVM IR text.

This module is the only place that turns a scheduled
:class:`symdiff.core.graph.Program` into LLVM IR.  It loops over
``Program.instrs`` (never over expression trees) and lowers each instruction
as its op table entry's ``lowering`` says (:meth:`Emitter.op`):

* :class:`~symdiff.core.ops.Instruction`: one IR instruction (``fadd`` ...);
* :class:`~symdiff.core.ops.Intrinsic`: an LLVM intrinsic (``llvm.exp.f64``);
* :class:`~symdiff.core.ops.Libm`: a call of the C math library;
* :class:`~symdiff.core.ops.Hook`: the op's own short IR sequence, written
  against the :class:`Emitter` below (``pow`` unrolls small constant integer
  exponents there; sigmoid and softplus call ``em.op("exp", ...)``);

and, with the ``vector_math`` option, intrinsic and libm calls of the
functions :mod:`compiler.vecmath` implements become its straight-line,
vectorizable versions instead.

Why text and not ``llvmlite.ir`` objects: building and printing an
``llvmlite.ir`` module costs 15-30 us per instruction on this machine
(about 3 s for a 100,000-op gradient, a third of the compile-time budget),
while formatting the same instructions as strings costs about 1 us.  The
emitter API that the op table's lowering hooks see is unchanged; values are
simply IR operand strings (``%t12`` or a hex double literal).
:mod:`compiler.vecmath` still builds its functions with ``llvmlite.ir``; their
printed definitions are pasted into our module (see :func:`_vecmath_text`).

Kernels in one module (``N`` is the user's function name)::

    void N(const double *in, double *out)                         C ABI
    void N_batch(const double *X, i64 row_stride, i64 col_stride,
                 double *Y, i64 nrows)                            C ABI
    i32  N__py(PyObject *x, PyObject *out)     JIT only: fast Python entry
    void N__bound(void)                        JIT only: pre-bound entry

All of them funnel into one loop, ``N__rows(X, Y, nrows)``, over contiguous
rows (the scalar kernel is ``N__rows(in, out, 1)``; the batch kernel gathers
strided rows block-wise into a stack buffer first).  The computation itself
is ``N__body(x, y)`` -- ``alwaysinline`` for small programs, so the loop
vectorizer widens the row loop -- or, for large programs, a chain of
``N__chunkK(x, scratch, y)`` functions passing live values through a scratch
buffer (machine-code generation is superlinear in function size; chunking
keeps it linear).  :func:`plan` holds the size policy.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from symdiff.core.program import Program
from symdiff.core.ops import OPS, POW_INT_MAX, Hook, Instruction, Intrinsic, Libm

__all__ = ["Layout", "module_text", "plan", "Plan", "NDARRAY_LAYOUT", "vecmath_available",
           "vecmath_ops", "POW_INT_MAX"]

# Comparison predicates of Emitter.fcmp (all of LLVM's except true/false).
_FCMP_PREDS = frozenset({"oeq", "ogt", "oge", "olt", "ole", "one", "ord", "uno",
                         "ueq", "ugt", "uge", "ult", "ule", "une"})

# Attributes for libm declarations: we never read errno, so calls may be
# hoisted, CSE'd and deleted like the intrinsics.
_LIBM_ATTRS = "nounwind willreturn memory(none)"


def fmt_double(v: float) -> str:
    """A double as an exact LLVM IR literal (hex bit pattern: keeps -0.0,
    infinities and NaN payloads)."""
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", float(v)))[0]


def vecmath_available():
    """The :mod:`compiler.vecmath` module (always importable; kept as a
    function so callers and tests ask one place)."""
    from . import vecmath

    return vecmath


def vecmath_ops() -> frozenset:
    """Ops of the table whose lowering :mod:`compiler.vecmath` can replace
    with a vectorizable implementation: the intrinsic or libm ops it
    implements, and hooks that call one of them."""
    from .vecmath import SUPPORTED

    out = set()
    for name, op in OPS.items():
        low = op.lowering
        if isinstance(low, (Intrinsic, Libm)) and name in SUPPORTED:
            out.add(name)
        elif isinstance(low, Hook) and any(c in SUPPORTED for c in low.calls):
            out.add(name)
    return frozenset(out)


_VECMATH_CACHE: dict = {}


def _vecmath_text(name: str, use_fma) -> tuple[str, str, dict]:
    """(symbol, definition text, {decl symbol: decl text}) of the vecmath
    function for math ``name``; printed once per process and reused."""
    key = (name, use_fma)
    hit = _VECMATH_CACHE.get(key)
    if hit is not None:
        return hit
    import llvmlite.ir as ir

    vm = vecmath_available()
    mod = ir.Module(name="vecmath_" + name)
    kwargs = {} if use_fma is None else {"use_fma": use_fma}
    fns = vm.define_vecmath(mod, [name], **kwargs)
    sym = fns[name].name
    defs, decls = [], {}
    for g in mod.global_values:
        if isinstance(g, ir.Function) and g.is_declaration:
            decls[g.name] = str(g).strip()
        else:
            defs.append(str(g).strip())
    hit = (sym, "\n\n".join(defs), decls)
    _VECMATH_CACHE[key] = hit
    return hit


# ---------------------------------------------------------------------------
# numpy's PyArrayObject layout, read by the fast Python entry.  This is
# numpy's public ABI (PyArray_DATA & co. are inline field reads in every
# extension module); compiler.function verifies it at import against
# numpy's own attributes and disables the fast entry if it differs.


@dataclass(frozen=True)
class Layout:
    """Byte offsets of the PyObject / PyArrayObject fields we read."""

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

# ---------------------------------------------------------------------------
# Planning: how a program is split into LLVM functions.


@dataclass(frozen=True)
class Plan:
    """How a program is laid out in LLVM functions.

    ``chunks``: ``None`` for a single body function, else a list of
    ``(lo, hi)`` instruction ranges, one noinline function each.
    ``inline_body``: the body is ``alwaysinline`` in the row loop, which
    the loop vectorizer can then widen.
    ``opt_level``: the IR pipeline level, or None to skip the pipeline;
    ``codegen_level``: the target machine's level; ``slp``: SLP vectorizer.
    """

    chunks: list | None
    inline_body: bool
    opt_level: int | None
    codegen_level: int
    slp: bool


# Policy, measured on this 2-core machine (numbers in the report of
# benchmarks/bench_compiled.py):
#  * Machine-code generation dominates compile time and grows faster than
#    linearly with function size (machine scheduler and greedy register
#    allocator work per basic block): 80-250 us per op at codegen level 2
#    even in 2,000-op chunks, about 10x less at level 0.
#  * The IR pipeline only pays off where it inlines the body into the row
#    loop and vectorizes it.  For out-of-line bodies it changed run time by
#    +-10% while costing 30-50% of the compile time, so it is skipped there
#    (opt_level None) unless opt=3.  Skipping it also avoids llvmlite 0.50's
#    per-pipeline leak (~70 KB: its PassBuilder's instrumentation callbacks
#    are never freed).
#  * Small programs (weighted size <= INLINE_BUDGET, where a vecmath call
#    counts VEC_WEIGHT ops because it inlines ~50-100 instructions) with
#    few inputs and outputs (<= INLINE_MAX_IO together) get the body
#    inlined into the row loop, which the loop vectorizer widens: 2x faster
#    batches for the lecture gradient (25 vs 53 ns/row), 4x with vecmath's
#    exp/log (softplus: 12 vs 24 ns/row).  With many inputs the interleaved
#    row loads become gathers and vectorizing gained nothing (n = 50:
#    140-160 ns/row either way) while compiling 3-5x longer.
#  * Up to CHUNK_MAX ops: one out-of-line body function.
#  * Beyond: chunks of CHUNK_SIZE ops, values crossing chunks in scratch.
#  * Beyond HUGE_OPS ops (opt 1 or 2; 500, since a 989-op out-of-line body
#    took 150 ms at level 2 against 81 ms for 2,987 ops at level 0): codegen level 0 (fast instruction
#    selection and register allocation): 8-25x faster code generation.
#    Measured on gradients: prod_1000 (2,995 ops) compiles in 0.09 s
#    instead of 2.6 s and runs at the same speed (6.7 us a call); the
#    64-32-10 MLP (7,873 ops) in 0.24 s instead of 1.9 s, running 25%
#    slower (9.2 vs 7.3 us).  Huge programs ran 1.3-2.5x slower.  opt=3
#    never lowers anything.
INLINE_BUDGET = 1500
INLINE_MAX_IO = 32
VEC_WEIGHT = 40
CHUNK_MAX = 3000
CHUNK_SIZE = 2000
HUGE_OPS = 500

def plan(program: Program, opt: int, *, vector_math: bool = False,
         chunk_size: int | None = None) -> Plan:
    """Choose the function layout and optimization levels for ``program``."""
    instrs = program.instrs
    ops = program.n_ops
    weight = ops
    if vector_math:
        vec = vecmath_ops()
        weight += VEC_WEIGHT * sum(1 for i in instrs if i.op in vec)
    chunks = None
    if chunk_size is not None or ops > CHUNK_MAX:
        # Chunks hold chunk_size operations each (inputs and constants are
        # free: they are loaded or rematerialized where used).
        size = chunk_size or CHUNK_SIZE
        chunks = []
        lo = count = 0
        for k, ins in enumerate(instrs):
            if ins.op in ("input", "const"):
                continue
            count += 1
            if count == size:
                chunks.append((lo, k + 1))
                lo, count = k + 1, 0
        if lo < len(instrs) or not chunks:
            chunks.append((lo, len(instrs)))
    io = len(program.inputs) + len(program.outputs)
    inline = chunks is None and opt > 0 and weight <= INLINE_BUDGET and io <= INLINE_MAX_IO
    level = opt if (inline or opt == 3) else None
    cg = opt
    if opt < 3 and ops > HUGE_OPS:
        cg = 0
    return Plan(chunks, inline, level, cg, slp=opt >= 3)


# ---------------------------------------------------------------------------
# The emitter handed to the op table's lower hooks.


class _ModuleState:
    """Declarations and helper definitions shared by all functions of a module."""

    def __init__(self, vector_math: bool, use_fma):
        self.decls: dict[str, str] = {}
        self.extra_defs: list[str] = []
        self.vec_names = vecmath_available().SUPPORTED if vector_math else frozenset()
        self.use_fma = use_fma
        self._vec_done: dict[str, str] = {}

    def declare(self, symbol: str, arity: int, attrs: str) -> str:
        if symbol not in self.decls:
            params = ", ".join(["double"] * arity)
            self.decls[symbol] = f'declare double @"{symbol}"({params}) {attrs}'
        return symbol

    def vecmath(self, name: str) -> str:
        sym = self._vec_done.get(name)
        if sym is None:
            sym, text, decls = _vecmath_text(name, self.use_fma)
            for s, d in decls.items():
                self.decls.setdefault(s, d)
            self.extra_defs.append(text)
            self._vec_done[name] = sym
        return sym


class Emitter:
    """Builds the body of one LLVM function as text.

    This is the object the op table's ``lower`` hooks receive.  Values are
    IR operand strings: an SSA name such as ``%t7`` or a hex double literal.
    """

    def __init__(self, state: _ModuleState, fast_math: bool):
        self._state = state
        self.lines: list[str] = []
        self._n = 0
        # "fast" on every float instruction only when the user opted in.
        self._ff = "fast " if fast_math else ""

    # -- values ------------------------------------------------------------
    def tmp(self) -> str:
        """A fresh SSA name."""
        self._n += 1
        return f"%t{self._n}"

    def const(self, value: float) -> str:
        """The double constant ``value`` (exact bit pattern)."""
        return fmt_double(value)

    # -- arithmetic --------------------------------------------------------
    def _bin(self, opcode: str, a: str, b: str) -> str:
        r = self.tmp()
        self.lines.append(f"  {r} = {opcode} {self._ff}double {a}, {b}")
        return r

    def fadd(self, a: str, b: str) -> str:
        """a + b."""
        return self._bin("fadd", a, b)

    def fsub(self, a: str, b: str) -> str:
        """a - b."""
        return self._bin("fsub", a, b)

    def fmul(self, a: str, b: str) -> str:
        """a * b."""
        return self._bin("fmul", a, b)

    def fdiv(self, a: str, b: str) -> str:
        """a / b."""
        return self._bin("fdiv", a, b)

    def fneg(self, a: str) -> str:
        """-a (flips the sign bit, also of 0.0 and NaN, like numpy.negative)."""
        r = self.tmp()
        self.lines.append(f"  {r} = fneg {self._ff}double {a}")
        return r

    def fcmp(self, pred: str, a: str, b: str) -> str:
        """Compare two doubles; ``pred`` is an LLVM predicate (``'olt'``,
        ``'uno'``...).  Returns an ``i1`` value for :meth:`select`."""
        if pred not in _FCMP_PREDS:
            raise ValueError(f"unknown fcmp predicate {pred!r}")
        r = self.tmp()
        self.lines.append(f"  {r} = fcmp {self._ff}{pred} double {a}, {b}")
        return r

    def select(self, cond: str, a: str, b: str) -> str:
        """``a`` if the i1 ``cond`` is true else ``b``."""
        r = self.tmp()
        self.lines.append(f"  {r} = select i1 {cond}, double {a}, double {b}")
        return r

    def op(self, name: str, *args: str) -> str:
        """Lower the op-table primitive ``name`` on operands ``args`` (what
        lowering hooks call for the math they need)."""
        opdef = OPS.get(name)
        if opdef is None:
            raise ValueError(f"unknown op {name!r}")
        if not opdef.check_arity(len(args)):
            raise ValueError(f"op {name!r} applied to {len(args)} arguments")
        low = opdef.lowering
        if isinstance(low, Instruction):
            if low.opcode == "fneg":
                return self.fneg(args[0])
            return self._bin(low.opcode, *args)
        if isinstance(low, (Intrinsic, Libm)):
            if name in self._state.vec_names:
                return self.call(self._state.vecmath(name), *args)
            if isinstance(low, Intrinsic):
                return self.intrinsic(low.name, *args)
            return self.libm(low.name, *args)
        if isinstance(low, Hook):
            return low.fn(self, *args)
        raise ValueError(f"op {name!r} has no LLVM lowering ({low!r})")

    def const_value(self, operand: str):
        """The float value of a constant operand, or ``None`` for an SSA
        value (lets ``pow``'s hook unroll constant integer exponents)."""
        if operand.startswith("0x"):
            return struct.unpack("<d", struct.pack("<Q", int(operand, 16)))[0]
        return None

    def call(self, symbol: str, *args: str) -> str:
        """Call a declared ``double(double, ...)`` function."""
        r = self.tmp()
        params = ", ".join(f"double {a}" for a in args)
        self.lines.append(f'  {r} = call {self._ff}double @"{symbol}"({params})')
        return r

    def libm(self, symbol: str, *args: str) -> str:
        """Call the C math library function ``symbol`` (declared on demand)."""
        self._state.declare(symbol, len(args), _LIBM_ATTRS)
        return self.call(symbol, *args)

    def intrinsic(self, symbol: str, *args: str) -> str:
        """Call an LLVM intrinsic by full name (``llvm.foo.f64``)."""
        self._state.declare(symbol, len(args), "")
        return self.call(symbol, *args)

    # -- memory (used by the kernel templates, not by lower hooks) ----------
    def load(self, base: str, index: str) -> str:
        """double at ``base[index]`` (index an i64 operand)."""
        p = self.tmp()
        r = self.tmp()
        self.lines.append(f"  {p} = getelementptr inbounds double, ptr {base}, i64 {index}")
        self.lines.append(f"  {r} = load double, ptr {p}, align 8")
        return r

    def store(self, value: str, base: str, index: int | str) -> None:
        """``base[index] = value``."""
        p = self.tmp()
        self.lines.append(f"  {p} = getelementptr inbounds double, ptr {base}, i64 {index}")
        self.lines.append(f"  store double {value}, ptr {p}, align 8")


# ---------------------------------------------------------------------------
# Lowering one instruction.


def lower_instr(em: Emitter, program: Program, k: int, args: list[str]) -> str:
    """Emit instruction ``k`` (an op, not an input or constant) given its
    argument operands; returns the result operand."""
    return em.op(program.instrs[k].op, *args)


# ---------------------------------------------------------------------------
# Function bodies.


def _body_lines(em: Emitter, program: Program, lo: int, hi: int, *, x: str, y: str,
                scratch: str | None, scratch_slot: dict, out_slots: dict,
                store_scratch: set) -> None:
    """Emit instructions lo..hi-1.  Inputs are read from ``x[j]`` when first
    used; values defined before ``lo`` come from ``scratch``; outputs defined
    here are stored to ``y``; values in ``store_scratch`` are spilled."""
    instrs = program.instrs
    vals: dict[int, str] = {}

    def value(s: int) -> str:
        v = vals.get(s)
        if v is not None:
            return v
        ins = instrs[s]
        if ins.op == "const":
            return fmt_double(ins.payload)
        if ins.op == "input":
            v = em.load(x, str(ins.payload))
        else:  # defined in an earlier chunk
            v = em.load(scratch, str(scratch_slot[s]))
        vals[s] = v
        return v

    for k in range(lo, hi):
        ins = instrs[k]
        if ins.op in ("input", "const"):
            continue
        r = lower_instr(em, program, k, [value(a) for a in ins.args])
        vals[k] = r
        if k in store_scratch:
            em.store(r, scratch, scratch_slot[k])
    # Outputs: stored after all loads of this function (so in/out overlap in
    # the single-body case is harmless).  Inputs and constants that are
    # outputs are stored by the chunk that covers their slot.
    for pos, s in out_slots.items():
        em.store(value(s), y, pos)


def _outputs_by_chunk(program: Program, chunks) -> list[dict]:
    """For each chunk, {output position: slot} of outputs it stores."""
    res = [dict() for _ in chunks]
    starts = [lo for lo, _ in chunks]
    import bisect

    for pos, s in enumerate(program.outputs):
        res[bisect.bisect_right(starts, s) - 1][pos] = s
    return res


def _scratch_plan(program: Program, chunks) -> tuple[dict, int, list[set]]:
    """Scratch slots for values crossing chunk boundaries.

    A value defined in chunk a and used in chunk b > a gets a slot from
    chunk a through chunk b; slots are reused afterwards (free list), so the
    scratch size is the peak number of values live across a boundary.
    """
    instrs = program.instrs
    chunk_of = [0] * len(instrs)
    for c, (lo, hi) in enumerate(chunks):
        for k in range(lo, hi):
            chunk_of[k] = c
    last = {}
    for k, ins in enumerate(instrs):
        ck = chunk_of[k]
        for a in ins.args:
            if instrs[a].op in ("input", "const"):
                continue
            if chunk_of[a] != ck and last.get(a, -1) < ck:
                last[a] = ck
    slot: dict[int, int] = {}
    free: list[int] = []
    release: dict[int, list[int]] = {}
    n_slots = 0
    spill = [set() for _ in chunks]
    for c, (lo, hi) in enumerate(chunks):
        # Slots whose last reader was chunk c-1 can be reused from chunk c on.
        free.extend(release.pop(c - 1, ()))
        for k in range(lo, hi):
            b = last.get(k)
            if b is None:
                continue
            if free:
                s = free.pop()
            else:
                s = n_slots
                n_slots += 1
            slot[k] = s
            spill[c].add(k)
            release.setdefault(b, []).append(s)
    return slot, n_slots, spill


# Scratch buffers above this many bytes come from malloc, not the stack
# (Python threads may have small stacks).
_STACK_SCRATCH_MAX = 64 * 1024


def _gather_block_rows(n: int) -> int:
    # Rows per gather block for strided batches: about 32 KB of stack.
    return max(1, min(256, 4096 // max(n, 1)))


def module_text(program: Program, name: str, *, opt: int = 2, fast_math: bool = False,
                vector_math: bool = True, python_entries: bool = True,
                use_fma=None, chunk_size: int | None = None) -> str:
    """The complete LLVM IR module for ``program`` as text.

    ``python_entries`` adds the fast Python entry ``N__py`` and the pre-bound
    entry ``N__bound`` with their globals (JIT only; shared libraries get
    the two C-ABI kernels alone).

    Layout: all kernels funnel into ``N__rows(X, Y, nrows)``, a loop over
    contiguous rows.  The scalar kernel is ``N__rows(in, out, 1)``; the
    batch kernel calls it directly for contiguous X and otherwise gathers
    blocks of rows into a stack buffer first.  So the computation exists in
    one loop, which the vectorizer widens across rows when the body is
    small enough to be inlined into it.
    """
    pl = plan(program, opt, vector_math=vector_math, chunk_size=chunk_size)
    # vecmath only pays off where the loop is vectorized (inlined body); in
    # chunked or out-of-line bodies libm calls are smaller and as fast.
    state = _ModuleState(vector_math and pl.inline_body, use_fma)
    n = len(program.inputs)
    m = len(program.outputs)
    parts: list[str] = []

    if pl.chunks is None:
        em = Emitter(state, fast_math)
        _body_lines(em, program, 0, len(program.instrs), x="%x", y="%y", scratch=None,
                    scratch_slot={}, out_slots=dict(enumerate(program.outputs)),
                    store_scratch=set())
        attrs = "alwaysinline nounwind" if pl.inline_body else "noinline nounwind"
        parts.append(f"define internal void @{name}__body(ptr noalias nocapture readonly %x, "
                     f"ptr noalias nocapture writeonly %y) {attrs} {{\nentry:\n"
                     + "\n".join(em.lines) + "\n  ret void\n}")
        n_scratch = 0
        calls = [f"call void @{name}__body(ptr {{x}}, ptr {{y}})"]
    else:
        slot, n_scratch, spill = _scratch_plan(program, pl.chunks)
        outs = _outputs_by_chunk(program, pl.chunks)
        calls = []
        for c, (lo, hi) in enumerate(pl.chunks):
            em = Emitter(state, fast_math)
            _body_lines(em, program, lo, hi, x="%x", y="%y", scratch="%s",
                        scratch_slot=slot, out_slots=outs[c], store_scratch=spill[c])
            parts.append(f"define internal void @{name}__chunk{c}(ptr noalias nocapture readonly "
                         f"%x, ptr noalias nocapture %s, ptr noalias nocapture writeonly %y) "
                         f"noinline nounwind {{\nentry:\n" + "\n".join(em.lines)
                         + "\n  ret void\n}")
            calls.append(f"call void @{name}__chunk{c}(ptr {{x}}, ptr {{s}}, ptr {{y}})")

    scratch_bytes = 8 * n_scratch
    heap = scratch_bytes > _STACK_SCRATCH_MAX
    if n_scratch and heap:
        state.decls["malloc"] = "declare noalias ptr @malloc(i64) nounwind"
        state.decls["free"] = "declare void @free(ptr) nounwind"

    # --- N__rows: the one loop over contiguous rows ---------------------------
    lines = []
    if n_scratch:
        # Allocated once per call, not per row.
        if heap:
            lines.append(f"  %s = call ptr @malloc(i64 {scratch_bytes})")
        else:
            lines.append(f"  %s = alloca double, i64 {n_scratch}, align 16")
    lines += [
        "  %has = icmp sgt i64 %nrows, 0",
        "  br i1 %has, label %loop, label %done",
        "loop:",
        "  %i = phi i64 [ 0, %entry ], [ %i.next, %loop ]",
        f"  %xo = mul nsw i64 %i, {n}",
        "  %xr = getelementptr inbounds double, ptr %X, i64 %xo",
        f"  %yo = mul nsw i64 %i, {m}",
        "  %yr = getelementptr inbounds double, ptr %Y, i64 %yo",
    ]
    lines += ["  " + c.format(x="%xr", y="%yr", s="%s") for c in calls]
    lines += [
        "  %i.next = add nuw nsw i64 %i, 1",
        "  %end = icmp eq i64 %i.next, %nrows",
        "  br i1 %end, label %done, label %loop",
        "done:",
    ]
    if n_scratch and heap:
        lines.append("  call void @free(ptr %s)")
    # noalias: X and Y never overlap (the Python wrapper copies X if they
    # would; the C header states the requirement), which is what lets the
    # loop vectorizer work across rows.
    parts.append(f"define internal void @{name}__rows(ptr noalias nocapture readonly %X, "
                 f"ptr noalias nocapture writeonly %Y, i64 %nrows) noinline nounwind "
                 f"{{\nentry:\n" + "\n".join(lines) + "\n  ret void\n}")

    # --- scalar kernel: void N(const double *in, double *out) ----------------
    parts.append(f"define void @{name}(ptr nocapture readonly %in, ptr nocapture writeonly "
                 f"%out) nounwind {{\nentry:\n  call void @{name}__rows(ptr %in, ptr %out, "
                 f"i64 1)\n  ret void\n}}")

    # --- batch kernel -------------------------------------------------------------
    B = _gather_block_rows(n)
    lines = [
        "  %has = icmp sgt i64 %nrows, 0",
        "  br i1 %has, label %pick, label %done",
        "pick:",
        "  %c1 = icmp eq i64 %cs, 1",
        f"  %c2 = icmp eq i64 %rs, {n}",
        "  %cc = and i1 %c1, %c2",
    ]
    if n == 0:
        lines.append("  br label %contig")
    else:
        lines.append("  br i1 %cc, label %contig, label %strided")
    lines += [
        "contig:",
        f"  call void @{name}__rows(ptr %X, ptr %Y, i64 %nrows)",
        "  br label %done",
    ]
    if n:
        # Strided X: gather B rows at a time into a contiguous buffer, so
        # strided input runs the same vectorized loop as contiguous input.
        lines += [
            "strided:",
            f"  %buf = alloca double, i64 {B * n}, align 64",
            "  br label %blk",
            "blk:",
            "  %b0 = phi i64 [ 0, %strided ], [ %b0.next, %blk.end ]",
            "  %left = sub i64 %nrows, %b0",
            f"  %small = icmp slt i64 %left, {B}",
            f"  %cnt = select i1 %small, i64 %left, i64 {B}",
            "  br label %gcol",
            # Column-outer order: Fortran-ordered X (row stride 1) is read
            # sequentially; C-ordered views read one element per row.
            "gcol:",
            "  %j = phi i64 [ 0, %blk ], [ %j.next, %grow.end ]",
            "  %coff = mul nsw i64 %j, %cs",
            "  br label %grow",
            "grow:",
            "  %r = phi i64 [ 0, %gcol ], [ %r.next, %grow ]",
            "  %row = add nsw i64 %b0, %r",
            "  %rowoff = mul nsw i64 %row, %rs",
            "  %off = add nsw i64 %rowoff, %coff",
            "  %src = getelementptr inbounds double, ptr %X, i64 %off",
            "  %v = load double, ptr %src, align 8",
            f"  %boff = mul nsw i64 %r, {n}",
            "  %doff = add nsw i64 %boff, %j",
            "  %dst = getelementptr inbounds double, ptr %buf, i64 %doff",
            "  store double %v, ptr %dst, align 8",
            "  %r.next = add nuw nsw i64 %r, 1",
            "  %rend = icmp eq i64 %r.next, %cnt",
            # A plain copy loop: vectorized it becomes AVX-512 scatters
            # (runtime strides), which measured slower than scalar moves.
            "  br i1 %rend, label %grow.end, label %grow, !llvm.loop !0",
            "grow.end:",
            "  %j.next = add nuw nsw i64 %j, 1",
            f"  %jend = icmp eq i64 %j.next, {n}",
            "  br i1 %jend, label %run, label %gcol",
            "run:",
            f"  %yoff = mul nsw i64 %b0, {m}",
            "  %yb = getelementptr inbounds double, ptr %Y, i64 %yoff",
            f"  call void @{name}__rows(ptr %buf, ptr %yb, i64 %cnt)",
            "  br label %blk.end",
            "blk.end:",
            "  %b0.next = add nsw i64 %b0, %cnt",
            "  %bend = icmp sge i64 %b0.next, %nrows",
            "  br i1 %bend, label %done, label %blk",
        ]
    lines.append("done:")
    parts.append(f"define void @{name}_batch(ptr nocapture readonly %X, i64 %rs, i64 %cs, "
                 f"ptr nocapture writeonly %Y, i64 %nrows) nounwind {{\nentry:\n"
                 + "\n".join(lines) + "\n  ret void\n}")

    if python_entries:
        parts.append(_python_entries(name, n, m))
    if n:
        parts.append('!0 = distinct !{!0, !1}\n!1 = !{!"llvm.loop.vectorize.enable", i1 false}')

    head = [f'; symdiff kernel "{name}": {n} inputs ({", ".join(program.inputs[:16])}'
            f'{", ..." if n > 16 else ""}), {m} outputs, {program.n_ops} ops; {pl}']
    return "\n".join(head + list(state.decls.values())) + "\n\n" + "\n\n".join(
        state.extra_defs + parts) + "\n"


def _python_entries(name: str, n: int, m: int) -> str:
    """IR for ``N__py`` (validate two ndarray objects, then run the kernel)
    and ``N__bound`` (the same on objects stored in globals by bind())."""
    L = NDARRAY_LAYOUT

    def check(obj: str, tag: str, length: int, mask: int, fail: str, nxt: str) -> list[str]:
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

    ro = L.c_contiguous | L.aligned
    rw = ro | L.writeable
    body = ["entry:"]
    body += check("%xo", "x", n, ro, "fail", "xok")
    body.append("xok:")
    body += check("%oo", "o", m, rw, "fail", "ook")
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
        "  ret i32 0",
        "overlap:",
        "  ret i32 2",
        "fail:",
        "  ret i32 1",
    ]
    msg = b"bound buffers changed (dtype, shape, flags or overlap) since bind()\x00"
    msg_ir = "".join(chr(c) if 32 <= c < 127 and c not in (34, 92) else "\\%02X" % c
                     for c in msg)
    return "\n".join([
        f"@{name}__ndarray_type = global ptr null, align 8",
        f"@{name}__f64_descr = global ptr null, align 8",
        f"@{name}__bound_x = global ptr null, align 8",
        f"@{name}__bound_out = global ptr null, align 8",
        f"@{name}__err_fn = global ptr null, align 8",
        f"@{name}__err_type = global ptr null, align 8",
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
        "  %bad = icmp ne i32 %r, 0",
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
