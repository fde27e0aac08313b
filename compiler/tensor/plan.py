"""Planning a tensor program: which values get a buffer, and the steps
(fused loops, reductions, matrix products) that fill them.

A value is *materialized* (given a buffer) when it must be: program inputs
and outputs, matrix products (BLAS writes them), reductions, the
scatter of ``unindex``, constant arrays, the operands of matrix products
(BLAS reads plain matrices: a value, or the transpose of one), and
elementwise values read by two or more consumers (computing ``exp`` once
beats computing it twice).  Everything else is *fused*: an elementwise
chain and the views on the way (broadcasts, transposes, indexing, reshapes
that only add or drop axes of length 1, ``stop_gradient``) are computed
inline, entry by entry, inside the loop of the value that consumes them,
with no temporary array.  A reduction fuses the chain that feeds it into
its own loop.

A reshape of a materialized value is an *alias* of its buffer (buffers are
C-contiguous, so reshaping reinterprets the same memory).

The plan is pure data over the program's slots and symbolic shapes; sizes
are bound per call from the inputs' shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from symdiff.core.ops import OPS
from symdiff.core.program import Program

__all__ = ["Buffer", "Step", "TensorPlan", "plan_tensor_program", "VIEW_OPS", "REDUCE_OPS",
           "EPILOGUE_HOSTS", "is_pointwise"]

#: Ops computed inline by index arithmetic (no arithmetic on values).
VIEW_OPS = frozenset({"transpose", "broadcast_to", "index", "reshape", "stop_gradient"})
#: Reductions over axes (a "reduce" step each).
REDUCE_OPS = frozenset({"sum", "reduce_max"})
#: Ops whose step can apply an epilogue in place: products and reductions.
EPILOGUE_HOSTS = frozenset({"matmul"}) | REDUCE_OPS
#: Ops that always own a buffer.
_MATERIAL_OPS = EPILOGUE_HOSTS | {"unindex"}


def is_pointwise(op: str) -> bool:
    """True for ops computed entry by entry at their own index: the op
    table's elementwise ops and ``stop_gradient`` (the identity)."""
    return op in OPS or op == "stop_gradient"


@dataclass(frozen=True)
class Buffer:
    """Storage of one materialized slot.

    ``kind``: "input", "output", "array" (a constant array passed in),
    "scratch" (part of the per-call scratch area) or "alias" (the buffer of
    slot ``alias_of``, reinterpreted with this slot's shape).  ``index``:
    the position among the buffers of its kind.  ``dtype``: "float64" or
    "int64".
    """

    slot: int
    shape: tuple
    kind: str
    index: int
    dtype: str = "float64"
    alias_of: int | None = None


@dataclass(frozen=True)
class Step:
    """One unit of work writing the buffer of ``slot``.

    ``kind``: "loop" (an elementwise value over its shape), "reduce" (a sum
    or max over axes of a fused operand), "matmul", "unindex" (zero, then
    scatter) or "copy" (an output that is another output, an input or a
    leaf: written by a loop as well).  ``parallel``: the leading axis may be
    split across threads (its entries are independent).
    """

    kind: str
    slot: int
    parallel: bool = False
    position: int = -1                  # for "copy": the output position written
    epilogue: int | None = None         # matmul, reduce: the scaled slot computed in place


@dataclass
class TensorPlan:
    """The result of :func:`plan_tensor_program`."""

    program: Program
    dims: list                          # dimension names, in order of first use
    buffers: dict = field(default_factory=dict)   # slot -> Buffer
    steps: list = field(default_factory=list)
    output_buffers: list = field(default_factory=list)   # one Buffer per output position
    arrays: list = field(default_factory=list)    # "array" Buffers, in index order
    scratch: list = field(default_factory=list)   # "scratch" Buffers, in index order
    epilogue: dict = field(default_factory=dict)   # scaled slot -> its product

    @property
    def buffer_keys(self) -> list:
        """(kind, index) of every buffer in the order of the kernel's
        pointer array: the inputs, the outputs, the constant arrays, the
        scratch buffers."""
        return ([("input", k) for k in range(len(self.program.inputs))]
                + [("output", k) for k in range(len(self.output_buffers))]
                + [("array", b.index) for b in self.arrays]
                + [("scratch", b.index) for b in self.scratch])

    def buffer(self, slot: int) -> Buffer:
        """The buffer holding ``slot`` (following aliases)."""
        b = self.buffers[slot]
        while b.kind == "alias":
            b = self.buffers[b.alias_of]
        return b

    def is_material(self, slot: int) -> bool:
        """True if ``slot`` is read from memory rather than computed inline."""
        return slot in self.buffers


def _only_unit_axes_change(a: tuple, b: tuple) -> bool:
    return [d for d in a if d != 1] == [d for d in b if d != 1]


