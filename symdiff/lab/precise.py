"""Correctly rounded references for f and its partial derivatives, computed
independently of symdiff's own differentiation.

The expression goes to SymPy (:func:`symdiff.to_sympy`); its partials come
from ``sympy.diff``; each is turned into a function by ``sympy.lambdify``
over mpmath's *interval* arithmetic (``mpmath.iv``) and evaluated at
increasing precision, 64, 128, 256 ... bits, until the two ends of the
enclosing interval round to the same double: that double is then the
correctly rounded value.

Why intervals rather than "until two precisions agree": two precisions can
agree on a wrong value.  ``1 - tanh(x)^2`` at x = 300 is 0 at 128 and at
256 bits alike (tanh(300) = 1 - 2e-261 rounds to 1 at both), while the
true value is 3.5e-261; ``sqrt(x + 1) - sqrt(x)`` at x = 1e300 is 0 up to
about 1000 bits.  An interval at 128 bits says ``[0, 2^-128]`` instead,
whose ends round to different doubles, so the ladder climbs until the
answer is certain.  mpmath's interval context lacks a few functions (atan,
asin, acos, sinh, cosh, tanh, hypot, and symdiff's sigmoid, softplus and
logsumexp); :data:`IV_NAMESPACE` supplies them from their monotonicity,
evaluating the ends 16 bits more precisely and widening each by 2 ulps.

A point is dropped for one output (and counted) when the reference there is
not a finite double (a NaN, a complex value, a pole, or a value beyond
DBL_MAX) or when no interval is narrow enough up to :data:`MAX_PRECISION`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import mpmath
import numpy as np

from symdiff.lab.accuracy import to_double

__all__ = ["MAX_PRECISION", "START_PRECISION", "IV_NAMESPACE", "MP_NAMESPACE", "Reference",
           "sympy_gradient", "reference_functions", "settle", "correctly_rounded"]

#: The first and the last rung of the precision ladder, in bits.
START_PRECISION = 64
MAX_PRECISION = 16384

_iv = mpmath.iv


def _endpoint(x) -> mpmath.mpf:
    # An ivmpf end (a raw mpf tuple) as an exact mpf.
    return mpmath.mp.make_mpf(x)


def _widen(v: mpmath.mpf, prec: int, up: bool) -> mpmath.mpf:
    # v, computed 16 bits beyond prec with < 1 ulp of error, moved 2 ulps
    # (of prec + 16 bits) outward: a bound in the direction `up`.
    if v == 0 or not mpmath.isfinite(v):
        return v
    step = abs(v) * mpmath.ldexp(1, -(prec + 14))
    return v + step if up else v - step


def _monotone(fn: Callable, increasing: bool = True) -> Callable:
    """An interval version of the monotone mpmath function ``fn``."""
    def on_interval(x):
        x = _iv.mpf(x)
        lo, hi = (_endpoint(e) for e in x._mpi_)
        prec = _iv.prec
        with mpmath.workprec(prec + 16):
            a, b = fn(lo), fn(hi)
            if not increasing:
                a, b = b, a
            if isinstance(a, mpmath.mpc) or isinstance(b, mpmath.mpc):
                raise ValueError(f"{fn.__name__}: complex result")
            a, b = _widen(a, prec, False), _widen(b, prec, True)
        return _iv.mpf([a, b])

    on_interval.__name__ = fn.__name__
    return on_interval


def _iv_cosh(x):
    x = _iv.mpf(x)
    lo, hi = (_endpoint(e) for e in x._mpi_)
    if lo >= 0:
        return _monotone(mpmath.cosh)(x)
    if hi <= 0:
        return _monotone(mpmath.cosh, increasing=False)(x)
    top = _monotone(mpmath.cosh)(_iv.mpf(max(-lo, hi)))
    return _iv.mpf([1, _endpoint(top._mpi_[1])])


def _iv_mpf(value):
    # lambdify writes a Float as mpf((sign, man, exp, bc)), which the
    # interval context does not read; the tuple is exact as an mpf.
    if isinstance(value, tuple):
        value = mpmath.mp.make_mpf(value)
    return _iv.mpf(value)


def _mp_sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


def _mp_softplus(x):
    return mpmath.log1p(mpmath.exp(x))


def _mp_logsumexp(*xs):
    return mpmath.log(mpmath.fsum(mpmath.exp(x) for x in xs))


def _iv_hypot(x, y):
    return _iv.sqrt(x * x + y * y)


def _iv_logsumexp(*xs):
    total = _iv.exp(xs[0])
    for x in xs[1:]:
        total = total + _iv.exp(x)
    return _iv.log(total)


#: Names ``sympy.lambdify`` (mpmath printer) writes, bound to interval
#: implementations.  A name missing here fails loudly (NameError) rather
#: than falling back to a non-rigorous function.
def _iv_sign(x):
    # sign on an interval: decided where the interval does not straddle 0
    # (more precision narrows it; a point exactly at 0 stays 0).
    x = _iv.mpf(x)
    lo, hi = (_endpoint(e) for e in x._mpi_)
    if lo > 0:
        return _iv.mpf(1)
    if hi < 0:
        return _iv.mpf(-1)
    if lo == 0 and hi == 0:
        return _iv.mpf(0)
    raise ValueError("sign of an interval around 0: not decided at this precision")


def _iv_heaviside(x, at_zero=0.5):
    # SymPy's Heaviside (from derivatives of Max/Min), H(0) = 1/2 as SymPy has it.
    s = _iv_sign(x)
    lo = _endpoint(s._mpi_[0])
    return _iv.mpf(1 if lo > 0 else 0 if lo < 0 else at_zero)


def _iv_dirac(x):
    # SymPy's DiracDelta (from derivatives of sign and Heaviside): 0 away
    # from 0; at 0 there is no finite reference (the point is dropped).
    x = _iv.mpf(x)
    lo, hi = (_endpoint(e) for e in x._mpi_)
    if lo > 0 or hi < 0:
        return _iv.mpf(0)
    raise ValueError("DiracDelta at 0 has no finite value")


IV_NAMESPACE = {
    "mpf": _iv_mpf, "pi": _iv.pi, "e": _iv.e,
    "exp": _iv.exp, "log": _iv.log, "sqrt": _iv.sqrt, "sin": _iv.sin, "cos": _iv.cos,
    "tan": _iv.tan, "log1p": _iv.log1p, "expm1": _iv.expm1,
    "atan": _monotone(mpmath.atan), "asin": _monotone(mpmath.asin),
    "acos": _monotone(mpmath.acos, increasing=False), "sinh": _monotone(mpmath.sinh),
    "tanh": _monotone(mpmath.tanh), "cosh": _iv_cosh, "hypot": _iv_hypot,
    "sigmoid": _monotone(_mp_sigmoid), "softplus": _monotone(_mp_softplus),
    "logsumexp": _iv_logsumexp,
    "Abs": abs, "abs": abs, "sign": _iv_sign, "Heaviside": _iv_heaviside,
    "DiracDelta": _iv_dirac,
}

#: The same names as plain mpmath functions (beyond mpmath's own), for
#: deciding whether a point where the interval failed is a real number.
MP_NAMESPACE = {"sigmoid": _mp_sigmoid, "softplus": _mp_softplus,
                "logsumexp": _mp_logsumexp}


@dataclass
class Reference:
    """Correctly rounded values of f and its partials at the sample points.

    ``values``: ``(n, 1 + k)``, NaN where the point is dropped for that
    output; ``non_finite[j]`` / ``unsettled[j]``: points dropped for output
    j because the reference is not a finite double / no interval was
    narrow enough; ``max_precision``: the highest precision any point
    needed."""

    values: np.ndarray
    non_finite: list[int]
    unsettled: list[int]
    max_precision: int


def _elementary(expr):
    """``expr`` with symdiff's stable primitives (kept opaque by
    :func:`symdiff.to_sympy`) written out in exp, log and sqrt, so that
    ``sympy.diff`` differentiates elementary functions only."""
    import sympy

    written_out = {
        "sigmoid": lambda a: 1 / (1 + sympy.exp(-a)),
        "softplus": lambda a: sympy.log(1 + sympy.exp(a)),
        "logsumexp": lambda *a: sympy.log(sympy.Add(*[sympy.exp(t) for t in a])),
        "log1p": lambda a: sympy.log(1 + a),
        "expm1": lambda a: sympy.exp(a) - 1,
        "hypot": lambda a, b: sympy.sqrt(a ** 2 + b ** 2),
    }
    return expr.replace(
        lambda e: isinstance(e, sympy.Function) and type(e).__name__ in written_out,
        lambda e: written_out[type(e).__name__](*e.args))


def sympy_gradient(f, names: Sequence[str], elementary: bool = False):
    """``(symbols, [f, d f / d names[0], ...])`` in SymPy: f through
    :func:`symdiff.to_sympy` (with ``elementary``, its stable primitives
    written out first), the partials by ``sympy.diff`` with respect to the
    very symbols ``to_sympy`` made (matched by name, whatever their
    assumptions)."""
    import sympy

    from symdiff.text.sympy_interop import to_sympy

    expr = to_sympy(f)
    # symdiff's variables are real: declared so, d|x|/dx is sign(x) rather
    # than an expression in re(x) and Derivative(re(x), x) that no printer
    # can evaluate.
    expr = expr.xreplace({s: sympy.Symbol(s.name, real=True) for s in expr.free_symbols})
    if elementary:
        expr = _elementary(expr)
    by_name = {s.name: s for s in expr.free_symbols}
    syms = [by_name.get(n, sympy.Symbol(n)) for n in names]
    return syms, [expr] + [sympy.diff(expr, s) for s in syms]


def reference_functions(f, names: Sequence[str]) -> list[tuple[Callable, Callable]]:
    """For f and d f / d name for each name: a pair (interval function,
    plain mpmath function) of the point coordinates in ``names`` order,
    built by SymPy from elementary functions (:func:`sympy_gradient`), not
    from symdiff's derivative rules: the reference is an independent
    oracle."""
    import sympy

    syms, outs = sympy_gradient(f, names, elementary=True)
    try:
        return [(sympy.lambdify(syms, e, modules=[IV_NAMESPACE]),
                 sympy.lambdify(syms, e, modules=[MP_NAMESPACE, "mpmath"])) for e in outs]
    except Exception as exc:   # a SymPy printer without a rule for some function
        raise ValueError(f"no reference for {f}: SymPy cannot evaluate its derivatives "
                         f"({type(exc).__name__}: {exc})") from None


_FAILURES = (ZeroDivisionError, ValueError, OverflowError, TypeError, ArithmeticError)


def _is_real_at(plain: Callable, point: Sequence[float], prec: int) -> bool:
    # Whether the plain mpmath evaluation gives a real number at all (a
    # failed interval evaluation near a real value just needs more bits).
    with mpmath.workprec(prec):
        try:
            v = plain(*[mpmath.mpf(x) for x in point])
        except _FAILURES:
            return False
    if isinstance(v, mpmath.mpc):
        return v.imag == 0
    try:
        return not mpmath.isnan(v)
    except TypeError:
        return False


def _ends(interval: Callable, point: Sequence[float], prec: int):
    # The interval's ends rounded to doubles, or None if it is not a real
    # interval (complex, or the evaluation failed).
    _iv.prec = prec
    try:
        v = interval(*[_iv.mpf(x) for x in point])
    except _FAILURES:
        return None
    if isinstance(v, (int, float)):
        v = _iv.mpf(v)
    if not isinstance(v, _iv.mpf):
        return None
    lo, hi = v._mpi_
    return to_double(_endpoint(lo)), to_double(_endpoint(hi))


def settle(fns: tuple[Callable, Callable], point: Sequence[float],
           max_precision: int = MAX_PRECISION) -> tuple[float | None, int]:
    """Climb the ladder for one output at one point: ``(value, bits)``, the
    double both ends of the interval round to and the precision that gave
    it, ``(nan, bits)`` if the value is not a real number, or ``(None,
    bits)`` if no interval was narrow enough up to ``max_precision``."""
    interval, plain = fns
    prec = START_PRECISION
    old = _iv.prec
    try:
        while True:
            ends = _ends(interval, point, prec)
            if ends is None and not _is_real_at(plain, point, prec):
                return math.nan, prec
            if ends is not None and (ends[0] == ends[1] or
                                     (math.isnan(ends[0]) and math.isnan(ends[1]))):
                return ends[0], prec
            if prec >= max_precision:
                return None, prec
            prec = min(2 * prec, max_precision)
    finally:
        _iv.prec = old


def correctly_rounded(f, names: Sequence[str], X: np.ndarray,
                      max_precision: int = MAX_PRECISION,
                      progress: Callable[[int], None] | None = None) -> Reference:
    """The :class:`Reference` of f and its partials (by ``names``) at the
    rows of ``X`` (``(n, len(names))``).  ``progress(rows_done)`` is called
    after each row, if given."""
    fns = reference_functions(f, names)
    X = np.asarray(X, dtype=np.float64)
    n, k = len(X), len(fns)
    values = np.full((n, k), math.nan)
    non_finite = [0] * k
    unsettled = [0] * k
    top = 0
    for i, row in enumerate(X.tolist()):
        for j, pair in enumerate(fns):
            v, prec = settle(pair, row, max_precision)
            top = max(top, prec)
            if v is None:
                unsettled[j] += 1
            elif not math.isfinite(v):
                non_finite[j] += 1
            else:
                values[i, j] = v
        if progress is not None:
            progress(i + 1)
    return Reference(values, non_finite, unsettled, top)
