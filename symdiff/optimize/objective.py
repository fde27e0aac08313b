"""Objectives for ``scipy.optimize.minimize`` from a symdiff expression.

``Objective(f, wrt)`` has ``fun``, ``jac``, ``hess`` and ``hessp`` methods
that plug straight into ``minimize``; ``value_and_grad(f, wrt)`` is the
``(f, grad)`` callable for ``minimize(..., jac=True)``.  Each kernel is
compiled the first time it is asked for: f and its gradient share one
module, and the Hessian and the Hessian-vector product get their own.  The
last point's f and gradient are kept, so ``fun(x)`` followed by
``jac(x)`` (what most SciPy methods do) calls the kernel once.
"""

from __future__ import annotations

import numpy as np

from symdiff.core.builders import sum as total
from symdiff.core.differentiate import grad, hessian, hvp
from symdiff.core.graph import as_outputs
from symdiff.core.node import Node, symbol
from symdiff.optimize.kernel import Kernel
from symdiff.optimize.variables import Variables, bind_data

__all__ = ["Objective", "value_and_grad"]


def _scalar_expression(f) -> Node:
    outs = as_outputs(f)
    if len(outs) != 1 or outs[0].shape:
        shape = outs[0].shape if len(outs) == 1 else f"{len(outs)} expressions"
        raise ValueError(f"an objective is one scalar expression, got {shape}")
    return outs[0]


def fresh_symbols(like: list[Node], taken: set, stem: str) -> list[Node]:
    """New symbols shaped like ``like`` whose names clash with no name in
    ``taken`` (the direction vector of a Hessian-vector product)."""
    out = []
    for k, s in enumerate(like):
        name = f"{stem}{k}"
        while name in taken:
            name += "_"
        taken.add(name)
        out.append(symbol(name, s.shape))
    return out


