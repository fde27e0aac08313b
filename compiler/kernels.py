"""The kernels' LLVM functions as IR text: bodies, chunks, the row loop and
the two C-ABI kernels.

``N`` is the user's function name::

    void N(const double *in, double *out)                         C ABI
    void N_batch(const double *X, i64 row_stride, i64 col_stride,
                 double *Y, i64 nrows)                            C ABI
    void N_batch_fixed(X, row_stride, col_stride, Y, nrows,
                       const i64 *cols, i64 ncols, const double *base)
                       (JIT: batch() with fixed inputs)

All funnel into one loop, ``N__rows(X, Y, nrows)``, over contiguous rows
(the scalar kernel is ``N__rows(in, out, 1)``; the batch kernel gathers
strided rows block-wise into a buffer first, on the stack or for wide rows
the heap), except in the scalar
module of a small program, whose ``N`` is the body itself
(:func:`direct_scalar_kernel`).  The computation itself is
``N__body(x, y)`` -- ``alwaysinline`` for small programs, so the loop
vectorizer widens the row loop -- or, for large programs, a chain of
``N__chunkK(x, scratch, y)`` functions passing live values through a scratch
buffer (machine-code generation is superlinear in function size; chunking
keeps it linear).  :func:`compiler.plan.plan` holds the size policy.
"""

from __future__ import annotations

import bisect

from symdiff.core.program import Program

from .lowering import Emitter, ModuleState, fmt_double
from .plan import Plan

__all__ = ["body_functions", "rows_function", "scalar_kernel", "direct_scalar_kernel",
           "batch_kernel", "batch_fixed_kernel", "gather_on_heap", "loop_metadata", "emit_body",
           "scratch_plan", "outputs_by_chunk"]

# Scratch buffers above this many bytes come from malloc, not the stack
# (Python threads may have small stacks).
_STACK_SCRATCH_MAX = 64 * 1024


