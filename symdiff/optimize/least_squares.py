"""Residuals and their Jacobian for ``scipy.optimize.least_squares``.

``LeastSquares(residuals, wrt)`` gives ``fun(x)`` (the residual vector)
and ``jac(x)`` (its Jacobian, one row per residual, one column per entry
of x) from one compiled kernel, evaluated once per point.  The residuals
are

* a list of scalar expressions (``[r1, r2, ...]``),
* a vector expression (``A @ w - b``), or
* ONE scalar expression of per-point data: ``data`` gives 1-D arrays of N
  values for some scalar symbols (``t``, ``y``), and the residual of each
  point is evaluated by the compiled kernel's ``batch`` over the N rows
  (the cheap way to fit a model to data: the Jacobian is built for one
  point, not N).
"""

from __future__ import annotations

import numpy as np

from symdiff.core.differentiate import grad, jacobian
from symdiff.core.graph import as_outputs
from symdiff.core.node import Node
from symdiff.optimize.kernel import Kernel
from symdiff.optimize.variables import Variables, bind_data, describe

__all__ = ["LeastSquares"]


def _jacobian_blocks(r: Node, syms: list[Node]) -> list[Node]:
    """d r / d s for each variable s: shape r.shape + s.shape."""
    if not r.shape:
        return list(grad(r, syms))
    if len(r.shape) != 1:
        raise ValueError(f"residuals must be a vector expression, got shape {r.shape}")
    return [jacobian(r, s) for s in syms]


class LeastSquares:
    """Residuals ``r(x)`` and their Jacobian as ``fun``/``jac`` for
    ``scipy.optimize.least_squares``; ``wrt``, ``data`` and the compile
    keywords as for :class:`symdiff.optimize.Objective` (see the module
    docstring for per-point data).  ``calls`` counts kernel calls."""

    def __init__(self, residuals, wrt, data=None, **compile_options):
        self.variables = Variables(wrt)
        outs = as_outputs(residuals)
        if not outs:
            raise ValueError("no residuals given")
        self.residuals = outs
        syms, values = bind_data(outs, self.variables, data)
        self._batch_rows = _per_point_rows(syms, values, self.variables.size)
        name = compile_options.pop("name", "residuals")
        if self._batch_rows is not None:
            if len(outs) != 1 or outs[0].shape or not self.variables.scalar:
                raise ValueError("per-point data arrays need ONE scalar residual "
                                 "expression over scalar variables")
            blocks = list(grad(outs[0], self.variables.symbols))
            self._kernel = Kernel([outs[0], *blocks], self.variables.symbols + syms, [], [],
                                  name, compile_options)
        else:
            blocks = [b for r in outs for b in _jacobian_blocks(r, self.variables.symbols)]
            self._kernel = Kernel(outs + blocks, self.variables.symbols, syms, values,
                                  name, compile_options)
        self._last_x: np.ndarray | None = None
        self._last: tuple | None = None

    @property
    def calls(self) -> int:
        """How many times the compiled kernel ran."""
        return self._kernel.calls

    def _evaluate(self, x) -> tuple[np.ndarray, np.ndarray]:
        x = self.variables.check(x)
        # Bits, not values: -0.0 == 0.0 but 1/x differs, and NaN != NaN.
        if self._last_x is not None and x.tobytes() == self._last_x.tobytes():
            return self._last
        if self._batch_rows is not None:
            rows = self._batch_rows
            rows[:, :self.variables.size] = x
            self._kernel.calls += 1
            out = self._kernel.fn.batch(rows)
            r, J = out[:, 0].copy(), out[:, 1:].copy()
        else:
            out = self._kernel(self.variables.split(x))
            m, sizes = len(self.residuals), self.variables.sizes
            r = np.concatenate([np.ravel(v) for v in out[:m]])
            # Row block i (residual i), column block k (variable k).
            J = np.vstack([np.hstack([np.reshape(out[m + i * len(sizes) + k], (np.size(out[i]), n))
                                      for k, n in enumerate(sizes)])
                           for i in range(m)])
        self._last_x, self._last = x.copy(), (r, J)
        return r, J

    def fun(self, x) -> np.ndarray:
        """The residual vector at x."""
        return self._evaluate(x)[0].copy()

    def jac(self, x) -> np.ndarray:
        """The Jacobian of the residuals at x: (number of residuals, len(x))."""
        return self._evaluate(x)[1].copy()


def _per_point_rows(syms: list[Node], values: list, n_vars: int) -> np.ndarray | None:
    """For data with 1-D arrays on scalar symbols: the batch input rows
    (variable columns first, left to fill, then the data), else None."""
    per_point = [k for k, (s, v) in enumerate(zip(syms, values)) if not s.shape and v.ndim]
    if not per_point:
        return None
    lengths = {values[k].shape for k in per_point}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise ValueError("per-point data must be 1-D arrays of one length; got shapes "
                         + ", ".join(f"{describe(syms[k])}: {values[k].shape}"
                                     for k in per_point))
    if any(s.shape for s in syms):
        raise ValueError("per-point data arrays cannot be mixed with tensor symbols")
    (n_points,), = lengths
    rows = np.empty((n_points, n_vars + len(syms)))
    for k, v in enumerate(values):
        rows[:, n_vars + k] = v
    return rows
