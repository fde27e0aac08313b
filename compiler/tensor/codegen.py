"""Tensor plan -> LLVM IR text: fused loop nests and BLAS calls.

Module layout (``N`` is the function name)::

    void N__run(ptr bufs, ptr dims)      the whole program (what the JIT calls)
    i32 N(const double *X, ..., double *out0, ..., i64 m, ...)
                                          with ``c_entry``: the C API of
                                          shared libraries (allocates the
                                          scratch buffers itself; 0 = ok)
    void N__step<j>(ptr bufs, ptr dims, i64 lo, i64 hi)
                                          one step, rows lo..hi of its
                                          leading axis (what threads split)
    @N__dgemm, @N__dgemv                  BLAS entry points (Fortran ABI),
                                          null: symdiff's own loops instead
    @N__parallel                          void (ptr step, ptr bufs, ptr dims,
                                          i64 rows): null = run in place

``bufs`` holds one pointer per buffer: the inputs, the outputs, the
constant arrays and the scratch buffers, in that order
(:attr:`TensorPlan.buffer_keys`); ``dims`` one i64
per dimension name (in :attr:`TensorPlan.dims` order).  Every buffer is
C-contiguous: the Python wrapper (or a C caller, see the generated header)
guarantees it.

Each step function loads its buffer pointers once and passes them to an
inner function whose pointer parameters are ``noalias`` (buffers never
overlap), so LLVM vectorizes the innermost loops; elementwise math goes
through the scalar compiler's lowering (:class:`compiler.lowering.Emitter`),
including :mod:`compiler.vecmath`'s vectorizable exp/log/tanh.

Loop bodies compute fused values entry by entry (:meth:`_Body.value`):
a materialized value is a load, an elementwise op is its scalar lowering
on its arguments' values at the broadcast-adjusted index, and a view
(transpose, broadcast, index, unit-axis reshape) only rewrites the index.
"""

from __future__ import annotations

import os

from symdiff.core.ops import OPS, Hook, Instruction
from symdiff.core.program import Program

from ..lowering import Emitter, ModuleState, fmt_double
from .plan import Step, TensorPlan, is_pointwise

__all__ = ["module_text", "PARALLEL_MIN_WORK", "PARALLEL_MIN_FLOPS", "SMALL_MATMUL_FLOPS",
           "MIN_BLOCK_ROWS", "MATH_WEIGHT"]

#: A loop step is handed to the thread callback only from this much work
#: on: entries times the weight of the fused computation (1 a basic
#: operation, MATH_WEIGHT a math function).  Handing a step to another
#: thread costs ~30-50 us (a ctypes callback and a Python thread pool,
#: measured by benchmarks/bench_tensor_compiled.py); 2^19 units are a few
#: hundred microseconds of work.
PARALLEL_MIN_WORK = 1 << 19
MATH_WEIGHT = 8
#: Products with fewer multiply-adds than this use symdiff's loops, not BLAS
#: (measured crossover, see benchmarks/bench_tensor_compiled.py).
SMALL_MATMUL_FLOPS = 1 << 12
#: Matrix products are cut into blocks of at least this many rows of the
#: result, at most one block per core of the machine (a compile-time
#: constant: the blocks, and so every BLAS call and every bit of the
#: result, do not depend on how many threads run them).
MIN_BLOCK_ROWS = 64
#: Products with at least this many multiply-adds run their blocks on the
#: thread callback (8M: ~0.25 ms on one core).
PARALLEL_MIN_FLOPS = 1 << 23


class _Fn:
    """Text of one LLVM function under construction: lines, fresh names and
    the current basic block (loops need it for their phi nodes)."""

    def __init__(self, em: Emitter):
        self.em = em
        self.block = "entry"
        self._labels = 0
        self.prologue: list[str] = []     # entry-block allocas

    def alloca(self, ty: str) -> str:
        """A stack slot of type ``ty`` allocated once, in the entry block."""
        p = self.tmp()
        self.prologue.append(f"  {p} = alloca {ty}, align 8")
        return p

    def text(self) -> str:
        """The function body: the entry-block allocas, then the code."""
        return "\n".join(self.prologue + self.em.lines)

    def line(self, text: str) -> None:
        self.em.lines.append("  " + text)

    def label(self, stem: str) -> str:
        self._labels += 1
        return f"{stem}{self._labels}"

    def start_block(self, name: str) -> None:
        self.em.lines.append(f"{name}:")
        self.block = name

    def tmp(self) -> str:
        return self.em.tmp()

    def gep(self, base: str, off: str, ty: str = "double") -> str:
        """Pointer to element ``off`` (an i64 operand) of the ``ty`` array
        at ``base``."""
        p = self.tmp()
        self.line(f"{p} = getelementptr inbounds {ty}, ptr {base}, i64 {off}")
        return p

    def load(self, base: str, off: str, ty: str = "double") -> str:
        """``base[off]`` of type ``ty``."""
        p = self.gep(base, off, ty)
        v = self.tmp()
        self.line(f"{v} = load {ty}, ptr {p}, align 8")
        return v

    def store(self, value: str, base: str, off: str, ty: str = "double") -> None:
        """``base[off] = value`` of type ``ty``."""
        p = self.gep(base, off, ty)
        self.line(f"store {ty} {value}, ptr {p}, align 8")

    def i64(self, opcode: str, a: str, b: str) -> str:
        if opcode == "mul":
            if a == "1":
                return b
            if b == "1":
                return a
            if a == "0" or b == "0":
                return "0"
        if opcode == "add":
            if a == "0":
                return b
            if b == "0":
                return a
        r = self.tmp()
        self.line(f"{r} = {opcode} nsw i64 {a}, {b}")
        return r

    def loop(self, lo: str, hi: str, body, vectorize: bool = True) -> None:
        """``for (i = lo; i < hi; i++) body(i)``; body emits into the loop.
        ``vectorize=False`` tells LLVM's loop vectorizer and unroller to
        leave it."""
        head, bod, latch, done = (self.label(s) for s in ("L.head", "L.body", "L.latch",
                                                           "L.exit"))
        i = self.tmp()
        pred = self.block
        self.line(f"br label %{head}")
        self.start_block(head)
        nxt = self.tmp()
        self.line(f"{i} = phi i64 [ {lo}, %{pred} ], [ {nxt}, %{latch} ]")
        c = self.tmp()
        self.line(f"{c} = icmp slt i64 {i}, {hi}")
        self.line(f"br i1 {c}, label %{bod}, label %{done}")
        self.start_block(bod)
        body(i)
        self.line(f"br label %{latch}")
        self.start_block(latch)
        self.line(f"{nxt} = add nsw i64 {i}, 1")
        self.line(f"br label %{head}" + ("" if vectorize else ", !llvm.loop !0"))
        self.start_block(done)

    def nest(self, extents: list, body, lo: str = "0", hi: str | None = None,
             vectorize: bool = True) -> None:
        """Nested loops over ``extents`` (i64 operands), outermost first; the
        outermost runs from ``lo`` to ``hi`` (default its extent)."""
        idx: list = []

        def level(k):
            if k == len(extents):
                body(list(idx))
                return

            def inner(i):
                idx.append(i)
                level(k + 1)
                idx.pop()

            if k == 0:
                self.loop(lo, extents[0] if hi is None else hi, inner, vectorize)
            else:
                self.loop("0", extents[k], inner, vectorize)

        if not extents:
            body([])
        else:
            level(0)


