"""Accuracy of whole expressions and their gradients, per method, over a
domain: the measurement behind ``symdiff compare EXPR --accuracy`` and
``benchmarks/bench_accuracy.py``.

For one expression: draw points uniformly over the float64 bit patterns of
the domain (:func:`symdiff.lab.bits.sample_domain`), compute the correctly
rounded f and partials independently (:mod:`symdiff.lab.precise`: SymPy
derivatives in mpmath at increasing precision), evaluate every method of
:mod:`symdiff.lab.accuracy_methods`, and score each output in bits of error
(:mod:`symdiff.lab.bits`).  (The per-primitive ulp bounds of compiled code
are :mod:`symdiff.lab.accuracy`'s.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from symdiff.lab.accuracy_methods import ACCURACY_METHODS, MethodUnavailable, evaluate_method
from symdiff.lab.bits import BitsSummary, Interval, bits_of_error, sample_domain, summarize_bits
from symdiff.lab.precise import MAX_PRECISION, Reference, correctly_rounded

__all__ = ["MethodAccuracy", "ExpressionAccuracy", "measure_expression", "variable_names",
           "agreement", "output_summaries"]


@dataclass
class MethodAccuracy:
    """One method on one expression: its values, bits of error per point
    and output (NaN where the reference was dropped), and summaries of f
    and of the gradient (all partials pooled); or the reason it did not run."""

    method: str
    values: np.ndarray | None = None
    bits: np.ndarray | None = None
    f: BitsSummary | None = None
    grad: BitsSummary | None = None
    unavailable: str | None = None


@dataclass
class ExpressionAccuracy:
    """Everything measured on one expression."""

    f: object                                   # the symdiff expression
    names: list[str]                            # variables, in column order
    domains: dict[str, Interval]
    X: np.ndarray                               # (n, k) points
    reference: Reference
    methods: dict[str, MethodAccuracy] = field(default_factory=dict)

    @property
    def outputs(self) -> list[str]:
        """Output labels: ``f``, ``df/dx`` ..."""
        return ["f"] + [f"df/d{n}" for n in self.names]


def variable_names(f) -> list[str]:
    """The free variables of ``f`` in natural name order (x2 before x10)."""
    from symdiff.core.graph import free_symbols

    return [s.payload for s in free_symbols(f)]


def _summaries(values: np.ndarray, ref: np.ndarray):
    bits = np.full(ref.shape, math.nan)
    keep = np.isfinite(ref)
    bits[keep] = bits_of_error(values[keep], ref[keep])
    f = summarize_bits(values[:, 0], ref[:, 0])
    g = summarize_bits(values[:, 1:], ref[:, 1:])
    return bits, f, g


def measure_expression(f, domains: Mapping[str, Interval], n_points: int = 256,
                       seed: int | Sequence[int] = 0, methods: Sequence[str] | None = None,
                       names: Sequence[str] | None = None,
                       max_precision: int = MAX_PRECISION,
                       progress: Callable[[str, int, int], None] | None = None
                       ) -> ExpressionAccuracy:
    """Measure ``f`` (a scalar symdiff expression) over ``domains`` (name ->
    :class:`~symdiff.lab.bits.Interval`, one per variable) at ``n_points``
    points drawn with ``seed`` (anything ``numpy.random.default_rng`` takes),
    by each of ``methods`` (default :data:`ACCURACY_METHODS`), differentiating
    by ``names`` (default every variable; others must still have a domain).
    ``progress(stage, done, total)`` reports the reference's rows and then
    each method."""
    all_names = variable_names(f)
    names = list(all_names if names is None else names)
    unknown = [m for m in (methods or ()) if m not in ACCURACY_METHODS]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}; expected one of "
                         f"{', '.join(ACCURACY_METHODS)}")
    missing = [v for v in all_names if v not in domains]
    if missing:
        raise ValueError(f"no domain for variable {missing[0]!r}; give one such as "
                         f"{missing[0]}=-1e300:1e300")
    extra = [v for v in domains if v not in all_names]
    if extra:
        raise ValueError(f"domain given for {extra[0]!r}, which the expression does not use")
    if n_points < 1:
        raise ValueError("the number of points must be at least 1")
    # Differentiated variables first, the rest held at their sampled values
    # (the points cover every variable either way).
    order = names + [v for v in all_names if v not in names]
    X = sample_domain(domains, order, n_points, seed)

    def ref_progress(done):
        if progress:
            progress("reference", done, n_points)

    ref = correctly_rounded(f, order, X, max_precision, ref_progress)
    # The reference and the methods differentiate by every variable (cheap);
    # the report keeps f and the partials by `names`.
    keep_cols = [0] + [1 + order.index(n) for n in names]
    ref = Reference(ref.values[:, keep_cols], [ref.non_finite[j] for j in keep_cols],
                    [ref.unsettled[j] for j in keep_cols], ref.max_precision)
    result = ExpressionAccuracy(f, names, dict(domains), X, ref)
    chosen = list(methods or ACCURACY_METHODS)
    for i, method in enumerate(chosen):
        if progress:
            progress(method, i, len(chosen))
        try:
            vals = evaluate_method(method, f, order, X)[:, keep_cols]
        except MethodUnavailable as exc:
            result.methods[method] = MethodAccuracy(method, unavailable=str(exc))
            continue
        bits, fs, gs = _summaries(vals, ref.values)
        result.methods[method] = MethodAccuracy(method, vals, bits, fs, gs)
    return result


def agreement(a: MethodAccuracy, b: MethodAccuracy, ulps: float = 2.0) -> float | None:
    """Fraction of (point, output) results on which methods ``a`` and ``b``
    agree: both NaN, the same infinity, or finite within ``ulps`` doubles
    of each other.  None if either did not run."""
    from symdiff.lab.bits import ulp_distance

    if a.values is None or b.values is None:
        return None
    d = ulp_distance(a.values, b.values)
    return float((d <= ulps).mean()) if d.size else 1.0


def output_summaries(result: ExpressionAccuracy, method: str) -> list[BitsSummary] | None:
    """Bits of error of ``method`` per output (f, then each partial), or
    None if the method did not run."""
    m = result.methods[method]
    if m.values is None:
        return None
    ref = result.reference.values
    return [summarize_bits(m.values[:, j], ref[:, j]) for j in range(ref.shape[1])]
