"""High-precision reference values: f and its symbolic gradient evaluated in
mpmath (40 significant digits by default).

The reference evaluates exactly the float64 expression that the other
methods see (every constant is its float64 value, converted exactly), but
with rounding errors 10^-24 times smaller, so any disagreement beyond a few
ulps is a bug in a float64 method, not in the reference.  The gradient is
:func:`symdiff.grad`'s expression; the point of the comparison is the
*evaluation* of derivatives (forward, reverse, tape, finite differences,
compiled code) against an oracle.

:data:`MP_OPS` is an mpmath implementation of every op of the table, keyed
by name (a test checks that none is missing).  Results follow IEEE real
arithmetic where mpmath would differ: a complex result (log of a negative
number, asin outside [-1, 1], a negative number to a fractional power) is
NaN, and x/0 is +-inf or NaN instead of an exception.  The non-smooth ops
use their exact piecewise definitions (relu(0) = 0, step(0) = 0, sign(0) =
0, eq exact, max/min ignoring NaN like ``numpy.fmax``).  mpmath has no
signed zero, so results that depend on the sign of a zero (1/-0) follow +0.
"""

from __future__ import annotations

import operator
from typing import Mapping

import mpmath
import numpy as np
from mpmath import mpf

from symdiff.core.graph import as_outputs, free_symbols
from symdiff.core.namespace import Namespace
from symdiff.core.node import Node
from symdiff.core.program import run, schedule_at

__all__ = ["MP_OPS", "MPMATH", "mp_evaluate", "reference_gradient", "max_rel_error"]

_nan = mpmath.nan
_inf = mpmath.inf


def _isnan(x) -> bool:
    return mpmath.isnan(x)


def _real(fn):
    """IEEE-real wrapper: complex results become NaN."""
    def wrapped(*args):
        if any(_isnan(a) for a in args):
            return _nan
        r = fn(*args)
        if isinstance(r, mpmath.mpc):
            return r.real if r.imag == 0 else _nan
        return r

    wrapped.__name__ = getattr(fn, "__name__", "op")
    return wrapped


def _div(a, b):
    if b == 0:
        if a == 0 or _isnan(a):
            return _nan
        return _inf if a > 0 else -_inf
    return a / b


def _pow(a, b):
    if b == 0:                      # IEEE: x^0 = 1, even for NaN
        return mpf(1)
    if a == 1:                      # IEEE: 1^y = 1, even for NaN
        return mpf(1)
    if _isnan(a) or _isnan(b):
        return _nan
    if a == 0:
        if b < 0:
            return _inf              # (the sign for odd b would need -0)
        return mpf(0)
    if a < 0 and not mpmath.isint(b):
        return _nan                 # negative base, fractional exponent
    return mpmath.power(a, b)


def _log1p(x):
    if x == -1:
        return -_inf
    return mpmath.log1p(x)


def _sigmoid(x):
    # 1 / (1 + e^-x), written so that exp never overflows mpmath's range
    # (it has none in practice, but keep the float64-style formulation).
    if x >= 0:
        return 1 / (1 + mpmath.exp(-x))
    e = mpmath.exp(x)
    return e / (1 + e)


def _softplus(x):
    if x > 0:
        return x + mpmath.log1p(mpmath.exp(-x))
    return mpmath.log1p(mpmath.exp(x))


def _logsumexp(*args):
    # Shifted by the max so that the exponentials stay in range; an infinite
    # max is the result (all -inf gives -inf, any +inf gives +inf).
    if any(_isnan(a) for a in args):
        return _nan
    rest = list(args)
    m = max(rest)
    if mpmath.isinf(m):
        return m
    rest.remove(m)
    # log1p of the others' share: log(1 + 4e-18) keeps its 4e-18 at any precision.
    return m + mpmath.log1p(mpmath.fsum(mpmath.exp(a - m) for a in rest))


def _hypot(a, b):
    # C99/IEEE: an infinite argument gives +inf even when the other is NaN.
    if mpmath.isinf(a) or mpmath.isinf(b):
        return _inf
    return _real(mpmath.hypot)(a, b)


def _relu(x):
    return x if x > 0 else mpf(0)


def _step(x):
    return mpf(1) if x > 0 else mpf(0)


def _sign(x):
    return mpf(1) if x > 0 else (mpf(-1) if x < 0 else mpf(0))


def _fmax(*args):
    nums = [a for a in args if not _isnan(a)]
    return max(nums) if nums else _nan


def _fmin(*args):
    nums = [a for a in args if not _isnan(a)]
    return min(nums) if nums else _nan


def _eq(a, b):
    return mpf(1) if a == b else mpf(0)   # NaN == NaN is false, as in IEEE


