"""Every way to get one gradient, side by side: :func:`compare_methods`.

On one expression at one point, what does each method (interpreted
symbolic gradient, compiled gradient, forward mode, reverse tape,
forward/central differences, complex step, Richardson) return, how far is
it from the 40-digit mpmath :func:`reference`, how long does a gradient take
(:func:`symdiff.lab.timing.time_call`), and how much arithmetic (or how many
evaluations of f) does it cost?  Every number is measured on this machine
in this process; nothing is extrapolated.  ``symdiff compare EXPR --at
...`` prints the result as a table.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from symdiff.core.differentiate import as_symbols
from symdiff.core.graph import as_outputs, free_symbols, sort_symbols
from symdiff.core.node import Node
from symdiff.core.program import Program, bind_point, schedule
from symdiff.lab.names import METHODS
from symdiff.lab.timing import time_call

__all__ = ["METHODS", "EXACT_METHODS", "MethodResult", "Reference", "reference",
           "compare_methods", "Problem", "PREPARERS"]

# METHODS (the method names of compare_methods, in report order) lives in
# symdiff.lab.names, so that the command line lists them without importing
# this module.

#: Methods that are exact up to floating-point rounding.
EXACT_METHODS = ("symbolic", "compiled", "forward", "reverse")


@dataclass
class MethodResult:
    """One row of :func:`compare_methods`.

    ``gradient``: float64 array in ``wrt`` order (None if the method could
    not run); ``max_rel_error``: normwise relative error against the mpmath
    reference (:func:`symdiff.numeric.reference.max_rel_error`); ``seconds``: median
    time per gradient; ``ops``: arithmetic operations per gradient where
    meaningful (CSE'd program size for symbolic/compiled, counted operations
    for forward/reverse), else None; ``evaluations``: calls of f for the
    finite-difference methods, else None; ``error``: why the row has no
    result (``"not applicable: ..."``, ``"unavailable: ..."``), else None.
    """

    name: str
    gradient: np.ndarray | None = None
    max_rel_error: float | None = None
    seconds: float | None = None
    ops: int | None = None
    evaluations: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the method produced a gradient."""
        return self.gradient is not None


@dataclass
class Reference:
    """The mpmath reference: ``value`` and ``gradient`` (mpf, in ``names``
    order), evaluated at ``dps`` significant digits."""

    names: list
    value: object
    gradient: list
    dps: int = 40


def _names(syms) -> list[str]:
    return [s.payload for s in syms]


def _as_symbols(wrt) -> list[Node]:
    syms = as_symbols(wrt)
    if len(set(syms)) != len(syms):
        raise ValueError("wrt lists a variable twice")
    return syms


class Problem:
    """The arguments shared by compare_methods and reference, normalized:
    ``f`` (the scalar expression), ``wrt`` (the symbols to differentiate
    by), ``order`` (every input in program order: the ``wrt`` symbols first,
    so that the k forward-mode passes seed exactly inputs 0..k-1), ``x``
    (the point as a list in that order) and ``k = len(wrt)``.  What several
    methods need is built once, on first use: the program of f, the
    symbolic gradient and the program of f with its gradient."""

    def __init__(self, f, wrt, order, x):
        self.f, self.wrt, self.order, self.x = f, wrt, order, x
        self.k = len(wrt)

    @functools.cached_property
    def program(self) -> Program:
        """f scheduled over ``order``."""
        return schedule([self.f], self.order)

    @functools.cached_property
    def gradient(self) -> list:
        """The symbolic gradient of f with respect to ``wrt``."""
        from symdiff.core.differentiate import grad

        return grad(self.f, self.wrt)

    @functools.cached_property
    def gradient_program(self) -> Program:
        """f and its gradient scheduled together over ``order`` (its size
        is the gradient's CSE'd operation count)."""
        return schedule([self.f, *self.gradient], self.order)


def _setup(f, point, wrt) -> Problem:
    """Normalize the arguments shared by compare_methods and reference."""
    outs = as_outputs(f)
    if len(outs) != 1:
        raise ValueError(f"expected one scalar expression, got {len(outs)}")
    f = outs[0]
    free = free_symbols([f])
    wrt_syms = free if wrt is None else _as_symbols(wrt)
    chosen = set(wrt_syms)
    order = wrt_syms + sort_symbols(s for s in free if s not in chosen)
    x = bind_point(_names(order), dict(point), float)
    return Problem(f, wrt_syms, order, x)


def reference(f, point, wrt=None, dps: int = 40) -> Reference:
    """f and its gradient with respect to ``wrt`` (default: all free
    symbols) at ``point``, evaluated in mpmath at ``dps`` digits by
    :func:`symdiff.numeric.reference.reference_gradient`."""
    from symdiff.numeric.reference import reference_gradient

    p = _setup(f, point, wrt)
    value, g = reference_gradient(p.f, p.x, inputs=p.order, dps=dps)
    return Reference(_names(p.wrt), value, list(g[:p.k]), dps)


class _NotApplicable(Exception):
    """A method that cannot handle this expression (reported, not raised)."""


# Each preparer takes a Problem and returns (call, extract, ops,
# evaluations): ``call()`` computes one gradient (the thing timed),
# ``extract(call())`` turns its result into the float64 gradient in wrt
# order.


def _symbolic(p: Problem):
    from symdiff.numeric.interpreter import Interpreter

    program = p.gradient_program
    interp = Interpreter(program)
    x = p.x

    def call():
        return interp(x)

    return call, lambda r: np.array(r[1:], dtype=float), program.n_ops, None


