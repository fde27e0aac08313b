"""The float64 interpreter: :func:`symdiff.core.program.run` with the numpy
namespace.

Scalar programs evaluate one point or, with array inputs, many points at
once (inputs broadcast against each other).  Tensor programs take one array
per input, of the declared shape: dimension names are bound from the
arrays' actual shapes (a mismatch is an error naming the input), and the
program runs once per call on whole arrays.  Values are released after
their last use, so memory follows the program's width, not its length.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from symdiff.core.graph import as_outputs, free_symbols, paused_gc
from symdiff.core.node import Node
from symdiff.core.program import Program, _to_float, bind_point, prepare, run, schedule_at
from symdiff.core.shapes import ShapeError, bind_dims
from symdiff.numeric.namespaces import NUMPY

__all__ = ["Interpreter", "evaluate", "bind_point", "tensor_inputs"]


def tensor_inputs(program: Program, values: Sequence, dims: Mapping | None = None):
    """Check and convert one value per input of a tensor program: float
    inputs to float64 arrays, integer label inputs to int64 arrays, each of
    its declared shape.  Returns ``(arrays, dims)`` with every dimension
    name bound (``ShapeError`` naming the input otherwise)."""
    arrays = []
    for name, dtype, v in zip(program.inputs, program.input_dtypes, values):
        if dtype == "int64":
            a = np.asarray(v)
            if a.dtype.kind not in "iub":
                if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
                    a = a.astype(np.int64)
                else:
                    raise ShapeError(f"input {name}: expected integer labels, got dtype "
                                     f"{a.dtype}")
            arrays.append(a.astype(np.int64, copy=False))
        else:
            a = np.asarray(v)
            if a.dtype.kind not in "biuf":
                raise ShapeError(f"input {name}: expected float64 values, got dtype {a.dtype}")
            arrays.append(a.astype(np.float64, copy=False))
    bound = bind_dims(program.input_shapes, [a.shape for a in arrays], program.inputs, dims)
    return arrays, bound


class Interpreter:
    """Evaluates a :class:`Program` with numpy (one point or a batch; whole
    arrays for tensor programs)."""

    def __init__(self, program: Program):
        self.program = program
        self.is_tensor = program.is_tensor
        self._steps_by_dims: dict = {}
        if not self.is_tensor:
            with paused_gc():
                self._steps = prepare(program, NUMPY)

    def __call__(self, values: Sequence, dims: Mapping | None = None):
        """Evaluate at ``values`` (one value or array per input, in order).
        Returns a list of outputs (floats, or arrays for array inputs)."""
        if len(values) != len(self.program.inputs):
            raise ValueError(f"expected {len(self.program.inputs)} input values "
                             f"({', '.join(self.program.inputs)}), got {len(values)}")
        if self.is_tensor:
            values, bound = tensor_inputs(self.program, values, dims)
            key = tuple(sorted(bound.items()))
            steps = self._steps_by_dims.get(key)
            if steps is None:
                steps = self._steps_by_dims[key] = prepare(self.program, NUMPY, bound)
        else:
            steps = self._steps
        with np.errstate(all="ignore"):
            outs = run(self.program, NUMPY, values, release=True, steps=steps)
        return [_plain(v) for v in outs]


def _plain(v):
    """Scalars as Python floats, arrays as arrays."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return float(v)
    if isinstance(v, (np.floating, int)):
        return float(v)
    return v


def evaluate(outputs, point, inputs=None, dims: Mapping | None = None, *,
             stable: bool = False):
    """Evaluate expressions at a point with the float64 interpreter.

    ``outputs``: one expression or a sequence of them.  ``point``: a mapping
    from symbols (or names) to floats or numpy arrays, or a sequence of
    values in ``inputs`` order (``inputs`` defaults to the free symbols in
    natural name order).  Scalar expressions evaluate elementwise over
    array values (broadcasting); tensor expressions take one array of the
    declared shape per tensor, binding dimension names from the arrays
    (``dims`` may bind more, e.g. one no input has).  Returns a float or
    array for a single expression, else a list.  ``stable``: first rewrite
    the expressions into numerically stable forms
    (:func:`symdiff.core.stabilize.stabilize`; the same values in exact
    arithmetic, ``log(1 + exp(x))`` -> ``softplus(x)`` ...).
    """
    single = isinstance(outputs, Node)
    outs = as_outputs(outputs)
    if stable:
        from symdiff.core.stabilize import stabilize

        outs, _ = stabilize(outs)
    if inputs is None and isinstance(point, Mapping):
        # Every free symbol needs a value; values for names the expression
        # does not use are ignored (their shapes are unknown to it).
        used = {s.payload for s in free_symbols(outs)}
        inputs = [k for k in point if (k.payload if isinstance(k, Node) else str(k)) in used]
        inputs += sorted(used - {(k.payload if isinstance(k, Node) else str(k)) for k in point})
        # An unused tensor given as a node still binds its dimensions: the
        # gradient of mean(X) wrt X mentions m but not X.
        unused = [(k, v) for k, v in point.items()
                  if isinstance(k, Node) and k.shape and k.payload not in used]
        if unused:
            dims = bind_dims([k.shape for k, _ in unused], [np.shape(v) for _, v in unused],
                             [k.payload for k, _ in unused], dims)
    program, x = schedule_at(outs, point, inputs, convert=lambda v: v)
    result = Interpreter(program)(
        x if program.is_tensor else [_to_float(v) for v in x], dims)
    return result[0] if single else result
