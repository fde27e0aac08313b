"""A float64 interpreter over the scheduled program.

The interpreter is a loop over :class:`~symdiff.core.graph.Program` instructions
calling each op's numpy evaluation, so it evaluates one point or, with array
inputs, many points at once (inputs broadcast against each other).  Slots
are released after their last use to bound memory on long programs.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from symdiff.core.graph import as_outputs, paused_gc

from symdiff.core.program import Program, schedule
from symdiff.core.node import Node
from symdiff.core.ops import OPS

__all__ = ["Interpreter", "evaluate", "bind_point"]


class Interpreter:
    """Evaluates a :class:`Program` with numpy (one point or a batch)."""

    def __init__(self, program: Program):
        with paused_gc():
            self._init(program)

    def _init(self, program: Program):
        self.program = program
        last_use = [-1] * len(program.instrs)
        for k, ins in enumerate(program.instrs):
            for a in ins.args:
                last_use[a] = k
        for o in program.outputs:
            last_use[o] = len(program.instrs)
        # Slots to free after each instruction: keeps memory proportional to
        # the program's width rather than its length for batched inputs.
        frees: list[list[int]] = [[] for _ in program.instrs]
        for slot, k in enumerate(last_use):
            if 0 <= k < len(program.instrs):
                frees[k].append(slot)
        self._steps = [(ins.op, OPS[ins.op].numpy if ins.op in OPS else None, ins.args,
                        ins.payload, frees[k]) for k, ins in enumerate(program.instrs)]

    def __call__(self, values: Sequence):
        """Evaluate at ``values`` (one value or array per input, in order).
        Returns a list of outputs (floats, or arrays for array inputs)."""
        if len(values) != len(self.program.inputs):
            raise ValueError(f"expected {len(self.program.inputs)} input values "
                             f"({', '.join(self.program.inputs)}), got {len(values)}")
        vals: list = [None] * len(self._steps)
        with np.errstate(all="ignore"):
            for k, (op, fn, args, payload, free) in enumerate(self._steps):
                if op == "input":
                    vals[k] = values[payload]
                elif op == "const":
                    vals[k] = payload
                else:
                    vals[k] = fn(*[vals[a] for a in args])
                for s in free:
                    vals[s] = None
        out = []
        for o in self.program.outputs:
            v = vals[o]
            if isinstance(v, np.ndarray) and v.ndim == 0:
                v = float(v)
            elif isinstance(v, (np.floating, int)):
                v = float(v)
            out.append(v)
        return out


def bind_point(inputs: Sequence[str], point) -> list:
    """Order the values of ``point`` (a mapping from symbols or names to
    values, or a sequence in input order) as ``inputs``."""
    if isinstance(point, Mapping):
        by_name = {}
        for k, v in point.items():
            name = k.payload if isinstance(k, Node) else str(k)
            by_name[name] = v
        missing = [n for n in inputs if n not in by_name]
        if missing:
            raise ValueError(f"no value given for {', '.join(missing)}")
        vals = [by_name[n] for n in inputs]
    else:
        vals = list(point)
        if len(vals) != len(inputs):
            raise ValueError(f"expected {len(inputs)} values ({', '.join(inputs)}), "
                             f"got {len(vals)}")
    return [np.asarray(v, dtype=np.float64) if not np.isscalar(v) else float(v)
            for v in vals]


def evaluate(outputs, point, inputs=None):
    """Evaluate expressions at a point with the float64 interpreter.

    ``outputs``: one expression or a sequence of them.  ``point``: a mapping
    from symbols (or names) to floats or numpy arrays (evaluated elementwise,
    broadcasting), or a sequence of values in ``inputs`` order (``inputs``
    defaults to the free symbols in natural name order).  Returns a float
    (or array) for a single expression, else a list.
    """
    single = isinstance(outputs, Node)
    outs = as_outputs(outputs)
    if inputs is None and isinstance(point, Mapping):
        names = []
        for k in point:
            names.append(k.payload if isinstance(k, Node) else str(k))
        from symdiff.core.node import symbol

        program = schedule(outs, [symbol(n) for n in names])
    else:
        program = schedule(outs, inputs)
    result = Interpreter(program)(bind_point(program.inputs, point))
    return result[0] if single else result
