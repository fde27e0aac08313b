"""Planning: how a program is laid out in LLVM functions, and at which
optimization levels it is compiled.

The policy constants below carry the measurements they were chosen from
(this 2-core machine; numbers in the report of benchmarks/bench_compiled.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from symdiff.core.program import Program

from .lowering import vecmath_ops

__all__ = ["Plan", "plan", "INLINE_BUDGET", "INLINE_MAX_IO", "VEC_WEIGHT", "CHUNK_MAX",
           "CHUNK_SIZE", "HUGE_OPS", "SCALAR_FAST_CODEGEN_OPS"]


@dataclass(frozen=True)
class Plan:
    """How a program is laid out in LLVM functions.

    ``chunks``: ``None`` for a single body function, else a list of
    ``(lo, hi)`` instruction ranges, one noinline function each.
    ``inline_body``: the body is ``alwaysinline`` in the row loop, which
    the loop vectorizer can then widen.  The JIT then compiles two modules
    (:mod:`compiler.emit`): the scalar entries at once, the batch loop on
    first use.
    ``opt_level``: the IR pipeline level, or None to skip the pipeline;
    ``codegen_level``: the target machine's level; ``slp``: SLP vectorizer
    (these for the module holding the batch loop).
    ``scalar_opt_level``, ``scalar_codegen_level``: the same for the scalar
    module of an ``inline_body`` program.  ``n_ops``: the program's
    operations (counted once here; a count walks the whole program).
    """

    chunks: list | None
    inline_body: bool
    opt_level: int | None
    codegen_level: int
    slp: bool
    scalar_opt_level: int | None = None
    scalar_codegen_level: int = 2
    n_ops: int = 0

    def levels(self) -> dict:
        """The backend levels (keywords of
        :func:`compiler.backend.compile_text`) of the module holding the
        batch loop."""
        return {"opt_level": self.opt_level, "codegen_level": self.codegen_level,
                "slp": self.slp}

    def scalar_levels(self) -> dict:
        """The backend levels of the scalar module of an ``inline_body``
        program."""
        return {"opt_level": self.scalar_opt_level,
                "codegen_level": self.scalar_codegen_level, "slp": False}


# Policy:
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
#    took 150 ms at level 2 against 81 ms for 2,987 ops at level 0): codegen
#    level 0 (fast instruction selection and register allocation): 8-25x
#    faster code generation.  Measured on gradients: prod_1000 (2,995 ops)
#    compiles in 0.09 s instead of 2.6 s and runs at the same speed (6.7 us
#    a call); the 64-32-10 MLP (7,873 ops) in 0.24 s instead of 1.9 s,
#    running 25% slower (9.2 vs 7.3 us).  Huge programs ran 1.3-2.5x
#    slower.  opt=3 never lowers anything.
INLINE_BUDGET = 1500
INLINE_MAX_IO = 32
VEC_WEIGHT = 40
CHUNK_MAX = 3000
CHUNK_SIZE = 2000
HUGE_OPS = 500
#  * The scalar module of an inline_body program (JIT only: the body as
#    straight-line code and two one-call entries; vecmath and the entries'
#    checks are runtime objects, compiler.runtime) skips the IR pipeline
#    unless opt=3: nothing is left for it to inline or vectorize.  Up to
#    SCALAR_FAST_CODEGEN_OPS ops it is generated at codegen level 0:
#    measured on polynomial gradients (6 inputs), a fast-entry call took
#    225 vs 226 ns at 137 ops (compile 2.1 vs 5.3 ms), 251 vs 246 ns at 257
#    ops (2.8 vs 9.1 ms), but 314 vs 266 ns at 389 ops.
SCALAR_FAST_CODEGEN_OPS = 200


def plan(program: Program, opt: int, *, vector_math: bool = False,
         chunk_size: int | None = None) -> Plan:
    """Choose the function layout and optimization levels for ``program``."""
    instrs = program.instrs
    # Positions of the operations (Program.n_ops counts the same).
    op_at = [k for k, i in enumerate(instrs) if i.op != "input" and i.op != "const"]
    ops = len(op_at)
    weight = ops
    if vector_math and ops <= INLINE_BUDGET:  # (weight only grows)
        vec = vecmath_ops()
        weight += VEC_WEIGHT * sum(1 for i in instrs if i.op in vec)
    chunks = None
    if chunk_size is not None or ops > CHUNK_MAX:
        # Chunks hold chunk_size operations each (inputs and constants are
        # free: they are loaded or rematerialized where used): a chunk ends
        # after every chunk_size-th operation.
        size = chunk_size or CHUNK_SIZE
        chunks = []
        lo = 0
        for k in op_at[size - 1::size]:
            chunks.append((lo, k + 1))
            lo = k + 1
        if lo < len(instrs) or not chunks:
            chunks.append((lo, len(instrs)))
    io = len(program.inputs) + len(program.outputs)
    inline = chunks is None and opt > 0 and weight <= INLINE_BUDGET and io <= INLINE_MAX_IO
    level = opt if (inline or opt == 3) else None
    cg = opt
    if opt < 3 and ops > HUGE_OPS:
        cg = 0
    scalar_cg = 0 if (opt < 3 and ops <= SCALAR_FAST_CODEGEN_OPS) else cg
    return Plan(chunks, inline, level, cg, slp=opt >= 3,
                scalar_opt_level=3 if opt == 3 else None, scalar_codegen_level=scalar_cg,
                n_ops=ops)