class _Step:
    """Emission of one step: its buffers' pointers, dims, and the fused
    value computation."""

    def __init__(self, gen: "_Gen", fn: _Fn, ptrs: dict, dims: dict):
        self.gen = gen
        self.fn = fn
        self.ptrs = ptrs          # buffer key -> IR pointer operand
        self.dims = dims          # dim name -> i64 operand
        self.memo: dict = {}
        # Flat: one loop over the entries of a C-contiguous result whose
        # operands all have its shape or are scalars; an index is then
        # [linear offset] (or [] for a scalar).
        self.flat = False

    # -- shapes and addresses ------------------------------------------------
    def extent(self, d) -> str:
        return str(d) if isinstance(d, int) else self.dims[d]

    def extents(self, shape) -> list:
        return [self.extent(d) for d in shape]

    def linear(self, idx: list, shape: tuple) -> str:
        if self.flat:
            return idx[0] if idx else "0"
        fn = self.fn
        off = "0"
        for k, (i, d) in enumerate(zip(idx, shape)):
            off = fn.i64("mul", off, self.extent(d)) if k else off
            off = fn.i64("add", off, i)
        return off

    def pointer(self, slot: int) -> str:
        return self.ptrs[self.gen.key(slot)]

    def load(self, slot: int, idx: list, shape: tuple) -> str:
        """The entry ``idx`` of materialized ``slot`` read with ``shape``'s
        strides (an i64 for integer labels, else a double)."""
        ty = _IR_TYPE[self.gen.plan.buffer(slot).dtype]
        return self.fn.load(self.pointer(slot), self.linear(idx, shape), ty)

    def load_at(self, base: str, idx: list, shape: tuple) -> str:
        """The double at index ``idx`` of the ``shape`` array at ``base``."""
        return self.fn.load(base, self.linear(idx, shape))

    def store(self, value: str, base: str, idx: list, shape: tuple) -> None:
        """Store the double ``value`` at index ``idx`` of the ``shape`` array
        at ``base``."""
        self.fn.store(value, base, self.linear(idx, shape))

    # -- fused values --------------------------------------------------------
    def value(self, slot: int, idx: list) -> str:
        """The value of ``slot`` at index ``idx`` (i64 operands), computed
        inline unless it is materialized."""
        key = (slot, tuple(idx))
        v = self.memo.get(key)
        if v is None:
            v = self.memo[key] = self._value(slot, idx)
        return v

    def _value(self, slot: int, idx: list) -> str:
        gen = self.gen
        if gen.plan.is_material(slot):
            return self.load(slot, idx, gen.shapes[slot])
        return self.compute(slot, idx)

    def compute(self, slot: int, idx: list) -> str:
        """The value of ``slot`` at ``idx`` from its operands (never a load of
        its own buffer)."""
        gen = self.gen
        fn = self.fn
        ins = gen.instrs[slot]
        op = ins.op
        shape = ins.shape
        if op == "const":
            return fmt_double(ins.payload)
        if op == "dim":
            r = fn.tmp()
            fn.line(f"{r} = sitofp i64 {self.dims[ins.payload]} to double")
            return r
        if op == "eye":
            c = fn.tmp()
            fn.line(f"{c} = icmp eq i64 {idx[0]}, {idx[1]}")
            r = fn.tmp()
            fn.line(f"{r} = select i1 {c}, double 1.0, double 0.0")
            return r
        if op in ("input", "array"):
            return self.load(slot, idx, shape)
        if op in OPS:
            if self.flat:
                args = [self.value(a, idx if gen.shapes[a] else []) for a in ins.args]
            else:
                args = [self.value(a, _broadcast_index(idx, gen.shapes[a], shape))
                        for a in ins.args]
            return fn.em.op(op, *args)
        if op == "stop_gradient":
            return self.value(ins.args[0], idx)
        a = ins.args[0]
        ashape = gen.shapes[a]
        if op == "broadcast_to":
            return self.value(a, _broadcast_index(idx, ashape, shape))
        if op == "transpose":
            (perm,) = ins.payload
            lead = len(shape) - len(perm)
            src = list(idx[:lead]) + [None] * len(perm)
            for k, p in enumerate(perm):
                src[lead + p] = idx[lead + k]
            return self.value(a, src)
        if op == "reshape":
            if gen.plan.is_material(a):
                # Same memory (C-contiguous), read with this shape's strides.
                return self.load(a, idx, shape)
            return self.value(a, _unit_axes_index(idx, shape, ashape))
        if op == "index":
            return self.value(a, self._index_source(idx, ins.payload[0], ashape))
        if op == "onehot":
            (k,) = ins.payload
            lab = self.load(a, idx[:-1], ashape)
            c = fn.tmp()
            fn.line(f"{c} = icmp eq i64 {lab}, {idx[-1]}")
            r = fn.tmp()
            fn.line(f"{r} = select i1 {c}, double 1.0, double 0.0")
            return r
        raise ValueError(f"tensor compiler: no inline lowering for op {op!r} (slot {slot})")

    def _index_source(self, idx: list, spec: tuple, ashape: tuple) -> list:
        fn = self.fn
        out = iter(idx)
        src = []
        for d, item in zip(ashape, spec):
            if isinstance(item, int):
                if item >= 0:
                    src.append(str(item))
                else:
                    src.append(fn.i64("add", self.extent(d), str(item)))
                continue
            i = next(out)
            if isinstance(d, int):
                start, _, step = slice(*item).indices(d)
            else:
                start, step = 0, 1
            src.append(fn.i64("add", fn.i64("mul", i, str(step)), str(start)))
        return src


