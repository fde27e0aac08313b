"""Graph algorithms over the expression DAG.  All iterative.

This module owns every walk over the DAG: collecting reachable nodes,
topological order, use counts, free symbols, substitution and scheduling
into a flat SSA :class:`Program`.  Nothing else in symdiff recurses over
expressions, so graphs of 10^6 nodes and depth 10^5 never meet Python's
recursion limit.

Topological order is cheap here: a node is always created after its
arguments (see :mod:`symdiff.core.node`), so sorting reachable nodes by ``id``
is a valid order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
import contextlib
import gc
from typing import Iterable, NamedTuple, Sequence

from symdiff.core.node import Node, _natural_key, const, symbol

__all__ = ["reachable", "toposort", "free_symbols", "natural_key", "sort_symbols",
           "use_counts", "substitute", "Program", "Instr", "schedule", "count_ops",
           "as_outputs"]


@contextlib.contextmanager
def paused_gc():
    """Pause the cyclic garbage collector.  Graph passes allocate millions
    of small acyclic objects; the collector's repeated full scans would
    otherwise make them superlinear on large graphs."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def as_outputs(outputs) -> list[Node]:
    """Normalize one node, a number, or any (nested) sequence/array of them to
    a flat list of nodes."""
    import numpy as np

    from symdiff.core.symbolic import as_node

    if isinstance(outputs, Node):
        return [outputs]
    if isinstance(outputs, np.ndarray):
        return [as_node(o) for o in outputs.ravel().tolist()]
    if isinstance(outputs, (list, tuple)):
        flat: list[Node] = []
        stack = [iter(outputs)]
        while stack:
            for item in stack[-1]:
                if isinstance(item, (list, tuple)):
                    stack.append(iter(item))
                    break
                if isinstance(item, np.ndarray):
                    flat.extend(as_node(o) for o in item.ravel().tolist())
                else:
                    flat.append(as_node(item))
            else:
                stack.pop()
        return flat
    return [as_node(outputs)]


def reachable(outputs: Iterable[Node]) -> set[Node]:
    """Every node reachable from ``outputs`` (including them)."""
    seen: set[Node] = set()
    stack = list(outputs)
    add = seen.add
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        add(n)
        for a in n.args:
            if a not in seen:
                stack.append(a)
    return seen


def toposort(outputs: Iterable[Node]) -> list[Node]:
    """Reachable nodes, arguments before users: an iterative post-order walk
    from the outputs, visiting arguments in order.  The order depends only
    on the graph's structure, so programs (and their cache keys) are the
    same in every process."""
    order: list[Node] = []
    seen: set[Node] = set()
    add, emit = seen.add, order.append
    for root in outputs:
        if root in seen:
            continue
        add(root)
        stack = [(root, iter(root.args))]
        while stack:
            node, it = stack[-1]
            for a in it:
                if a not in seen:
                    add(a)
                    if a.args:
                        stack.append((a, iter(a.args)))
                        break
                    emit(a)
            else:
                stack.pop()
                emit(node)
    return order


def natural_key(name: str):
    """Sort key putting ``x2`` before ``x10`` (natural name order)."""
    return _natural_key(name)


def sort_symbols(symbols: Iterable[Node]) -> list[Node]:
    """Symbols in natural name order."""
    return sorted(symbols, key=lambda s: natural_key(s.payload))


def free_symbols(outputs) -> list[Node]:
    """The symbols the outputs depend on, in natural name order."""
    return sort_symbols(n for n in reachable(as_outputs(outputs)) if n.op == "sym")


def use_counts(outputs: Iterable[Node]) -> dict[Node, int]:
    """How many times each reachable node is used as an argument (an output
    counts as one use)."""
    outputs = list(outputs)
    counts: dict[Node, int] = {}
    for n in reachable(outputs):
        for a in n.args:
            counts[a] = counts.get(a, 0) + 1
    for o in outputs:
        counts[o] = counts.get(o, 0) + 1
    return counts


def substitute(outputs, mapping: dict) -> list[Node]:
    """Replace nodes (typically symbols) by other expressions, rebuilding the
    graph bottom-up through the simplifying constructors."""
    from symdiff.core.symbolic import apply, as_node

    outs = as_outputs(outputs)
    new: dict[Node, Node] = {k: as_node(v) for k, v in mapping.items()}
    for n in toposort(outs):
        if n in new or not n.args:
            continue
        args = tuple(new.get(a, a) for a in n.args)
        if any(x is not y for x, y in zip(args, n.args)):
            new[n] = apply(n.op, *args)
    return [new.get(o, o) for o in outs]


