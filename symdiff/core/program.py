"""The flat SSA program: the hinge between expressions and every evaluator,
printer and code generator.

:func:`schedule` flattens a DAG into a :class:`Program` once (CSE is
implicit: each distinct node is one instruction).  :func:`run` is the one
loop over a program's instructions: every evaluator of symdiff (the numpy
interpreter, dual numbers, the reverse tape, mpmath, complex step, sympy
conversion, rebuilding nodes) is a *namespace* handed to it, not a loop of
its own.  :func:`bind_point` orders a user's point as a program's inputs,
and :func:`depends_on_inputs` marks the instructions on a path from an
input.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping, NamedTuple, Sequence

from symdiff.core.graph import as_outputs, paused_gc, reachable, sort_symbols, toposort
from symdiff.core.node import Node, const, symbol

__all__ = ["Instr", "Program", "schedule", "run", "bind_point", "depends_on_inputs",
           "program_to_nodes"]


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