def _broadcast_index(idx: list, ashape: tuple, shape: tuple) -> list:
    """Index into an operand of shape ``ashape`` broadcast to ``shape``."""
    lead = len(shape) - len(ashape)
    return ["0" if d == 1 and shape[lead + j] != 1 else idx[lead + j]
            for j, d in enumerate(ashape)]


def _unit_axes_index(idx: list, shape: tuple, ashape: tuple) -> list:
    """For a reshape that only adds or drops axes of length 1: the operand's
    index from the result's."""
    real = [i for i, d in zip(idx, shape) if d != 1]
    it = iter(real)
    return ["0" if d == 1 else next(it) for d in ashape]


class _Gen:
    """Module state: the plan, the emitter state and the step functions."""

    def __init__(self, plan: TensorPlan, name: str, vector_math: bool, fast_math: bool,
                 small_loops: bool):
        self.plan = plan
        self.blocks = _max_blocks()
        self._loop_functions: set = set()
        # With BLAS at hand the loop products run only below
        # SMALL_MATMUL_FLOPS, where vectorizing them costs compile time
        # (a third of the module) and gains nothing.
        self.small_loops = small_loops
        self.name = name
        self.program: Program = plan.program
        self.instrs = plan.program.instrs
        self.shapes = [i.shape for i in self.instrs]
        self.state = ModuleState(vector_math)
        self.fast_math = fast_math
        self.parts: list[str] = []
        # Buffer keys in bufs-array order.
        self.order = plan.buffer_keys
        self.position = {key: k for k, key in enumerate(self.order)}

    def key(self, slot: int) -> tuple:
        b = self.plan.buffer(slot)
        return (b.kind, b.index)

    # -- one step ------------------------------------------------------------
    def step_function(self, j: int, step: Step) -> str:
        """Define ``N__step<j>`` (and its noalias inner function); returns its
        name."""
        ins = self.instrs[step.slot]
        used = self._buffers_of_step(step)
        inner = f"{self.name}__step{j}.inner"
        outer = f"{self.name}__step{j}"
        em = Emitter(self.state, self.fast_math)
        fn = _Fn(em)
        params = [f"ptr noalias %b{self.position[k]}" for k in used]
        ptrs = {k: f"%b{self.position[k]}" for k in used}
        dims = self._load_dims(fn)
        st = _Step(self, fn, ptrs, dims)
        {"loop": self._loop, "copy": self._loop, "reduce": self._reduce,
         "matmul": self._matmul, "unindex": self._unindex}[step.kind](st, step, ins)
        fn.line("ret void")
        body = fn.text()
        self.parts.append(
            f"define internal void @{inner}("
            f"{', '.join(params + ['ptr noalias readonly %dims', 'i64 %lo', 'i64 %hi'])}) "
            f"nounwind {{\nentry:\n{body}\n}}")
        # The outer function: what the main function and the thread callback call.
        lines = []
        args = []
        for k in used:
            pos = self.position[k]
            lines.append(f"  %p{pos} = getelementptr inbounds ptr, ptr %bufs, i64 {pos}")
            lines.append(f"  %b{pos} = load ptr, ptr %p{pos}, align 8")
            args.append(f"ptr %b{pos}")
        args += ["ptr %dims", "i64 %lo", "i64 %hi"]
        lines.append(f"  call void @{inner}({', '.join(args)})")
        self.parts.append(f"define internal void @{outer}(ptr %bufs, ptr %dims, i64 %lo, "
                          f"i64 %hi) noinline nounwind {{\nentry:\n" + "\n".join(lines)
                          + "\n  ret void\n}")
        return outer

    def _load_dims(self, fn: _Fn) -> dict:
        """Load every named dimension from the ``%dims`` argument: name -> i64."""
        return {d: fn.load("%dims", str(m), "i64") for m, d in enumerate(self.plan.dims)}

    def _buffers_of_step(self, step: Step) -> list:
        """Buffer keys a step reads or writes (its target first)."""
        target = self._target(step)
        keys = [target]
        seen = {target}
        stack = list(self.instrs[step.slot].args) if step.kind != "copy" else [step.slot]
        if step.epilogue is not None:
            stack += [a for a in self.instrs[step.epilogue].args if a != step.slot]
        visited = set()
        while stack:
            s = stack.pop()
            if s in visited:
                continue
            visited.add(s)
            ins = self.instrs[s]
            if self.plan.is_material(s) and not (step.kind != "copy" and s == step.slot):
                k = self.key(s)
                if k not in seen:
                    seen.add(k)
                    keys.append(k)
                continue
            if ins.op == "reshape" and self.plan.is_material(ins.args[0]):
                k = self.key(ins.args[0])
                if k not in seen:
                    seen.add(k)
                    keys.append(k)
                continue
            stack.extend(ins.args)
        return keys

    def _target(self, step: Step) -> tuple:
        if step.kind == "copy":
            return ("output", step.position)
        return self.key(step.slot)

    def _flat(self, slot: int) -> bool:
        """True if the value of ``slot`` reads only values of its own shape
        or scalars, with no index rewriting on the way: one flat loop then
        covers it."""
        shape = self.shapes[slot]
        if len(shape) < 2:
            return False
        stack, seen = [slot], set()
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            ins = self.instrs[s]
            if s != slot and self.plan.is_material(s):
                if self.shapes[s] not in (shape, ()) or self.plan.buffer(s).dtype != "float64":
                    return False
                continue
            if ins.op in ("const", "dim"):
                continue
            if not is_pointwise(ins.op):
                return False
            for a in ins.args:
                if self.shapes[a] not in (shape, ()):
                    return False
                stack.append(a)
        return True

    def _loop(self, st: _Step, step: Step, ins) -> None:
        shape = self.shapes[step.slot]
        target = st.ptrs[self._target(step)]
        # Integer labels written to an output (a label input returned as
        # is): converted to double, the outputs' type.
        labels = self.instrs[step.slot].dtype == "int64"

        def body(idx):
            v = st.compute(step.slot, idx) if step.kind == "loop" else st.value(step.slot, idx)
            if labels:
                r = st.fn.tmp()
                st.fn.line(f"{r} = sitofp i64 {v} to double")
                v = r
            st.store(v, target, idx, shape)
            st.memo.clear()

        if step.kind == "loop" and self._flat(step.slot):
            # Rows lo..hi are entries lo*row .. hi*row of the flat array.
            fn = st.fn
            row = "1"
            for d in shape[1:]:
                row = fn.i64("mul", row, st.extent(d))
            st.flat = True
            fn.loop(fn.i64("mul", "%lo", row), fn.i64("mul", "%hi", row), lambda i: body([i]))
            st.flat = False
            return
        st.fn.nest(st.extents(shape), body, "%lo", "%hi")

    def _reduce(self, st: _Step, step: Step, ins) -> None:
        axes, keepdims = ins.payload
        a = ins.args[0]
        ashape = self.shapes[a]
        nd = len(ashape)
        red = {nd + ax for ax in axes}
        shape = self.shapes[step.slot]
        target = st.ptrs[self._target(step)]
        is_max = ins.op == "reduce_max"
        combine = "max" if is_max else "add"
        init = "0x7FF8000000000000" if is_max else "0.0"   # NaN: max ignores it
        # Output entries of the rows this call owns: zero (or NaN) them first.
        kept_rows = 0 not in red

        def out_index(idx):
            if keepdims:
                return ["0" if k in red else i for k, i in enumerate(idx)]
            return [i for k, i in enumerate(idx) if k not in red]

        def init_body(oidx):
            st.store(init, target, oidx, shape)

        if kept_rows:
            st.fn.nest(st.extents(shape), init_body, "%lo", "%hi")
        else:
            st.fn.nest(st.extents(shape), init_body)

        def body(idx):
            v = st.value(a, idx)
            oidx = out_index(idx)
            acc = st.load_at(target, oidx, shape)
            st.store(st.fn.em.op(combine, acc, v), target, oidx, shape)
            st.memo.clear()

        if kept_rows:
            st.fn.nest(st.extents(ashape), body, "%lo", "%hi")
        else:
            st.fn.nest(st.extents(ashape), body)
        if step.epilogue is not None:
            # The epilogue on the reduced values, in place (a mean's sum / m).
            def scale(oidx):
                st.store(st.compute(step.epilogue, oidx), target, oidx, shape)
                st.memo.clear()

            if kept_rows:
                st.fn.nest(st.extents(shape), scale, "%lo", "%hi")
            else:
                st.fn.nest(st.extents(shape), scale)

    def _unindex(self, st: _Step, step: Step, ins) -> None:
        spec, _ = ins.payload
        g = ins.args[0]
        gshape = self.shapes[g]
        shape = self.shapes[step.slot]
        target = st.ptrs[self._target(step)]
        st.fn.nest(st.extents(shape), lambda idx: st.store("0.0", target, idx, shape))
        nb = len(gshape) - sum(1 for s in spec if not isinstance(s, int))

        def body(idx):
            v = st.value(g, idx)
            dst = list(idx[:nb]) + st._index_source(idx[nb:], spec, shape[nb:])
            st.store(v, target, dst, shape)
            st.memo.clear()

        st.fn.nest(st.extents(gshape), body)

    # -- matrix products -----------------------------------------------------
    def _operand(self, st: _Step, a: int):
        """(pointer, transposed?, shape of the stored matrix) of a matmul
        operand: a materialized value or the 2-D transpose of one."""
        ins = self.instrs[a]
        if not self.plan.is_material(a) and ins.op == "transpose" and len(ins.shape) == 2:
            base = ins.args[0]
            return st.ptrs[self.key(base)], True, self.shapes[base]
        return st.ptrs[self.key(a)], False, self.shapes[a]

    def _matmul(self, st: _Step, step: Step, ins) -> None:
        A, B = ins.args
        fn = st.fn
        C = st.ptrs[self._target(step)]
        pa, ta, sa = self._operand(st, A)
        pb, tb, sb = self._operand(st, B)
        la, lb = self.shapes[A], self.shapes[B]
        if len(la) == 1 and len(lb) == 1:
            self._dot(st, pa, pb, st.extent(la[0]), C)
            return
        if len(la) >= 2 and len(lb) == 2:
            # (.., m, k) @ (k, n): a stack of matrices is one tall matrix
            # (C-contiguous); its rows are cut into blocks.
            m = "1"
            for d in la[:-1]:
                m = fn.i64("mul", m, st.extent(d))
            k, n = st.extent(la[-1]), st.extent(lb[-1])
            lda = st.extent(sa[-1])

            def block(r0, rows):
                qa = self._offset(fn, pa, r0 if ta else fn.i64("mul", r0, lda))
                qc = self._offset(fn, C, fn.i64("mul", r0, n))
                self._gemm(st, qa, ta, sa, pb, tb, sb, rows, n, k, qc)
                if step.epilogue is not None:
                    # The epilogue on the block, in place, while it is in cache.
                    shape = self.shapes[step.epilogue]

                    def apply(idx):
                        row = fn.i64("add", r0, idx[0])
                        st.store(st.compute(step.epilogue, [row, idx[1]]), C, [row, idx[1]],
                                 shape)
                        st.memo.clear()

                    fn.nest([rows, n], apply)

            self._row_blocks(fn, m, block)
            return
        if len(la) == 2 and len(lb) == 1:
            m, k = st.extent(la[0]), st.extent(la[1])
            lda = st.extent(sa[-1])

            def block(r0, rows):
                qa = self._offset(fn, pa, r0 if ta else fn.i64("mul", r0, lda))
                self._gemv(st, qa, ta, sa, pb, rows, k, self._offset(fn, C, r0))

            self._row_blocks(fn, m, block)
            return
        if len(la) == 2 and len(lb) == 3:
            # (m, k) @ (b, k, n): one gemm per matrix of the stack.
            m, k, n = st.extent(la[0]), st.extent(la[1]), st.extent(lb[2])
            kn = fn.i64("mul", k, n)
            mn = fn.i64("mul", m, n)

            def each(i):
                off_b = fn.i64("mul", i, kn)
                off_c = fn.i64("mul", i, mn)
                qb, qc = fn.gep(pb, off_b), fn.gep(C, off_c)
                self._gemm(st, pa, ta, sa, qb, False, lb[1:], m, n, k, qc)

            fn.loop("0", st.extent(lb[0]), each)
            return
        raise ValueError(f"tensor compiler: matmul of shapes {la} and {lb} is not supported")

    @staticmethod
    def _offset(fn: _Fn, base: str, off: str) -> str:
        return base if off == "0" else fn.gep(base, off)

    def n_blocks(self, fn: _Fn, m: str) -> str:
        """Row blocks of an m-row product: clamp(m / MIN_BLOCK_ROWS, 1, cores)."""
        q = fn.tmp()
        fn.line(f"{q} = sdiv i64 {m}, {MIN_BLOCK_ROWS}")
        lo = fn.tmp()
        fn.line(f"{lo} = call i64 @llvm.smax.i64(i64 {q}, i64 1)")
        nb = fn.tmp()
        fn.line(f"{nb} = call i64 @llvm.smin.i64(i64 {lo}, i64 {self.blocks})")
        self.state.decls["llvm.smax.i64"] = "declare i64 @llvm.smax.i64(i64, i64)"
        self.state.decls["llvm.smin.i64"] = "declare i64 @llvm.smin.i64(i64, i64)"
        return nb

    def _row_blocks(self, fn: _Fn, m: str, block) -> None:
        """Blocks %lo..%hi of an m-row product: ``block(first row, rows)``."""
        nb = self.n_blocks(fn, m)
        # bs = ceil(m / nb)
        t1 = fn.i64("add", m, fn.i64("add", nb, "-1"))
        bs = fn.tmp()
        fn.line(f"{bs} = sdiv i64 {t1}, {nb}")

        def each(b):
            r0 = fn.i64("mul", b, bs)
            end = fn.i64("add", r0, bs)
            r1 = fn.tmp()
            fn.line(f"{r1} = call i64 @llvm.smin.i64(i64 {end}, i64 {m})")
            rows = fn.tmp()
            fn.line(f"{rows} = sub nsw i64 {r1}, {r0}")
            has = fn.tmp()
            fn.line(f"{has} = icmp sgt i64 {rows}, 0")
            go, skip = fn.label("blk.go"), fn.label("blk.skip")
            fn.line(f"br i1 {has}, label %{go}, label %{skip}")
            fn.start_block(go)
            block(r0, rows)
            fn.line(f"br label %{skip}")
            fn.start_block(skip)

        fn.loop("%lo", "%hi", each)

    def _dot(self, st: _Step, pa: str, pb: str, k: str, C: str) -> None:
        fn = st.fn
        fn.line(f"store double 0.0, ptr {C}, align 8")

        def body(i):
            x = st.load_at(pa, [i], (None,))
            y = st.load_at(pb, [i], (None,))
            acc = st.load_at(C, ["0"], (None,))
            fn.line(f"store double {fn.em.fadd(acc, fn.em.fmul(x, y))}, ptr {C}, align 8")

        fn.loop("0", k, body)

    def _blas_args(self, fn: _Fn, items) -> dict:
        """Stack slots holding Fortran-ABI arguments: (name, "char"|"int",
        value) -> {name: pointer}."""
        # The slots are allocated in the entry block (an alloca inside the
        # block loop would grow the stack on every iteration).
        slots = {}
        for name, kind, val in items:
            if kind == "char":
                p = fn.alloca("i8")
                fn.line(f"store i8 {ord(val)}, ptr {p}, align 1")
            else:
                p = fn.alloca("i32")
                v = fn.tmp()
                fn.line(f"{v} = trunc i64 {val} to i32")
                fn.line(f"store i32 {v}, ptr {p}, align 4")
            slots[name] = p
        for name, val in (("one", "1.0"), ("zero", "0.0")):
            p = fn.alloca("double")
            fn.line(f"store double {val}, ptr {p}, align 8")
            slots[name] = p
        return slots

    def _choose(self, fn: _Fn, blas: str, flops: str, stem: str):
        """Branch to BLAS when its pointer is set and the product is big
        enough; returns the (blas, loop, done) labels, positioned in blas."""
        big = fn.tmp()
        fn.line(f"{big} = icmp sge i64 {flops}, {SMALL_MATMUL_FLOPS}")
        f = fn.tmp()
        fn.line(f"{f} = load ptr, ptr @{self.name}__{blas}, align 8")
        has = fn.tmp()
        fn.line(f"{has} = icmp ne ptr {f}, null")
        use = fn.tmp()
        fn.line(f"{use} = and i1 {big}, {has}")
        lb, lo, ld = fn.label(stem + ".blas"), fn.label(stem + ".loop"), fn.label(stem + ".done")
        fn.line(f"br i1 {use}, label %{lb}, label %{lo}")
        fn.start_block(lb)
        return f, lo, ld

    def _gemm(self, st, pa, ta, sa, pb, tb, sb, m, n, k, C) -> None:
        """C (m x n, row-major) = A (m x k) B (k x n); A and B are stored
        row-major with shapes ``sa``/``sb`` (as transposes when ``ta``/``tb``)."""
        fn = st.fn
        f, own, done = self._choose(fn, "dgemm", fn.i64("mul", fn.i64("mul", m, n), k), "gemm")
        lda_a, ldb_b = st.extent(sa[-1]), st.extent(sb[-1])
        # Row-major C = A B is column-major C^T = B^T A^T: B goes first, and a
        # matrix stored row-major is its own transpose in column-major terms.
        s = self._blas_args(fn, [("tb", "char", "T" if tb else "N"),
                                 ("ta", "char", "T" if ta else "N"),
                                 ("M", "int", n), ("N", "int", m), ("K", "int", k),
                                 ("ldb", "int", ldb_b), ("lda", "int", lda_a),
                                 ("ldc", "int", n)])
        fn.line(f"call void {f}(ptr {s['tb']}, ptr {s['ta']}, ptr {s['M']}, ptr {s['N']}, "
                f"ptr {s['K']}, ptr {s['one']}, ptr {pb}, ptr {s['ldb']}, ptr {pa}, "
                f"ptr {s['lda']}, ptr {s['zero']}, ptr {C}, ptr {s['ldc']})")
        fn.line(f"br label %{done}")
        fn.start_block(own)
        loops = self._loop_function("gemm", ta, tb)
        fn.line(f"call void @{loops}(ptr {pa}, i64 {lda_a}, ptr {pb}, i64 {ldb_b}, ptr {C}, "
                f"i64 {m}, i64 {n}, i64 {k})")
        fn.line(f"br label %{done}")
        fn.start_block(done)

    def _loop_function(self, kind: str, ta: bool, tb: bool = False) -> str:
        """The module's one loop implementation of a small product (defined
        on first use, shared by every step): ``gemm`` C = A B or ``gemv``
        y = A x, A and B read as transposes when ``ta``/``tb``."""
        name = f"{self.name}__{kind}.{'t' if ta else 'n'}{'t' if tb else 'n'}"
        if name in self._loop_functions:
            return name
        self._loop_functions.add(name)
        em = Emitter(self.state, self.fast_math)
        fn = _Fn(em)
        vec = not self.small_loops

        def at(i, j, ld):
            """Offset of row-major element (i, j) of a matrix with row length ld."""
            return fn.i64("add", fn.i64("mul", i, ld), j)

        if kind == "gemm":
            # i-p-j order: the innermost loop runs along a row of B and of C
            # (contiguous unless B is a transpose), which LLVM vectorizes;
            # the sum over p is in order, so results do not depend on the
            # schedule.
            fn.nest(["%m", "%n"], lambda idx: fn.store("0.0", "%C", at(idx[0], idx[1], "%n")),
                    vectorize=vec)

            def row(i):
                def inner(p):
                    a = fn.load("%A", at(p, i, "%lda") if ta else at(i, p, "%lda"))

                    def col(j):
                        b = fn.load("%B", at(j, p, "%ldb") if tb else at(p, j, "%ldb"))
                        c = fn.load("%C", at(i, j, "%n"))
                        fn.store(fn.em.fadd(c, fn.em.fmul(a, b)), "%C", at(i, j, "%n"))

                    fn.loop("0", "%n", col, vectorize=vec)

                fn.loop("0", "%k", inner, vectorize=vec)

            fn.loop("0", "%m", row, vectorize=vec)
            params = ("ptr noalias readonly %A, i64 %lda, ptr noalias readonly %B, i64 %ldb, "
                      "ptr noalias %C, i64 %m, i64 %n, i64 %k")
        else:
            def row(i):
                fn.store("0.0", "%y", i)

                def col(p):
                    a = fn.load("%A", at(p, i, "%lda") if ta else at(i, p, "%lda"))
                    x = fn.load("%x", p)
                    acc = fn.load("%y", i)
                    fn.store(fn.em.fadd(acc, fn.em.fmul(a, x)), "%y", i)

                fn.loop("0", "%k", col, vectorize=vec)

            fn.loop("0", "%m", row, vectorize=vec)
            params = ("ptr noalias readonly %A, i64 %lda, ptr noalias readonly %x, "
                      "ptr noalias %y, i64 %m, i64 %k")
        fn.line("ret void")
        self.parts.append(f"define internal void @{name}({params}) noinline nounwind {{\n"
                          "entry:\n" + fn.text() + "\n}")
        return name

    def _gemv(self, st, pa, ta, sa, px, m, k, y) -> None:
        """y (m) = A (m x k) x (k); A stored row-major with shape ``sa`` (as a
        transpose when ``ta``)."""
        fn = st.fn
        f, own, done = self._choose(fn, "dgemv", fn.i64("mul", m, k), "gemv")
        ld = st.extent(sa[-1])
        # Row-major A (m x k) is column-major A^T (k x m): y = (A^T)^T x is
        # trans "T" with M = k, N = m; a transposed view of a stored (k x m)
        # matrix is column-major A itself: trans "N" with M = m, N = k.
        rows, cols = (m, k) if ta else (k, m)
        s = self._blas_args(fn, [("tr", "char", "N" if ta else "T"), ("M", "int", rows),
                                 ("N", "int", cols), ("lda", "int", ld), ("inc", "int", "1")])
        fn.line(f"call void {f}(ptr {s['tr']}, ptr {s['M']}, ptr {s['N']}, ptr {s['one']}, "
                f"ptr {pa}, ptr {s['lda']}, ptr {px}, ptr {s['inc']}, ptr {s['zero']}, "
                f"ptr {y}, ptr {s['inc']})")
        fn.line(f"br label %{done}")
        fn.start_block(own)
        loops = self._loop_function("gemv", ta)
        fn.line(f"call void @{loops}(ptr {pa}, i64 {ld}, ptr {px}, ptr {y}, i64 {m}, i64 {k})")
        fn.line(f"br label %{done}")
        fn.start_block(done)

    # -- the module ----------------------------------------------------------
    def main_function(self, steps: list) -> str:
        """``N__run(bufs, dims)``: the steps in order; large parallel ones
        (rows of loops, row blocks of products) through the thread callback
        when one is installed."""
        em = Emitter(self.state, self.fast_math)
        fn = _Fn(em)
        dims = self._load_dims(fn)
        par = fn.tmp()
        fn.line(f"{par} = load ptr, ptr @{self.name}__parallel, align 8")
        has_par = fn.tmp()
        fn.line(f"{has_par} = icmp ne ptr {par}, null")
        for step, fname in steps:
            rows, work, threshold = self._schedule(fn, step, dims)
            if work is None:
                fn.line(f"call void @{fname}(ptr %bufs, ptr %dims, i64 0, i64 {rows})")
                continue
            big = fn.tmp()
            fn.line(f"{big} = icmp sge i64 {work}, {threshold}")
            go = fn.tmp()
            fn.line(f"{go} = and i1 {big}, {has_par}")
            lp, ls, ln = fn.label("par"), fn.label("seq"), fn.label("next")
            fn.line(f"br i1 {go}, label %{lp}, label %{ls}")
            fn.start_block(lp)
            fn.line(f"call void {par}(ptr @{fname}, ptr %bufs, ptr %dims, i64 {rows})")
            fn.line(f"br label %{ln}")
            fn.start_block(ls)
            fn.line(f"call void @{fname}(ptr %bufs, ptr %dims, i64 0, i64 {rows})")
            fn.line(f"br label %{ln}")
            fn.start_block(ln)
        fn.line("ret void")
        return (f"define void @{self.name}__run(ptr %bufs, ptr %dims) nounwind {{\nentry:\n"
                + fn.text() + "\n}")

    def _schedule(self, fn: _Fn, step: Step, dims: dict):
        """(rows, work, threshold) of a step: the range of its leading index
        (rows, or row blocks of a product), and the work that decides
        whether threads pay off (None: always run in place)."""
        ins = self.instrs[step.slot]
        shape = self.shapes[step.slot]
        if step.kind == "matmul":
            la, lb = self.shapes[ins.args[0]], self.shapes[ins.args[1]]
            if len(la) < 2 or len(lb) > 2:
                return "1", None, None
            m = "1"
            for d in la[:-1]:
                m = fn.i64("mul", m, _extent(d, dims))
            nb = self.n_blocks(fn, m)
            n = _extent(lb[-1], dims) if len(lb) == 2 else "1"
            work = fn.i64("mul", fn.i64("mul", m, n), _extent(la[-1], dims))
            return nb, work, PARALLEL_MIN_FLOPS
        rows = _extent(shape[0], dims) if shape else "1"
        if not step.parallel or not shape:
            return rows, None, None
        src = self.shapes[ins.args[0]] if step.kind == "reduce" else shape
        size = str(self._weight(step.slot))
        for d in src:
            size = fn.i64("mul", size, _extent(d, dims))
        return rows, size, PARALLEL_MIN_WORK

    def _weight(self, slot: int) -> int:
        """Work per entry of a step: the cost (:func:`_op_cost`) of its own
        op, at least 1 (a store or an accumulation), plus that of every
        fused op it computes."""
        ins = self.instrs[slot]
        weight = max(1, _op_cost(ins.op))
        stack, seen = list(ins.args), {slot}
        while stack:
            s = stack.pop()
            if s in seen or self.plan.is_material(s):
                continue
            seen.add(s)
            weight += _op_cost(self.instrs[s].op)
            stack.extend(self.instrs[s].args)
        return weight

    def c_entry(self) -> str:
        """``N(inputs..., outputs..., dims...)``: the C API.  Scratch buffers
        come from one malloc sized from the dims; constant arrays are the
        module's own globals."""
        plan = self.plan
        prog = self.program
        params = [f"ptr %in{j}" for j in range(len(prog.inputs))]
        params += [f"ptr %out{k}" for k in range(len(prog.outputs))]
        params += [f"i64 %{_c_dim(d)}" for d in plan.dims]
        dims = {d: f"%{_c_dim(d)}" for d in plan.dims}
        n = len(self.order)
        lines = [f"  %bufs = alloca [{max(n, 1)} x ptr], align 8",
                 f"  %dims = alloca [{max(len(plan.dims), 1)} x i64], align 8"]
        for m, d in enumerate(plan.dims):
            lines.append(f"  %dq{m} = getelementptr inbounds i64, ptr %dims, i64 {m}")
            lines.append(f"  store i64 {dims[d]}, ptr %dq{m}, align 8")
        # Scratch: one block, buffers at running offsets (in doubles).
        total = "0"
        offsets = []
        for b in plan.scratch:
            size = "1"
            for q, d in enumerate(b.shape):
                e = _extent(d, dims)
                lines.append(f"  %s{b.index}.{q} = mul i64 {size}, {e}")
                size = f"%s{b.index}.{q}"
            offsets.append(total)
            lines.append(f"  %t{b.index} = add i64 {total}, {size}")
            total = f"%t{b.index}"
        lines += [f"  %bytes = mul i64 {total}, 8",
                  "  %bytes1 = add i64 %bytes, 8",
                  "  %block = call ptr @malloc(i64 %bytes1)",
                  "  %nomem = icmp eq ptr %block, null",
                  "  br i1 %nomem, label %fail, label %run",
                  "run:"]
        self.state.decls["malloc"] = "declare noalias ptr @malloc(i64) nounwind"
        self.state.decls["free"] = "declare void @free(ptr) nounwind"
        for pos, (kind, k) in enumerate(self.order):
            if kind == "input":
                src = f"%in{k}"
            elif kind == "output":
                src = f"%out{k}"
            elif kind == "array":
                src = f"@{self.name}__array{k}"
            else:
                src = f"%sp{k}"
                lines.append(f"  %sp{k} = getelementptr inbounds double, ptr %block, "
                             f"i64 {offsets[k]}")
            lines.append(f"  %bq{pos} = getelementptr inbounds ptr, ptr %bufs, i64 {pos}")
            lines.append(f"  store ptr {src}, ptr %bq{pos}, align 8")
        lines += [f"  call void @{self.name}__run(ptr %bufs, ptr %dims)",
                  "  call void @free(ptr %block)",
                  "  ret i32 0",
                  "fail:",
                  "  ret i32 1"]
        return (f"define i32 @{self.name}({', '.join(params)}) nounwind {{\nentry:\n"
                + "\n".join(lines) + "\n}")

    def array_globals(self) -> list:
        """The constant arrays as module globals (for shared libraries)."""
        out = []
        for b in self.plan.arrays:
            vals = self.instrs[b.slot].payload.ravel()
            body = ", ".join(f"double {fmt_double(v)}" for v in vals)
            out.append(f"@{self.name}__array{b.index} = private unnamed_addr constant "
                       f"[{len(vals)} x double] [{body}], align 8")
        return out