def _compiled(p: Problem):
    program = p.gradient_program       # outside the try: not a compiler failure
    try:
        # The compiler package is optional at import time (llvmlite, or a
        # compiler still being written): any failure makes the row
        # "unavailable" with the reason, instead of failing the command.
        import compiler

        fn = compiler.compile(program)
        xbuf = np.array(p.x, dtype=np.float64)
        obuf = np.empty(1 + p.k)
        call = fn.bind(xbuf, obuf)
        call()
    except Exception as exc:  # noqa: BLE001 - reported in the row
        raise _NotApplicable(f"unavailable: {type(exc).__name__}: {exc}") from None
    # The bound call overwrites obuf: copy the gradient out after each run.
    return call, lambda r: obuf[1:].copy(), program.n_ops, None


def _forward(p: Problem):
    from symdiff.numeric.forward import forward_op_count, program_gradient

    # Scheduled once: rescheduling on every call would cost more than the
    # passes on small expressions.  ``order`` puts the wrt symbols first, so
    # passes=k seeds exactly those.
    program, x, k = p.program, p.x, p.k

    def call():
        return program_gradient(program, x, passes=k)

    ops = forward_op_count(program, n_inputs=k, point=x)
    return call, lambda r: np.asarray(r[1], dtype=float), ops, None


def _reverse(p: Problem):
    from symdiff.numeric.reverse import reverse_op_count, tape_gradient

    program, x, k = p.program, p.x, p.k

    def call():
        return tape_gradient(program, x)

    ops = reverse_op_count(program, point=x)
    return call, lambda r: np.array(r[1][:k], dtype=float), ops, None


def _restricted(fn, x, k):
    """``fn`` as a function of the first k coordinates, the others fixed."""
    if k == len(x):
        return fn
    base = np.array(x)  # float64, or complex128 for the complex step

    def fk(xk):
        full = base.copy()
        full[:k] = xk
        return fn(full)

    return fk


def _finite_difference(method_name):
    """The preparer of the finite-difference rule ``method_name`` of
    :mod:`symdiff.numeric.finite_diff`."""
    def prepare(p: Problem):
        from symdiff.numeric import finite_diff as fd

        fn = _restricted(fd.graph_function(p.program), p.x, p.k)
        method = getattr(fd, method_name)
        xk = np.array(p.x[:p.k])

        def call():
            return method(fn, xk)

        evals = call().evaluations
        return call, lambda r: r.gradient.copy(), None, evals

    return prepare


def _complex_step(p: Problem):
    from symdiff.numeric import finite_diff as fd

    try:
        cfn = fd.complex_function(p.program)
    except ValueError as exc:
        reason = str(exc)
        prefix = "complex step is not applicable: "
        if reason.startswith(prefix):
            reason = reason[len(prefix):]
        raise _NotApplicable(f"not applicable: {reason}") from None
    fn = _restricted(cfn, np.array(p.x, dtype=np.complex128), p.k)
    xk = np.array(p.x[:p.k])

    def call():
        return fd.complex_step(fn, xk)

    evals = call().evaluations
    return call, lambda r: r.gradient.copy(), None, evals


#: Method name -> preparer: takes a :class:`Problem`, returns (call,
#: extract, ops, evaluations); the scaling runs time the same calls.
PREPARERS = {
    "symbolic": _symbolic,
    "compiled": _compiled,
    "forward": _forward,
    "reverse": _reverse,
    "forward_difference": _finite_difference("forward_difference"),
    "central_difference": _finite_difference("central_difference"),
    "complex_step": _complex_step,
    "richardson": _finite_difference("richardson"),
}


def compare_methods(f, point, wrt=None, methods: Sequence[str] | None = None,
                    repeat: int = 5, ref: Reference | None = None) -> list[MethodResult]:
    """Compute the gradient of the scalar expression ``f`` at ``point`` by
    each method and measure it.

    ``point``: mapping from symbols or names to floats (every free symbol of
    ``f`` and of ``wrt``).  ``wrt``: symbols or names to differentiate by
    (default: the free symbols in natural order).  ``methods``: names from
    :data:`METHODS` (default: all, in that order).  ``repeat``: timing runs
    per method (see :func:`~symdiff.lab.timing.time_call`).  ``ref``: a
    precomputed :func:`reference` (computed here otherwise).

    Returns one :class:`MethodResult` per method, in the order asked.  A
    method that cannot handle the expression (complex step through a
    non-analytic op) or cannot run here (the compiler) gives a row with
    ``error`` set instead of raising.
    """
    from symdiff.numeric.reference import max_rel_error

    methods = list(METHODS if methods is None else methods)
    unknown = [m for m in methods if m not in PREPARERS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(METHODS)}")
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    p = _setup(f, point, wrt)
    if ref is None:
        ref = reference(p.f, dict(zip(_names(p.order), p.x)), p.wrt)
    results = []
    for name in methods:
        row = MethodResult(name)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                # IEEE results (NaN, inf) are data here, not warnings.
                warnings.simplefilter("ignore", RuntimeWarning)
                call, extract, row.ops, row.evaluations = PREPARERS[name](p)
                row.gradient = extract(call())
                row.seconds = time_call(call, repeat)
        except _NotApplicable as exc:
            row = MethodResult(name, error=str(exc))
        else:
            row.max_rel_error = max_rel_error(row.gradient, ref.gradient)
        results.append(row)
    return results