#: mpmath implementation of every op of :data:`symdiff.core.ops.OPS`.
MP_OPS = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": _div,
    "neg": operator.neg,
    "pow": _pow,
    "exp": _real(mpmath.exp),
    "log": _real(mpmath.log),
    "log1p": _real(_log1p),
    "expm1": _real(mpmath.expm1),
    "sqrt": _real(mpmath.sqrt),
    "sin": _real(mpmath.sin),
    "cos": _real(mpmath.cos),
    "tan": _real(mpmath.tan),
    "asin": _real(mpmath.asin),
    "acos": _real(mpmath.acos),
    "atan": _real(mpmath.atan),
    "sinh": _real(mpmath.sinh),
    "cosh": _real(mpmath.cosh),
    "tanh": _real(mpmath.tanh),
    "sigmoid": _real(_sigmoid),
    "softplus": _real(_softplus),
    "relu": _real(_relu),
    "abs": _real(abs),
    "max": _fmax,
    "min": _fmin,
    "step": _real(_step),
    "sign": _real(_sign),
    "eq": _eq,
    "hypot": _hypot,
    "logsumexp": _logsumexp,
}


def _to_mpf(v):
    # Floats convert exactly; strings and mpf keep their full precision, so a
    # point can be given as "0.1" to mean the decimal number.
    if isinstance(v, (mpf, str)):
        return mpf(v)
    return mpf(float(v))


#: The mpmath namespace for :func:`~symdiff.core.program.run`.
MPMATH = Namespace("mpmath", MP_OPS, const=mpf)


def mp_evaluate(outputs, point, inputs=None, dps: int = 40) -> list:
    """Evaluate expressions in mpmath at ``dps`` digits:
    :func:`~symdiff.core.program.run` with :data:`MPMATH`.  ``point`` as in
    :func:`symdiff.evaluate` (values may also be mpf or decimal strings).
    Returns a list of mpf."""
    with mpmath.workdps(dps):
        program, x = schedule_at(as_outputs(outputs), point, inputs, convert=_to_mpf)
        vals = run(program, MPMATH, x)
        # Unary plus rounds to the working precision before it is left.
        return [+v for v in vals]


def reference_gradient(f, point, inputs=None, dps: int = 40):
    """``(value, gradient)`` of the scalar expression ``f`` at ``point`` in
    mpmath at ``dps`` digits: f and its symbolic gradient
    (:func:`symdiff.grad`) are scheduled together and evaluated by
    :func:`mp_evaluate`.  The gradient is a list of mpf in ``inputs`` order
    (default: the free symbols in natural order, or the keys of a mapping
    ``point``)."""
    from symdiff.core.differentiate import grad

    outs = as_outputs(f)
    if len(outs) != 1:
        raise ValueError(f"reference_gradient needs one scalar expression, got {len(outs)}")
    if inputs is None:
        # The inputs schedule_at would choose: a mapping's keys, else the
        # free symbols in natural order.
        inputs = ([k if isinstance(k, Node) else str(k) for k in point]
                  if isinstance(point, Mapping) else free_symbols(outs))
    # f is scheduled once, together with its gradient (which checks inputs).
    g = grad(outs[0], inputs)
    vals = mp_evaluate([outs[0], *g], point, inputs=inputs, dps=dps)
    return vals[0], vals[1:]


def max_rel_error(grad, ref_grad, tiny: float = 1e-300) -> float:
    """Normwise relative error ``max_i |grad_i - ref_i| / max(max_i |ref_i|, tiny)``
    computed in high precision.

    NaN-aware: a component that is NaN in both (or the same infinity in
    both) agrees; NaN or infinity in only one of them is an infinite error.
    Normwise rather than componentwise so that a tiny component produced
    by cancellation does not dominate (the usual measure for gradients).
    """
    g = list(np.atleast_1d(np.asarray(grad, dtype=object)).ravel())
    r = list(np.atleast_1d(np.asarray(ref_grad, dtype=object)).ravel())
    if len(g) != len(r):
        raise ValueError(f"length mismatch: {len(g)} vs {len(r)}")
    with mpmath.workdps(40):
        diffs = []
        scale = mpf(0)
        for a, b in zip(g, r):
            a = _to_mpf(a)
            b = _to_mpf(b)
            if _isnan(a) or _isnan(b):
                if not (_isnan(a) and _isnan(b)):
                    return float("inf")
                continue
            if mpmath.isinf(a) or mpmath.isinf(b):
                if a != b:
                    return float("inf")
                continue
            diffs.append(abs(a - b))
            scale = max(scale, abs(b))
        if not diffs:
            return 0.0
        return float(max(diffs) / max(scale, mpf(tiny)))
