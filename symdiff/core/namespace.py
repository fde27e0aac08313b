"""Namespaces: what an evaluator hands to :func:`symdiff.core.program.run`
and what the op table's derivative rules are written against.

A namespace ``F`` has one function per op of the table (``F.add``,
``F.exp`` ..., also reachable as ``F.fn("exp")``), ``F.const(v)`` turning a
Python float into the namespace's kind of value, and ``F.constant_value(x)``
(the float a value stands for if it is a known constant, else ``None``).
:mod:`symdiff.core.symbolic` is the namespace that builds nodes; the numeric
ones (floats, numpy arrays, complex numbers, mpmath, dual numbers, the
reverse tape, sympy) are instances of :class:`Namespace`.
"""

from __future__ import annotations

from typing import Callable, Mapping

from symdiff.core.ops import ALL_OPS

__all__ = ["Namespace", "numpy_namespace"]


def _no_constant(x):
    """Numbers do not remember being constants."""
    return None


class Namespace:
    """A namespace ``F``: one function per op plus ``const`` and
    ``constant_value``.

    ``impls`` maps op names to callables; ``const(v)`` turns a Python float
    into the namespace's value type.  Ops missing from ``impls`` raise
    ``KeyError`` naming the namespace when a program needs them.
    """

    def __init__(self, name: str, impls: Mapping[str, Callable],
                 const: Callable = float, constant_value: Callable = _no_constant):
        self.name = name
        self.impls = dict(impls)
        for op_name, fn in self.impls.items():
            setattr(self, op_name, fn)
        self.const = const
        self.constant_value = constant_value

    def fn(self, op_name: str) -> Callable:
        """The implementation of ``op_name``."""
        try:
            return self.impls[op_name]
        except KeyError:
            raise KeyError(f"namespace {self.name!r} has no implementation of op "
                           f"{op_name!r}") from None

    # Leaves of tensor programs (numeric defaults; the symbolic namespace
    # builds nodes instead).
    def array(self, values):
        """A constant array's value."""
        return values

    def eye(self, n: int):
        """The n x n identity."""
        import numpy as np

        return np.eye(n)

    def dim(self, name: str):
        """An unbound dimension: only the symbolic namespace keeps names."""
        raise ValueError(f"namespace {self.name!r} needs the size of dimension {name!r}")

    def __repr__(self) -> str:
        return f"<namespace {self.name!r}: {len(self.impls)} ops>"


def numpy_namespace(name: str, overrides: Mapping[str, Callable] | None = None,
                    const: Callable = float) -> Namespace:
    """A namespace with ``F.<op> = OPS[op].numpy`` for every op of the table,
    then ``overrides`` applied on top (``KeyError`` for an unknown op)."""
    impls = {op_name: op.numpy for op_name, op in ALL_OPS.items()}
    if overrides:
        unknown = set(overrides) - set(impls)
        if unknown:
            raise KeyError(f"overrides for ops not in the table: {sorted(unknown)}")
        impls.update(overrides)
    return Namespace(name, impls, const=const)
