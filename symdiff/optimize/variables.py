"""The optimization variables: how a flat SciPy vector ``x`` maps onto
symdiff symbols, and the fixed data bound to the other symbols.

SciPy's optimizers work on one 1-D float array.  :class:`Variables` accepts
scalar symbols in a list (``[a, b, c]``: x = (a, b, c)), one tensor symbol
(``w`` of shape (n,) or (3, 4): x = w.ravel()), or a mix of them (x is the
concatenation), and checks the length of every ``x`` it is handed, naming
the symbols when it is wrong.
"""

from __future__ import annotations

import math

import numpy as np

from symdiff.core.differentiate import as_symbols
from symdiff.core.graph import free_symbols
from symdiff.core.node import Node

__all__ = ["Variables", "bind_data", "describe"]


def describe(sym: Node) -> str:
    """``a`` for a scalar symbol, ``w (shape (3,))`` for a tensor."""
    return sym.payload if not sym.shape else f"{sym.payload} (shape {sym.shape})"


class Variables:
    """The symbols ``x`` stands for, in order, with their sizes."""

    def __init__(self, wrt):
        if isinstance(wrt, (Node, str)):
            wrt = [wrt]
        if isinstance(wrt, np.ndarray):
            wrt = list(wrt.ravel())
        try:
            self.symbols: list[Node] = as_symbols(list(wrt))
        except TypeError as e:
            raise TypeError(f"wrt: {e}") from None
        if not self.symbols:
            raise ValueError("wrt: no variables given")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("wrt: a variable is listed twice")
        for s in self.symbols:
            if any(not isinstance(d, int) for d in s.shape):
                raise ValueError(f"wrt: variable {describe(s)} has a named dimension; "
                                 "optimization variables need integer shapes")
        self.shapes = [s.shape for s in self.symbols]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.size = sum(self.sizes)
        self.offsets = np.cumsum([0] + self.sizes).tolist()
        self.scalar = all(not s for s in self.shapes)

    def describe(self) -> str:
        """The variables as an error message lists them."""
        return ", ".join(describe(s) for s in self.symbols)

    def check(self, x, what: str = "x") -> np.ndarray:
        """``x`` as a float64 1-D array of the right length (``ValueError``
        naming the variables otherwise)."""
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{what} must be a float array: {e}") from None
        if arr.ndim != 1 or arr.size != self.size:
            raise ValueError(f"{what} has shape {arr.shape}; expected ({self.size},): the "
                             f"values of {self.describe()}, in that order")
        return arr

    def split(self, x: np.ndarray) -> list:
        """The per-variable pieces of the checked ``x`` (0-d arrays for
        scalar symbols, tensor-shaped views for tensors)."""
        o = self.offsets
        return [x[o[k]:o[k + 1]].reshape(shape) for k, shape in enumerate(self.shapes)]

    def flatten(self, pieces) -> np.ndarray:
        """The inverse of :meth:`split`: one 1-D array (a new one).  A 1-D
        array of floats, a scalar kernel's outputs, is flat already."""
        if isinstance(pieces, np.ndarray) and pieces.ndim == 1:
            return pieces.astype(np.float64, copy=True)
        return np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in pieces])


def bind_data(exprs: list, variables: Variables, data) -> tuple[list[Node], list]:
    """The symbols of ``exprs`` that are not variables, with their values
    from ``data`` (a dict keyed by symbol or name).  Every such symbol needs a
    value; a key naming no symbol of the expression is an error too (a
    likely typo)."""
    data = dict(data or {})
    by_name = {}
    for key, value in data.items():
        name = key.payload if isinstance(key, Node) and key.op == "sym" else key
        if not isinstance(name, str):
            raise TypeError(f"data keys are symbols or their names, got {key!r}")
        by_name[name] = value
    wrt = set(variables.symbols)
    others = [s for s in free_symbols(exprs) if s not in wrt]
    missing = [describe(s) for s in others if s.payload not in by_name]
    if missing:
        raise ValueError(f"no value for {', '.join(missing)}: pass it in data= "
                         f"(or list it in wrt; the variables are {variables.describe()})")
    unknown = sorted(set(by_name) - {s.payload for s in others})
    if unknown:
        clash = [u for u in unknown if u in {s.payload for s in variables.symbols}]
        if clash:
            raise ValueError(f"data gives a value for {clash[0]!r}, which is a variable")
        raise ValueError(f"data names {', '.join(map(repr, unknown))}, which the "
                         "expression does not use")
    values = []
    for s in others:
        v = by_name[s.payload]
        arr = np.asarray(v, dtype=np.int64 if s.dtype == "int64" else np.float64)
        values.append(arr)
    return others, values