# ---------------------------------------------------------------------------
# The flat SSA program: the hinge between expressions and every evaluator,
# printer and code generator.


class Instr(NamedTuple):
    """One SSA instruction.  ``op`` is ``"input"`` (payload: input index),
    ``"const"`` (payload: float value) or an op-table name, whose operands
    are the slot numbers in ``args`` (earlier instructions)."""

    op: str
    args: tuple
    payload: object = None


@dataclass(frozen=True)
class Program:
    """A scheduled graph: instruction ``k`` defines slot ``k``.

    ``inputs`` are the input symbols' names in calling order, ``outputs`` the
    slots holding the results.  Every input gets an ``input`` instruction
    (even if unused) so that slot numbering is independent of usage.
    """

    inputs: tuple
    instrs: tuple
    outputs: tuple

    @property
    def n_ops(self) -> int:
        """Operations: instructions that are neither inputs nor constants."""
        return sum(1 for i in self.instrs if i.op not in ("input", "const"))

    def structural_hash(self) -> str:
        """A stable SHA-256 over the program's structure (inputs, ops,
        argument slots, exact constant bits, outputs)."""
        cached = self.__dict__.get("_structural_hash")
        if cached is not None:
            return cached
        # One repr of plain tuples (C-level) instead of a hash update per
        # instruction: ~10x faster on 10^4-instruction programs, which the
        # compile cache hashes on every lookup.  repr(float) round-trips
        # exactly and keeps -0.0 apart from 0.0.
        text = repr((self.inputs, [tuple(i) for i in self.instrs], self.outputs))
        digest = hashlib.sha256(text.encode()).hexdigest()
        object.__setattr__(self, "_structural_hash", digest)  # frozen: memo only
        return digest


def schedule(outputs, inputs: Sequence | None = None) -> Program:
    """Flatten ``outputs`` into a :class:`Program` (CSE is implicit: each
    distinct node is one instruction).

    ``inputs`` are symbols or names; by default all free symbols in natural
    order.  A free symbol missing from ``inputs`` is an error.
    """
    with paused_gc():
        return _schedule(as_outputs(outputs), inputs)


def _schedule(outs: list, inputs) -> Program:
    nodes = toposort(outs)
    if inputs is None:
        in_syms = sort_symbols(n for n in nodes if n.op == "sym")
    else:
        in_syms = [symbol(s) if isinstance(s, str) else s for s in inputs]
        for s in in_syms:
            if not isinstance(s, Node) or s.op != "sym":
                raise TypeError(f"inputs must be symbols, got {s!r}")
        if len(set(in_syms)) != len(in_syms):
            raise ValueError("inputs contain a repeated symbol")
    slot: dict[Node, int] = {}
    instrs: list[Instr] = []
    for k, s in enumerate(in_syms):
        slot[s] = len(instrs)
        instrs.append(Instr("input", (), k))
    for n in nodes:
        if n in slot:
            continue
        if n.op == "sym":
            raise ValueError(f"expression depends on {n.payload!r}, which is not among "
                             f"the inputs {[s.payload for s in in_syms]}")
        slot[n] = len(instrs)
        if n.op == "const":
            instrs.append(Instr("const", (), n.payload))
        else:
            instrs.append(Instr(n.op, tuple(map(slot.__getitem__, n.args))))
    return Program(tuple(s.payload for s in in_syms), tuple(instrs),
                   tuple(slot[o] for o in outs))


def count_ops(outputs) -> int:
    """Operations in the CSE'd program evaluating all ``outputs`` together:
    one per distinct non-leaf node."""
    return sum(1 for n in reachable(as_outputs(outputs)) if n.args)


def program_to_nodes(program: Program) -> list[Node]:
    """Rebuild the output nodes of a program (inverse of :func:`schedule`),
    re-interning every node through the simplifying constructors, so that
    operand order is canonical for this process (node ids differ between
    processes)."""
    from symdiff.core.symbolic import apply

    vals: list[Node] = []
    for ins in program.instrs:
        if ins.op == "input":
            vals.append(symbol(program.inputs[ins.payload]))
        elif ins.op == "const":
            vals.append(const(ins.payload))
        else:
            vals.append(apply(ins.op, *(vals[a] for a in ins.args)))
    return [vals[o] for o in program.outputs]


def _program_state(outputs) -> Program:
    outs = as_outputs(outputs)
    syms = sort_symbols(n for n in reachable(outs) if n.op == "sym")
    return schedule(outs, syms)


def _rebuild_from_program(program: Program, index: int) -> Node:
    return program_to_nodes(program)[index]
