"""The float64 interpreter: :func:`symdiff.core.program.run` with the numpy
namespace.

It evaluates one point or, with array inputs, many points at once (inputs
broadcast against each other).  Values are released after their last use,
so memory follows the program's width, not its length.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from symdiff.core.graph import as_outputs, paused_gc
from symdiff.core.node import Node
from symdiff.core.program import Program, bind_point, prepare, run, schedule_at
from symdiff.numeric.namespaces import NUMPY

__all__ = ["Interpreter", "evaluate", "bind_point"]


class Interpreter:
    """Evaluates a :class:`Program` with numpy (one point or a batch)."""

    def __init__(self, program: Program):
        self.program = program
        with paused_gc():
            self._steps = prepare(program, NUMPY)

    def __call__(self, values: Sequence):
        """Evaluate at ``values`` (one value or array per input, in order).
        Returns a list of outputs (floats, or arrays for array inputs)."""
        with np.errstate(all="ignore"):
            outs = run(self.program, NUMPY, values, release=True, steps=self._steps)
        return [_plain(v) for v in outs]


def _plain(v):
    """Scalars as Python floats, arrays as arrays."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return float(v)
    if isinstance(v, (np.floating, int)):
        return float(v)
    return v


def evaluate(outputs, point, inputs=None):
    """Evaluate expressions at a point with the float64 interpreter.

    ``outputs``: one expression or a sequence of them.  ``point``: a mapping
    from symbols (or names) to floats or numpy arrays (evaluated elementwise,
    broadcasting), or a sequence of values in ``inputs`` order (``inputs``
    defaults to the free symbols in natural name order).  Returns a float
    (or array) for a single expression, else a list.
    """
    single = isinstance(outputs, Node)
    program, x = schedule_at(as_outputs(outputs), point, inputs)
    result = Interpreter(program)(x)
    return result[0] if single else result
