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

    def flat(self, *vectors: np.ndarray):
        """The outputs at inputs given as flat vectors (x, or x and p),
        concatenated in input order; the fast path for scalar programs, where
        the vectors are the kernel's input vector itself.  Tensor programs
        are split into their pieces by the caller (:meth:`__call__`)."""
        if not self.scalar:
            raise TypeError("Kernel.flat needs a scalar program; call it with pieces")
        self.calls += 1
        v = self._vector
        if len(vectors) == 1:
            v[:self._n_free] = vectors[0]
        else:
            v[:self._n_free] = np.concatenate(vectors)
        return self.fn(v)

    def __call__(self, pieces: list) -> list:
        """The outputs at the inputs' values ``pieces`` (one per input, in
        order): for a scalar program one float64 array with one entry per
        output, else a list of arrays of the outputs' shapes."""
        self.calls += 1
        if self.scalar:
            v = self._vector
            v[:self._n_free] = [float(p) for p in pieces]
            # The kernel's own output array (one float per output), not a
            # list: a 100 x 100 Hessian as 10,000 Python floats cost more
            # than the kernel call.
            return self.fn(v)
        # np.array, not ascontiguousarray: a scalar input stays 0-d.
        args = [np.array(p, dtype=np.float64, order="C") for p in pieces]
        return list(self.fn(*args, *self._fixed))
