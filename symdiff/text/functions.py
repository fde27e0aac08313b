"""The tensor functions of the text syntax: what ``sum(Z, axis=1)``,
``softmax(Z, axis=1)``, ``onehot(y, 10)``, ``eye(n)`` and ``X.T`` call.

Each row is a builder of the Python API (:mod:`symdiff.core.tensor` and
friends).  Its Python name is its name in text and its signature gives its
parameters, so the text and the Python API cannot drift apart: the first
``n_exprs`` parameters take expressions, the others literal values (ints,
``True``/``False``/``None``, tuples of ints and dimension names, an index
``[0, 1:3]``).  Required literal parameters may be given by position
(``onehot(y, 10)``, ``reshape(x, (m, 1))``); those with a default only by
keyword (``sum(Z, axis=1)``), so ``max(Z, 1)`` keeps its meaning, the
elementwise max of Z and 1.

The printers write what the op table's ``spell`` says and what
:mod:`symdiff.text.composites` recognizes; both name functions of this
table, and calling them on the printed arguments builds the very node that
was printed (a test checks every structural op and composite).
"""

from __future__ import annotations

import inspect
from typing import Callable, NamedTuple

from symdiff.core import symbolic, tensor
from symdiff.core.node import eye

__all__ = ["TensorFunction", "FUNCTIONS", "POSTFIX", "call"]


class TensorFunction(NamedTuple):
    """One callable tensor function: its ``name``, the ``build`` function,
    how many leading expression arguments it takes (``n_exprs``), the names
    of its required literal parameters in order (``positional``) and its
    optional ones with their defaults (``keywords``)."""

    name: str
    build: Callable
    n_exprs: int
    positional: tuple
    keywords: dict


def unindex(g, index, shape):
    """Zeros of ``shape`` with ``g`` placed at ``index`` (the adjoint of
    indexing), as derivatives of ``x[...]`` contain it."""
    return symbolic.structural("unindex", (g,), (tuple(index), tuple(shape)))


def _row(build: Callable, n_exprs: int = 1) -> TensorFunction:
    params = list(inspect.signature(build).parameters.values())[n_exprs:]
    positional = tuple(p.name for p in params if p.default is inspect.Parameter.empty)
    keywords = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    return TensorFunction(build.__name__, build, n_exprs, positional, keywords)


#: name -> :class:`TensorFunction`.  ``max`` is also the elementwise max of
#: the op table: with one expression argument it is this reduction.
FUNCTIONS: dict[str, TensorFunction] = {f.name: f for f in (
    _row(tensor.sum), _row(tensor.mean), _row(tensor.max), _row(tensor.logsumexp),
    _row(tensor.softmax), _row(tensor.onehot), _row(tensor.transpose),
    _row(tensor.reshape), _row(tensor.broadcast_to), _row(tensor.stop_gradient),
    _row(unindex), _row(eye, n_exprs=0),
)}

#: Postfix attributes: ``X.T``.
POSTFIX: dict[str, Callable] = {"T": tensor.transpose}


def call(fn: TensorFunction, exprs: list, positional: list, keywords: dict):
    """``fn`` applied to expression arguments, then positional literal
    parameters, then keywords.  Raises ``TypeError`` for a wrong number of
    arguments or an unknown keyword, and whatever the builder raises
    (``ShapeError`` for shapes that do not fit)."""
    if len(exprs) != fn.n_exprs:
        hint = ""
        if len(exprs) > fn.n_exprs and fn.keywords:
            first = next(iter(fn.keywords))
            hint = (f"; give {', '.join(fn.keywords)} by keyword, e.g. "
                    f"{fn.name}(x, {first}=1)")
        raise TypeError(f"{fn.name} takes {fn.n_exprs} expression argument"
                        f"{'s' if fn.n_exprs != 1 else ''}, got {len(exprs)}{hint}")
    if len(positional) > len(fn.positional):
        raise TypeError(f"{fn.name} takes {len(fn.positional)} positional parameter"
                        f"{'s' if len(fn.positional) != 1 else ''} after its "
                        f"argument{'s' if fn.n_exprs != 1 else ''}; give "
                        f"{', '.join(fn.keywords) or 'nothing else'} by keyword")
    given = dict(zip(fn.positional, positional))
    for key, value in keywords.items():
        if key in given:
            raise TypeError(f"{fn.name} got {key} twice")
        if key not in fn.keywords and key not in fn.positional:
            known = ", ".join((*fn.positional, *fn.keywords)) or "none"
            raise TypeError(f"{fn.name} has no parameter {key!r} (parameters: {known})")
        default = fn.keywords.get(key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise TypeError(f"{fn.name}: {key} must be True or False, got {value!r}")
        given[key] = value
    missing = [p for p in fn.positional if p not in given]
    if missing:
        raise TypeError(f"{fn.name} needs {', '.join(missing)}, e.g. "
                        f"{fn.name}({', '.join(['x'] * fn.n_exprs + missing)})")
    return fn.build(*exprs, **given)
