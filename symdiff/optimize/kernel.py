"""One compiled kernel over (the variables' pieces, fixed data): the
bridge between SciPy's flat vectors and :func:`compiler.compile`.

Scalar programs (scalar symbols and outputs) compile to a
:class:`compiler.CompiledFunction` called with one vector; anything with a
tensor compiles to a :class:`compiler.TensorFunction` called with one array
per input.  :class:`Kernel` hides the difference: it takes the variable
pieces and returns one array per output.
"""

from __future__ import annotations

import numpy as np

from compiler import CompiledFunction
from compiler import compile as compile_kernel
from symdiff.core.node import Node

__all__ = ["Kernel"]


class Kernel:
    """``outputs`` compiled over ``inputs`` (symbols) followed by
    ``fixed`` symbols whose values never change (the data)."""

    def __init__(self, outputs: list[Node], inputs: list[Node], fixed: list[Node],
                 fixed_values: list, name: str, options: dict):
        self.outputs = outputs
        self.fn = compile_kernel(outputs, list(inputs) + list(fixed), name=name, **options)
        self.scalar = isinstance(self.fn, CompiledFunction)
        self.calls = 0
        if self.scalar:
            # One input vector, reused: the fixed values at the end.
            self._vector = np.empty(len(inputs) + len(fixed))
            self._n_free = len(inputs)
            self._vector[self._n_free:] = [float(v) for v in fixed_values]
        else:
            self._fixed = [np.array(v, order="C") for v in fixed_values]

    def __call__(self, pieces: list) -> list:
        """The outputs (floats, or arrays of the outputs' shapes) at the
        inputs' values ``pieces`` (one per input, in order)."""
        self.calls += 1
        if self.scalar:
            v = self._vector
            v[:self._n_free] = [float(p) for p in pieces]
            return list(self.fn(v))
        # np.array, not ascontiguousarray: a scalar input stays 0-d.
        args = [np.array(p, dtype=np.float64, order="C") for p in pieces]
        return list(self.fn(*args, *self._fixed))