def _op_cost(op: str) -> int:
    """Work of one entry of ``op``: MATH_WEIGHT for an elementwise math
    function (an intrinsic, libm, or a hook that calls one), 1 for another
    elementwise op, 0 for the rest (views and leaves only rewrite indices
    or are constants)."""
    if op not in OPS:
        return 0
    low = OPS[op].lowering
    light = isinstance(low, Instruction) or (isinstance(low, Hook) and not low.calls)
    return 1 if light else MATH_WEIGHT


def _max_blocks() -> int:
    """The most row blocks a matrix product is cut into: the machine's
    cores (baked into the IR as a constant, see MIN_BLOCK_ROWS)."""
    return max(1, os.cpu_count() or 1)


_IR_TYPE = {"float64": "double", "int64": "i64"}


def _extent(d, dims: dict) -> str:
    return str(d) if isinstance(d, int) else dims[d]


def _c_dim(d: str) -> str:
    return f"dim.{d}"


def module_text(plan: TensorPlan, name: str, *, vector_math: bool = True,
                fast_math: bool = False, c_entry: bool = False) -> str:
    """The LLVM IR module computing ``plan`` (see the module docstring for
    its functions and calling convention).  ``c_entry`` adds the C API of
    shared libraries and embeds the constant arrays."""
    gen = _Gen(plan, name, vector_math, fast_math, small_loops=not c_entry)
    steps = [(step, gen.step_function(j, step)) for j, step in enumerate(plan.steps)]
    main = gen.main_function(steps)
    if c_entry:
        main += "\n\n" + gen.c_entry()
    globals_ = (gen.array_globals() if c_entry else []) + [
                f"@{name}__dgemm = global ptr null, align 8",
                f"@{name}__dgemv = global ptr null, align 8",
                f"@{name}__parallel = global ptr null, align 8"]
    prog = plan.program
    head = (f'; symdiff tensor kernel "{name}": inputs {", ".join(prog.inputs)}; '
            f"{len(prog.outputs)} outputs; {len(plan.steps)} steps; dims {plan.dims}")
    metadata = ('!0 = distinct !{!0, !1, !2}\n'
                '!1 = !{!"llvm.loop.vectorize.enable", i1 false}\n'
                '!2 = !{!"llvm.loop.unroll.disable"}')
    return "\n".join([head, *globals_, *gen.state.decls.values()]) + "\n\n" + "\n\n".join(
        gen.state.extra_defs + gen.parts + [main, metadata]) + "\n"