def plan_tensor_program(program: Program) -> TensorPlan:
    """Decide buffers and steps for a tensor ``program``."""
    from symdiff.core.shapes import dims_of

    instrs = program.instrs
    n = len(instrs)
    shapes = [i.shape for i in instrs]
    plan = TensorPlan(program, dims_of(shapes))

    # Uses, counted through views: a view read twice reads its operand twice.
    uses = [0] * n
    for k in range(n - 1, -1, -1):
        ins = instrs[k]
        if not ins.args:
            continue
        for a in ins.args:
            uses[a] += max(1, uses[k]) if ins.op in VIEW_OPS else 1
    for o in program.outputs:
        uses[o] += 1

    material: set = set()
    for k, ins in enumerate(instrs):
        op = ins.op
        if op == "input" or op == "array" or op in _MATERIAL_OPS:
            material.add(k)
        if op == "matmul":
            for a in ins.args:
                base = a
                if instrs[a].op == "transpose" and len(shapes[a]) == 2:
                    base = instrs[a].args[0]
                material.add(base)
        elif op == "reshape" and not _only_unit_axes_change(shapes[ins.args[0]], shapes[k]):
            material.add(ins.args[0])       # reinterpreted in place: an alias
        elif op in OPS and uses[k] >= 2:
            material.add(k)
    # A reshape of a materialized value aliases its buffer (program order
    # visits an alias's operand first, so chains of reshapes alias too).
    alias: dict = {}
    outputs = set(program.outputs)
    for k, ins in enumerate(instrs):
        if ins.op == "reshape" and k not in outputs and (ins.args[0] in material
                                                          or ins.args[0] in alias):
            alias[k] = ins.args[0]

    # Epilogues: an elementwise value computed from a product or a
    # reduction P (its only use) and from values known before P is computed
    # their own step is skipped: P's step applies it in place right after P
    # is written (tanh(X @ W1 + b1) and X.T @ G / m block by block while the
    # block is in cache; a mean's sum / m).  One memory pass and one step
    # fewer each.  P shares the epilogue's buffer.
    epilogue: dict = {}

    def known_before(root: int, prod: int) -> bool:
        stack, seen = list(instrs[root].args), set()
        while stack:
            s = stack.pop()
            if s in seen or s == prod:
                continue
            seen.add(s)
            ins_s = instrs[s]
            if s in material or s in alias:
                if not (s < prod or ins_s.op in ("input", "array")):
                    return False
                continue
            if ins_s.op in _MATERIAL_OPS:
                return False
            stack.extend(ins_s.args)
        return True

    def products_read(root: int) -> list:
        """Products and reductions of ``root``'s shape read by its fused
        elementwise computation (through inline elementwise ops only)."""
        found, stack, seen = [], list(instrs[root].args), set()
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            op = instrs[s].op
            if op in EPILOGUE_HOSTS and shapes[s] == shapes[root]:
                found.append(s)
            elif s not in material and s not in alias and is_pointwise(op):
                stack.extend(instrs[s].args)
        return sorted(found, reverse=True)

    for k, ins in enumerate(instrs):
        if ins.op not in OPS or not (k in material or k in outputs):
            continue
        for prod in products_read(k):
            src = instrs[prod]
            fits = (src.op == "matmul" and len(shapes[k]) == 2
                    and len(shapes[src.args[0]]) == 2 and len(shapes[src.args[1]]) == 2) \
                or src.op in REDUCE_OPS
            if (fits and uses[prod] == 1 and prod not in outputs and prod not in epilogue
                    and known_before(k, prod)):
                epilogue[prod] = k
                alias[prod] = k
                material.discard(prod)
                break
    plan.epilogue = {k: prod for prod, k in epilogue.items()}

    # Buffers: inputs, constant arrays, outputs (an op's value is written
    # straight into the output array of its first position) and scratch.
    n_in = len(program.inputs)
    for k in range(n_in):
        plan.buffers[k] = Buffer(k, shapes[k], "input", instrs[k].payload, instrs[k].dtype)
    out_slots = list(program.outputs)
    first_position: dict = {}
    for pos, s in enumerate(out_slots):
        first_position.setdefault(s, pos)
        plan.output_buffers.append(Buffer(s, shapes[s], "output", pos))
    for k, ins in enumerate(instrs):
        if k < n_in:
            continue
        if ins.op == "array":
            plan.buffers[k] = Buffer(k, shapes[k], "array", len(plan.arrays))
            plan.arrays.append(plan.buffers[k])
        elif k in alias:
            plan.buffers[k] = Buffer(k, shapes[k], "alias", -1, alias_of=alias[k])
        elif k in first_position:
            plan.buffers[k] = plan.output_buffers[first_position[k]]
        elif k in material:
            plan.buffers[k] = Buffer(k, shapes[k], "scratch", len(plan.scratch))
            plan.scratch.append(plan.buffers[k])

    # Steps, in program order: every output or scratch buffer is written
    # once (a product or reduction with an epilogue writes the epilogue's).
    for k, ins in enumerate(instrs):
        ep = epilogue.get(k)
        b = plan.buffers.get(k)
        if ep is None and (b is None or b.kind not in ("output", "scratch")
                           or k in plan.epilogue):
            continue
        if ins.op == "matmul":
            plan.steps.append(Step("matmul", k, epilogue=ep))
        elif ins.op in REDUCE_OPS:
            axes = ins.payload[0]
            over_leading = len(shapes[ins.args[0]]) + axes[0] == 0
            plan.steps.append(Step("reduce", k, parallel=not over_leading, epilogue=ep))
        elif ins.op == "unindex":
            plan.steps.append(Step("unindex", k))
        else:
            plan.steps.append(Step("loop", k, parallel=bool(shapes[k])))
    # Outputs whose value lives elsewhere (an input, a constant array, an
    # alias, an earlier output) are copied into their output array.
    for pos, s in enumerate(out_slots):
        if plan.buffers[s] is not plan.output_buffers[pos]:
            plan.steps.append(Step("copy", s, parallel=bool(shapes[s]), position=pos))
    return plan