def _gather_block_rows(n: int) -> int:
    # Rows per gather block for strided batches: about 32 KB (one row when
    # a row is larger).
    return max(1, min(256, 4096 // max(n, 1)))


def emit_body(em: Emitter, program: Program, lo: int, hi: int, *, x: str, y: str,
              scratch: str | None, scratch_slot: dict, out_slots: dict,
              store_scratch: set) -> None:
    """Emit instructions lo..hi-1.  Inputs are read from ``x[j]`` when first
    used; values defined before ``lo`` come from ``scratch``; outputs defined
    here are stored to ``y``; values in ``store_scratch`` are spilled.

    This loop runs on every compile, cache hits included (the cache keys on
    the emitted text), so binary instructions are formatted inline here
    (see :meth:`Emitter.binary_prefixes`) and everything else goes through
    :meth:`Emitter.op`."""
    instrs = program.instrs
    vals: dict[int, str] = {}
    get = vals.get
    binops = em.binary_prefixes()
    lower = em.op
    append = em.lines.append

    def value(s: int) -> str:
        # Operands not defined in this function: constants, inputs and
        # values from earlier chunks.
        ins = instrs[s]
        if ins.op == "const":
            v = fmt_double(ins.payload)
        elif ins.op == "input":
            v = em.load(x, str(ins.payload))
        else:  # defined in an earlier chunk
            v = em.load(scratch, str(scratch_slot[s]))
        vals[s] = v
        return v

    for k in range(lo, hi):
        ins = instrs[k]
        op = ins.op
        if op == "input" or op == "const":
            continue
        prefix = binops.get(op)
        if prefix is not None and len(ins.args) == 2:
            # Named after the instruction (%v<k>), so no counter is needed;
            # the emitter's own temporaries are %t<n>.
            a, b = ins.args
            r = f"%v{k}"
            append(f"  {r} = {prefix}{get(a) or value(a)}, {get(b) or value(b)}")
        else:
            r = lower(op, *[get(a) or value(a) for a in ins.args])
        vals[k] = r
        if k in store_scratch:
            em.store(r, scratch, scratch_slot[k])
    # Outputs: stored after all loads of this function (so in/out overlap in
    # the single-body case is harmless).  Inputs and constants that are
    # outputs are stored by the chunk that covers their slot.
    for pos, s in out_slots.items():
        em.store(vals.get(s) or value(s), y, pos)


def outputs_by_chunk(program: Program, chunks) -> list[dict]:
    """For each chunk, {output position: slot} of outputs it stores."""
    res = [dict() for _ in chunks]
    starts = [lo for lo, _ in chunks]
    for pos, s in enumerate(program.outputs):
        res[bisect.bisect_right(starts, s) - 1][pos] = s
    return res


def scratch_plan(program: Program, chunks) -> tuple[dict, int, list[set]]:
    """Scratch slots for values crossing chunk boundaries.

    A value defined in chunk a and used in chunk b > a gets a slot from
    chunk a through chunk b; slots are reused afterwards (free list), so the
    scratch size is the peak number of values live across a boundary.
    """
    instrs = program.instrs
    chunk_of = []
    for c, (lo, hi) in enumerate(chunks):
        chunk_of.extend([c] * (hi - lo))
    # last[a]: the last chunk reading value a, for values read outside
    # their own chunk (inputs and constants are never passed on).
    last = {}
    for k, ins in enumerate(instrs):
        ck = chunk_of[k]
        for a in ins.args:
            if chunk_of[a] != ck and last.get(a, -1) < ck and instrs[a].op not in (
                    "input", "const"):
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


def body_functions(program: Program, name: str, pl: Plan, state: ModuleState,
                   fast_math: bool) -> tuple[list[str], list[str], int]:
    """(function definitions, call templates, scratch doubles) of the
    computation: ``N__body`` or the ``N__chunkK`` chain.  A call template
    has ``{x}``, ``{y}`` and ``{s}`` (scratch) placeholders."""
    parts: list[str] = []
    if pl.chunks is None:
        em = Emitter(state, fast_math)
        emit_body(em, program, 0, len(program.instrs), x="%x", y="%y", scratch=None,
                  scratch_slot={}, out_slots=dict(enumerate(program.outputs)),
                  store_scratch=set())
        attrs = "alwaysinline nounwind" if pl.inline_body else "noinline nounwind"
        parts.append(f"define internal void @{name}__body(ptr noalias nocapture readonly %x, "
                     f"ptr noalias nocapture writeonly %y) {attrs} {{\nentry:\n"
                     + "\n".join(em.lines) + "\n  ret void\n}")
        return parts, [f"call void @{name}__body(ptr {{x}}, ptr {{y}})"], 0
    slot, n_scratch, spill = scratch_plan(program, pl.chunks)
    outs = outputs_by_chunk(program, pl.chunks)
    calls = []
    for c, (lo, hi) in enumerate(pl.chunks):
        em = Emitter(state, fast_math)
        emit_body(em, program, lo, hi, x="%x", y="%y", scratch="%s",
                  scratch_slot=slot, out_slots=outs[c], store_scratch=spill[c])
        parts.append(f"define internal void @{name}__chunk{c}(ptr noalias nocapture readonly "
                     f"%x, ptr noalias nocapture %s, ptr noalias nocapture writeonly %y) "
                     f"noinline nounwind {{\nentry:\n" + "\n".join(em.lines)
                     + "\n  ret void\n}")
        calls.append(f"call void @{name}__chunk{c}(ptr {{x}}, ptr {{s}}, ptr {{y}})")
    return parts, calls, n_scratch


def rows_function(name: str, n: int, m: int, calls: list[str], n_scratch: int,
                  state: ModuleState) -> str:
    """``N__rows(X, Y, nrows)``: the one loop over contiguous rows, running
    the body (or chunk chain) once per row with the scratch buffer
    allocated once per call."""
    scratch_bytes = 8 * n_scratch
    heap = scratch_bytes > _STACK_SCRATCH_MAX
    # (Also for the batch kernels' heap gather buffer: batch_kernel() gets
    # no module state, and every module with a batch kernel has this loop.)
    if (n_scratch and heap) or gather_on_heap(n):
        state.decls["malloc"] = "declare noalias ptr @malloc(i64) nounwind"
        state.decls["free"] = "declare void @free(ptr) nounwind"
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
    return (f"define internal void @{name}__rows(ptr noalias nocapture readonly %X, "
            f"ptr noalias nocapture writeonly %Y, i64 %nrows) noinline nounwind "
            f"{{\nentry:\n" + "\n".join(lines) + "\n  ret void\n}")


def scalar_kernel(name: str) -> str:
    """``void N(const double *in, double *out)``: ``N__rows(in, out, 1)``."""
    return (f"define void @{name}(ptr nocapture readonly %in, ptr nocapture writeonly "
            f"%out) nounwind {{\nentry:\n  call void @{name}__rows(ptr %in, ptr %out, "
            f"i64 1)\n  ret void\n}}")


def direct_scalar_kernel(program: Program, name: str, state: ModuleState,
                         fast_math: bool) -> str:
    """``void N(const double *in, double *out)`` computing the body in place:
    the scalar kernel of a module without a row loop (see
    :func:`compiler.emit.scalar_module_text`).  The same instructions as the
    loop's body, so every row of a batch gets the same bits as one call."""
    em = Emitter(state, fast_math)
    emit_body(em, program, 0, len(program.instrs), x="%in", y="%out", scratch=None,
              scratch_slot={}, out_slots=dict(enumerate(program.outputs)),
              store_scratch=set())
    return (f"define void @{name}(ptr nocapture readonly %in, ptr nocapture writeonly "
            f"%out) nounwind {{\nentry:\n" + "\n".join(em.lines) + "\n  ret void\n}")


def gather_on_heap(n: int) -> bool:
    """Whether the batch kernels' gather buffer for ``n`` inputs comes
    from malloc (above :data:`_STACK_SCRATCH_MAX` bytes) instead of the
    stack.  One row of a 1.1-million-input function is 8.8 MB: on the
    stack it overflowed every thread's stack (a segfault)."""
    return 8 * _gather_block_rows(n) * n > _STACK_SCRATCH_MAX


def _gather_buffer(n: int, after: str) -> list[str]:
    """IR allocating ``%buf`` (B rows of n doubles) on the stack or the
    heap, then branching to ``after``; on a failed malloc, to
    ``%nomem``."""
    B = _gather_block_rows(n)
    if not gather_on_heap(n):
        return [f"  %buf = alloca double, i64 {B * n}, align 64", f"  br label %{after}"]
    return [f"  %buf = call ptr @malloc(i64 {8 * B * n})",
            "  %nobuf = icmp eq ptr %buf, null",
            f"  br i1 %nobuf, label %nomem, label %{after}"]


def _gather_exit(n: int, m: int) -> list[str]:
    """The exit blocks after a gather: ``%finish`` frees a heap buffer;
    ``%nomem`` (heap only) fills Y with NaN, so a failed allocation shows
    in every output instead of leaving Y unwritten."""
    if not gather_on_heap(n):
        return ["finish:", "  br label %done"]
    return [
        "finish:",
        "  call void @free(ptr %buf)",
        "  br label %done",
        "nomem:",
        f"  %ny = mul nsw i64 %nrows, {m}",
        "  %nyz = icmp sgt i64 %ny, 0",
        "  br i1 %nyz, label %nan, label %done",
        "nan:",
        "  %q = phi i64 [ 0, %nomem ], [ %q.next, %nan ]",
        "  %qp = getelementptr inbounds double, ptr %Y, i64 %q",
        "  store double 0x7FF8000000000000, ptr %qp, align 8",
        "  %q.next = add nuw nsw i64 %q, 1",
        "  %qend = icmp eq i64 %q.next, %ny",
        "  br i1 %qend, label %done, label %nan",
    ]


def _gather_blocks(n: int, m: int, name: str, start: str, column: list[str],
                   ncols: str) -> list[str]:
    """The block loop shared by the strided and fixed-input batch kernels:
    for each block of B rows from ``start``, copy ``ncols`` columns of X
    (column j to buffer column ``%dj``, which the ``column`` lines
    define from ``%j``) and run ``N__rows`` on the buffer."""
    B = _gather_block_rows(n)
    return [
        "blk:",
        f"  %b0 = phi i64 [ 0, %{start} ], [ %b0.next, %blk.end ]",
        "  %left = sub i64 %nrows, %b0",
        f"  %small = icmp slt i64 %left, {B}",
        f"  %cnt = select i1 %small, i64 %left, i64 {B}",
        f"  %anycol = icmp sgt i64 {ncols}, 0",
        "  br i1 %anycol, label %gcol, label %run",
        # Column-outer order: Fortran-ordered X (row stride 1) is read
        # sequentially; C-ordered views read one element per row.
        "gcol:",
        "  %j = phi i64 [ 0, %blk ], [ %j.next, %grow.end ]",
        "  %coff = mul nsw i64 %j, %cs",
        *column,
        "  br label %grow",
        "grow:",
        "  %r = phi i64 [ 0, %gcol ], [ %r.next, %grow ]",
        "  %row = add nsw i64 %b0, %r",
        "  %rowoff = mul nsw i64 %row, %rs",
        "  %off = add nsw i64 %rowoff, %coff",
        "  %src = getelementptr inbounds double, ptr %X, i64 %off",
        "  %v = load double, ptr %src, align 8",
        f"  %boff = mul nsw i64 %r, {n}",
        "  %doff = add nsw i64 %boff, %dj",
        "  %dst = getelementptr inbounds double, ptr %buf, i64 %doff",
        "  store double %v, ptr %dst, align 8",
        "  %r.next = add nuw nsw i64 %r, 1",
        "  %rend = icmp eq i64 %r.next, %cnt",
        # A plain copy loop: vectorized it becomes AVX-512 scatters
        # (runtime strides), which measured slower than scalar moves.
        "  br i1 %rend, label %grow.end, label %grow, !llvm.loop !0",
        "grow.end:",
        "  %j.next = add nuw nsw i64 %j, 1",
        f"  %jend = icmp eq i64 %j.next, {ncols}",
        "  br i1 %jend, label %run, label %gcol",
        "run:",
        f"  %yoff = mul nsw i64 %b0, {m}",
        "  %yb = getelementptr inbounds double, ptr %Y, i64 %yoff",
        f"  call void @{name}__rows(ptr %buf, ptr %yb, i64 %cnt)",
        "  br label %blk.end",
        "blk.end:",
        "  %b0.next = add nsw i64 %b0, %cnt",
        "  %bend = icmp sge i64 %b0.next, %nrows",
        "  br i1 %bend, label %finish, label %blk",
    ]


def batch_kernel(name: str, n: int, m: int) -> str:
    """``void N_batch(X, row_stride, col_stride, Y, nrows)``: contiguous X
    goes straight to ``N__rows``; strided X is gathered block-wise first
    (into a stack buffer, or a malloc'd one for wide rows:
    :func:`gather_on_heap`).  For ``n > 0`` also
    ``N_batch_fixed`` (:func:`batch_fixed_kernel`).  Uses the loop
    metadata of :func:`loop_metadata` when ``n > 0``; a heap buffer needs
    ``malloc``/``free``, which :func:`rows_function` declares."""
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
        lines += ["strided:", *_gather_buffer(n, "blk"),
                  *_gather_blocks(n, m, name, "strided", ["  %dj = add i64 %j, 0"], str(n)),
                  *_gather_exit(n, m)]
    lines.append("done:")
    text = (f"define void @{name}_batch(ptr nocapture readonly %X, i64 %rs, i64 %cs, "
            f"ptr nocapture writeonly %Y, i64 %nrows) nounwind {{\nentry:\n"
            + "\n".join(lines) + "\n  ret void\n}")
    if n:
        text += "\n\n" + batch_fixed_kernel(name, n, m)
    return text


def batch_fixed_kernel(name: str, n: int, m: int) -> str:
    """``void N_batch_fixed(X, row_stride, col_stride, Y, nrows, cols,
    ncols, base)``: rows whose inputs are partly the same for every row.

    ``base`` holds all n inputs (the fixed ones matter); column k of X
    (``k < ncols``) is input ``cols[k]``.  The buffer's rows are filled
    from ``base`` once per call and only X's columns are gathered per
    block, so fixed inputs are read from one vector instead of being
    copied into every row of X (the per-sample softmax model: 650 fixed
    parameters, 74 data columns)."""
    B = _gather_block_rows(n)
    lines = [
        "  %has = icmp sgt i64 %nrows, 0",
        "  br i1 %has, label %alloc, label %done",
        "alloc:",
        *_gather_buffer(n, "fill"),
        # Every buffer row starts as a copy of base; gathers overwrite only
        # X's columns, so the fixed ones stay put for the whole call.
        "fill:",
        "  %fi = phi i64 [ 0, %alloc ], [ %fi.next, %fill ]",
        f"  %fk = urem i64 %fi, {n}",
        "  %fsrc = getelementptr inbounds double, ptr %base, i64 %fk",
        "  %fv = load double, ptr %fsrc, align 8",
        "  %fdst = getelementptr inbounds double, ptr %buf, i64 %fi",
        "  store double %fv, ptr %fdst, align 8",
        "  %fi.next = add nuw nsw i64 %fi, 1",
        f"  %fend = icmp eq i64 %fi.next, {B * n}",
        "  br i1 %fend, label %blk, label %fill",
        *_gather_blocks(n, m, name, "fill", [
            "  %djp = getelementptr inbounds i64, ptr %cols, i64 %j",
            "  %dj = load i64, ptr %djp, align 8"], "%ncols"),
        *_gather_exit(n, m),
        "done:",
    ]
    return (f"define void @{name}_batch_fixed(ptr nocapture readonly %X, i64 %rs, i64 %cs, "
            f"ptr nocapture writeonly %Y, i64 %nrows, ptr nocapture readonly %cols, "
            f"i64 %ncols, ptr nocapture readonly %base) nounwind {{\nentry:\n"
            + "\n".join(lines) + "\n  ret void\n}")


def loop_metadata() -> str:
    """The ``!0`` loop metadata of the gather loop (vectorization off)."""
    return '!0 = distinct !{!0, !1}\n!1 = !{!"llvm.loop.vectorize.enable", i1 false}'
