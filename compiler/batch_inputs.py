"""Inputs by name: ``fn(x=1.0, y=2.0)``, ``fn.batch(x=xs, y=ys)`` and
``fn.batch(X, fixed={"W": W})`` arranged into what the kernels read (an
input vector, rows of the varying inputs, a vector of the fixed ones).

Every error is a ValueError naming the input and what was wrong (unknown,
missing, given twice, wrong shape); values convert as
:mod:`compiler.inputs` says.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from .inputs import to_float64

__all__ = ["InputNames", "describe_names"]


def describe_names(names, limit: int = 8) -> str:
    """Names for a message, at most ``limit`` of them and the count."""
    names = list(names)
    if len(names) > limit:
        return ", ".join(names[:limit]) + f", ... ({len(names)} in all)"
    return ", ".join(names)


def _plural(items) -> str:
    return "s" if len(items) > 1 else ""


class InputNames:
    """The inputs of the compiled function ``owner`` (its name, for
    messages), in calling order ``names``."""

    __slots__ = ("owner", "names", "_positions")

    def __init__(self, owner: str, names: tuple):
        self.owner = owner
        self.names = names
        self._positions = None

    def positions(self) -> MappingProxyType:
        """{input name: position}, built on first use (a function of 1.1
        million inputs takes a while)."""
        if self._positions is None:
            self._positions = MappingProxyType({s: j for j, s in enumerate(self.names)})
        return self._positions

    def unknown(self, name: str) -> ValueError:
        """The error for a name that is not an input."""
        return ValueError(f"{self.owner} has no input {name!r} "
                          f"(inputs: {describe_names(self.names)})")

    def number(self, name: str, value) -> float:
        """One input's value as a float (a ValueError naming the input)."""
        a = to_float64(value, lambda idx: name, f"input {name}: expected a number")
        if a.ndim != 0:
            raise ValueError(f"input {name}: expected a number, got shape {a.shape}")
        return float(a)

    def vector(self, values: dict) -> np.ndarray:
        """The input vector of ``fn(name=value, ...)``: every input once,
        each a number."""
        pos = self.positions()
        vec = np.empty(len(self.names))
        for name, v in values.items():
            j = pos.get(name)
            if j is None:
                raise self.unknown(name)
            vec[j] = self.number(name, v)
        if len(values) != len(self.names):
            missing = [s for s in self.names if s not in values]
            raise ValueError(f"no value given for input{_plural(missing)} "
                             f"{describe_names(missing)}")
        return vec

    def rows(self, X, free) -> np.ndarray:
        """``X`` as a 2-D float64 array with one column per input in
        ``free`` (positions; None: every input)."""
        names = self.names if free is None else [self.names[j] for j in free]
        k = len(names)
        expect = f"X must be a float64 array of shape (N, {k})" + (
            f" (inputs {describe_names(names)})" if k else "")
        if X is None:
            raise ValueError(f"no rows given: {expect}, or the inputs by name as columns")
        X = to_float64(X, lambda idx: names[idx[-1]] if idx and idx[-1] < k else "?", expect)
        if X.ndim != 2 or X.shape[1] != k:
            raise ValueError(f"{expect}, got shape {X.shape}")
        return X

    def rows_from_columns(self, columns: dict, free) -> np.ndarray:
        """The rows of ``batch(name=column, ...)``: every input in ``free``
        (None: all) once, each a 1-D array of the same length."""
        pos = self.positions()
        want = list(range(len(self.names))) if free is None else free
        slot = {j: c for c, j in enumerate(want)}
        cols: list = [None] * len(want)
        N = first = None
        for name, v in columns.items():
            j = pos.get(name)
            if j is None:
                raise self.unknown(name)
            if j not in slot:
                raise ValueError(f"input {name} is given both in fixed and as a column")
            a = to_float64(v, lambda idx, name=name: name,
                           f"input {name}: expected a float64 array of one value per row")
            if a.ndim != 1:
                hint = (f" (use fixed={{{name!r}: ...}} for an input that is the same in "
                        f"every row)" if a.ndim == 0 else "")
                raise ValueError(f"input {name}: expected a 1-D array of one value per row, "
                                 f"got shape {a.shape}{hint}")
            if N is None:
                N, first = a.shape[0], name
            elif a.shape[0] != N:
                raise ValueError(f"input {name}: expected {N} values (one per row, as "
                                 f"{first} has), got shape {a.shape}")
            cols[slot[j]] = a
        missing = [self.names[j] for j, a in zip(want, cols) if a is None]
        if missing:
            raise ValueError(f"no column given for input{_plural(missing)} "
                             f"{describe_names(missing)}")
        rows = np.empty((N, len(cols)))
        for c, a in enumerate(cols):
            rows[:, c] = a
        return rows

    def fixed_vector(self, fixed) -> tuple[np.ndarray, list[int]]:
        """(base, free) for ``fixed`` ({name: value}): a vector of all the
        inputs holding the fixed ones' values (zeros elsewhere), and the
        positions of the others.  A name that is not an input may be the
        stem of :func:`symdiff.vector` / :func:`symdiff.matrix` symbols
        (``W`` for ``W0_0``, ``W0_1``, ...) with an array of that shape."""
        if not isinstance(fixed, dict):
            raise ValueError(f"fixed must be a dict {{input name: value}}, "
                             f"got {type(fixed).__name__}")
        pos = self.positions()
        base = np.zeros(len(self.names))
        given: dict[int, str] = {}

        def put(j: int, value: float, label: str) -> None:
            if j in given:
                raise ValueError(f"input {self.names[j]} is given twice in fixed "
                                 f"(as {given[j]} and as {label})")
            given[j] = label
            base[j] = value

        for name, v in fixed.items():
            if not isinstance(name, str):
                raise ValueError(f"fixed: input names must be strings, got {name!r}")
            j = pos.get(name)
            if j is not None:
                put(j, self.number(name, v), name)
                continue
            a = to_float64(v, lambda idx, name=name: f"{name}{'_'.join(map(str, idx))}",
                           f"fixed {name}: expected a float64 array")
            if a.ndim not in (1, 2):
                raise self.unknown(name)
            # The names symdiff.vector / symdiff.matrix give the elements.
            names = [f"{name}{'_'.join(map(str, idx))}" for idx in np.ndindex(a.shape)]
            missing = [s for s in names if s not in pos]
            if missing:
                if len(missing) == len(names):
                    raise self.unknown(name)
                raise ValueError(f"fixed {name}: shape {a.shape} names inputs "
                                 f"{describe_names(missing, 3)} that {self.owner} does not "
                                 f"have")
            for s, value in zip(names, a.ravel()):
                put(pos[s], value, f"{name}{list(a.shape)}")
        free = [j for j in range(len(self.names)) if j not in given]
        return base, free