class Objective:
    """``f`` as a SciPy objective over the variables ``wrt``.

    ``wrt``: scalar symbols in a list (x = their values, in order), one
    tensor symbol (x = its entries, flattened), or a list mixing them
    (x = the concatenation).  ``data``: values of the other symbols of
    ``f`` (a dict keyed by symbol or name), fixed for the objective's
    life.  Other keywords go to :func:`symdiff.compile` (``opt``, ...).

    ``fun(x)`` -> float, ``jac(x)`` -> gradient (1-D), ``hess(x)`` -> (n, n)
    (scalar symbols or one vector symbol), ``hessp(x, p)`` -> H p (1-D),
    ``value_and_grad(x)`` -> (f, gradient).  ``calls`` counts the kernel
    calls of each kind.
    """

    def __init__(self, f, wrt, data=None, **compile_options):
        self.f = _scalar_expression(f)
        self.variables = Variables(wrt)
        self._data_syms, self._data_values = bind_data([self.f], self.variables, data)
        for sym, value in zip(self._data_syms, self._data_values):
            if not sym.shape and np.ndim(value) != 0:
                raise ValueError(f"data for {sym.payload}: an array of shape {np.shape(value)} "
                                 f"for a scalar symbol; per-point data arrays are for "
                                 f"sd.LeastSquares (or declare {sym.payload} as a tensor)")
        self._options = dict(compile_options)
        self._kernels: dict = {}
        self._last_x: np.ndarray | None = None
        self._last_fg: tuple | None = None

    @property
    def n(self) -> int:
        """The length of x."""
        return self.variables.size

    @property
    def calls(self) -> dict:
        """Kernel calls so far, by kernel (``value_and_grad``, ``hess``,
        ``hessp``; a kernel not compiled yet is absent)."""
        return {k: kern.calls for k, kern in self._kernels.items()}

    def _kernel(self, kind: str, build) -> Kernel:
        kern = self._kernels.get(kind)
        if kern is None:
            outputs, extra_inputs = build()
            name = self._options.get("name", "objective") + "_" + kind
            options = {k: v for k, v in self._options.items() if k != "name"}
            kern = self._kernels[kind] = Kernel(
                outputs, self.variables.symbols + extra_inputs, self._data_syms,
                self._data_values, name, options)
        return kern

    def _value_grad_outputs(self):
        g = grad(self.f, self.variables.symbols)
        return [self.f, *g], []

    def value_and_grad(self, x) -> tuple[float, np.ndarray]:
        """``(f(x), grad f(x))`` from one kernel call (``minimize(...,
        jac=True)``); repeated at the same x, no call at all."""
        x = self.variables.check(x)
        # Bits, not values: -0.0 == 0.0 but 1/x differs, and NaN != NaN.
        if self._last_x is None or x.tobytes() != self._last_x.tobytes():
            kern = self._kernel("value_and_grad", self._value_grad_outputs)
            out = kern.flat(x) if kern.scalar else kern(self.variables.split(x))
            self._last_fg = (float(out[0]), self.variables.flatten(out[1:]))
            self._last_x = x.copy()
        f, g = self._last_fg
        return f, g.copy()   # a copy: the optimizer may update it in place

    def fun(self, x) -> float:
        """f(x)."""
        return self.value_and_grad(x)[0]

    def jac(self, x) -> np.ndarray:
        """The gradient of f at x, flattened like x."""
        return self.value_and_grad(x)[1]

    def __call__(self, x) -> float:
        """f(x) (so the objective itself can be passed as ``fun``)."""
        return self.fun(x)

    def _hessian_outputs(self):
        syms = self.variables.symbols
        if self.variables.scalar:
            H = hessian(self.f, syms)
            return [e for row in H for e in row], []
        if len(syms) == 1 and len(syms[0].shape) == 1:
            return [hessian(self.f, syms[0])], []
        raise ValueError(f"hess needs scalar symbols or one vector symbol, not "
                         f"{self.variables.describe()}; use hessp (Hessian-vector products)")

    def hess(self, x) -> np.ndarray:
        """The n x n Hessian of f at x."""
        x = self.variables.check(x)
        kern = self._kernel("hess", self._hessian_outputs)
        out = kern.flat(x) if kern.scalar else kern(self.variables.split(x))
        n = self.n
        H = np.asarray(out, dtype=np.float64).reshape(n, n)
        if not self.variables.scalar:
            # A tensor Hessian is one matrix expression whose two triangles
            # may round differently (by an ulp); SciPy expects symmetry.
            # (Scalar Hessians mirror one triangle and are exact already.)
            H = 0.5 * (H + H.T)
        return H

    def _hvp_outputs(self):
        syms = self.variables.symbols
        taken = {s.payload for s in syms} | {s.payload for s in self._data_syms}
        us = fresh_symbols(syms, taken, "direction")
        if len(syms) == 1:
            return [hvp(self.f, syms[0], us[0])], us
        # Several variables: the gradient of <grad f, u> over all of them.
        g = grad(self.f, syms)
        inner = None
        for gk, uk in zip(g, us):
            term = gk * uk
            if term.shape:
                term = total(term)
            inner = term if inner is None else inner + term
        return list(grad(inner, syms)), us

    def hessp(self, x, p) -> np.ndarray:
        """The Hessian of f at x times the vector p (never forming H)."""
        x = self.variables.check(x)
        p = self.variables.check(p, "p")
        kern = self._kernel("hessp", self._hvp_outputs)
        if kern.scalar:
            out = kern.flat(x, p)
        else:
            out = kern(self.variables.split(x) + self.variables.split(p))
        return self.variables.flatten(out)


def value_and_grad(f, wrt, data=None, **compile_options):
    """A compiled callable ``x -> (f(x), grad f(x))`` (a float and a 1-D
    array), for ``scipy.optimize.minimize(fun, x0, jac=True)``.  ``wrt``
    and ``data`` as for :class:`Objective` (the callable is its bound
    ``value_and_grad``; ``.__self__`` is the objective)."""
    return Objective(f, wrt, data, **compile_options).value_and_grad
