"""Finite-difference gradients: the baseline every exact method is checked
against, and the subject of the step-size (V-shaped error) plots.

All methods take ``fn``, a callable on a float64 vector returning a float,
and the point ``x``; each returns an :class:`FDResult` with ``.gradient``,
``.evaluations`` (calls of ``fn``) and ``.step``.

Default steps are scaled to the magnitude of each coordinate, so the
relative perturbation is the same at x = 1e-3 and x = 1e6:

* forward differences: ``h_i = sqrt(eps) * max(|x_i|, 1)`` (about 1.5e-8):
  truncation error ~ h |f''|, rounding error ~ eps |f| / h, balanced at
  h ~ sqrt(eps);
* central differences: ``h_i = cbrt(eps) * max(|x_i|, 1)`` (about 6e-6):
  truncation ~ h^2 |f'''|, rounding ~ eps |f| / h, balanced at h ~ cbrt(eps);
* complex step: ``h = 1e-200``: ``Im f(x + i h) / h`` has no subtraction,
  hence no cancellation, and is exact to rounding for any tiny h (only for
  functions that are analytic and evaluated with complex arithmetic);
* Richardson: central differences at h, h/2, h/4, ... combined to cancel
  the h^2, h^4, ... error terms; start ``h_i = 2^-4 * max(|x_i|, 1)``.

The trial points are made exactly representable: the step actually used is
``h = (x + h) - x`` (exact by Sterbenz's lemma), so the divisor is the true
distance between the points at which ``fn`` was evaluated, not a rounded
stand-in for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from symdiff.core.graph import as_outputs
from symdiff.core.ops import OPS
from symdiff.core.program import Program, depends_on_inputs, prepare, run, schedule, schedule_at
from symdiff.numeric.interpreter import Interpreter
from symdiff.numeric.namespaces import COMPLEX

__all__ = ["FDResult", "forward_difference", "central_difference", "complex_step",
           "richardson", "graph_function", "complex_function", "fd_error_sweep",
           "SweepResult", "EPS"]

EPS = float(np.finfo(np.float64).eps)
_SQRT_EPS = EPS ** 0.5
_CBRT_EPS = EPS ** (1.0 / 3.0)
_RICHARDSON_H = 2.0 ** -4


@dataclass
class FDResult:
    """A finite-difference gradient: ``gradient`` (float64 array),
    ``evaluations`` (calls of the function), ``step`` (the step per
    coordinate, or for Richardson the array of steps per level and
    coordinate), and for Richardson an ``error_estimate`` per coordinate."""

    gradient: np.ndarray
    evaluations: int
    step: object
    error_estimate: np.ndarray | None = field(default=None)


def _point(x) -> np.ndarray:
    x = np.array(x, dtype=np.float64, ndmin=1)
    if x.ndim != 1:
        raise ValueError(f"x must be a vector, got shape {x.shape}")
    return x


def _steps(x: np.ndarray, h, scale: float) -> np.ndarray:
    # Default: relative step scale * max(|x_i|, 1); a user h is absolute.
    if h is None:
        return scale * np.maximum(np.abs(x), 1.0)
    h = np.broadcast_to(np.asarray(h, dtype=np.float64), x.shape).copy()
    if np.any(h <= 0) or not np.all(np.isfinite(h)):
        raise ValueError("steps must be positive and finite")
    return h


def forward_difference(fn: Callable, x, h=None) -> FDResult:
    """Forward differences ``(f(x + h_i e_i) - f(x)) / h_i``: n + 1
    evaluations, error O(h) + O(eps/h).  ``h``: scalar or per-coordinate
    absolute steps (default ``sqrt(eps) * max(|x_i|, 1)``)."""
    x = _point(x)
    hs = _steps(x, h, _SQRT_EPS)
    f0 = float(fn(x))
    g = np.empty_like(x)
    used = np.empty_like(x)
    for i in range(len(x)):
        xp = x.copy()
        xp[i] = x[i] + hs[i]
        hi = xp[i] - x[i]          # the step actually taken
        g[i] = (float(fn(xp)) - f0) / hi
        used[i] = hi
    return FDResult(g, len(x) + 1, used)


def _central(fn, x: np.ndarray, i: int, h: float):
    """One central difference along coordinate i; returns (estimate, step)."""
    xp = x.copy()
    xm = x.copy()
    xp[i] = x[i] + h
    h = xp[i] - x[i]
    xm[i] = x[i] - h
    # Divide by the true distance between the trial points.
    return (float(fn(xp)) - float(fn(xm))) / (xp[i] - xm[i]), h


def central_difference(fn: Callable, x, h=None) -> FDResult:
    """Central differences ``(f(x + h e_i) - f(x - h e_i)) / 2h``: 2n
    evaluations, error O(h^2) + O(eps/h).  ``h``: scalar or per-coordinate
    absolute steps (default ``cbrt(eps) * max(|x_i|, 1)``)."""
    x = _point(x)
    hs = _steps(x, h, _CBRT_EPS)
    g = np.empty_like(x)
    used = np.empty_like(x)
    for i in range(len(x)):
        g[i], used[i] = _central(fn, x, i, hs[i])
    return FDResult(g, 2 * len(x), used)


def complex_step(fn_complex: Callable, x, h: float = 1e-200) -> FDResult:
    """Complex-step derivatives ``Im f(x + i h e_i) / h``: n evaluations,
    exact to rounding (no subtractive cancellation).  ``fn_complex`` must
    accept a complex128 vector and be analytic along the path (see
    :func:`complex_function`)."""
    x = _point(x)
    if not h > 0:
        raise ValueError("the complex step must be positive")
    g = np.empty_like(x)
    for i in range(len(x)):
        z = x.astype(np.complex128)
        z[i] += 1j * h
        g[i] = np.imag(fn_complex(z)) / h
    return FDResult(g, len(x), float(h))


def richardson(fn: Callable, x, h=None, levels: int = 4, ratio: float = 2.0) -> FDResult:
    """Central differences at steps h, h/r, h/r^2 ... (``levels`` of them)
    extrapolated to h -> 0 (Neville's table), cancelling the h^2, h^4, ...
    terms: error O(h^(2 levels)) + a small multiple of eps/h_min.

    ``h``: starting step(s), default ``2^-4 * max(|x_i|, 1)`` (larger than a
    plain central difference wants, because the extrapolation removes the
    truncation error).  ``fn`` must be defined on [x - h, x + h].
    ``error_estimate``: the change made by the last extrapolation step.
    """
    if levels < 1:
        raise ValueError("levels must be at least 1")
    if not ratio > 1:
        raise ValueError("ratio must be greater than 1")
    x = _point(x)
    hs = _steps(x, h, _RICHARDSON_H)
    n = len(x)
    g = np.empty(n)
    err = np.zeros(n)
    used = np.empty((levels, n))
    for i in range(n):
        prev_row: list[float] = []
        for k in range(levels):
            d, used[k, i] = _central(fn, x, i, hs[i] / ratio ** k)
            row = [d]
            for j in range(1, k + 1):
                # T[k][j] = T[k][j-1] + (T[k][j-1] - T[k-1][j-1]) / (r^(2j) - 1)
                row.append(row[j - 1] + (row[j - 1] - prev_row[j - 1]) / (ratio ** (2 * j) - 1))
            prev_row = row
        g[i] = prev_row[-1]
        err[i] = abs(prev_row[-1] - prev_row[-2]) if levels > 1 else np.nan
    return FDResult(g, 2 * n * levels, used, err)


# ---------------------------------------------------------------------------
# symdiff expressions as callables


def graph_function(f, inputs=None) -> Callable:
    """``fn(x)``: the scalar expression ``f`` as a callable on a float64
    vector (in ``inputs`` order, default the free symbols in natural order),
    evaluated by :class:`symdiff.Interpreter`.  ``fn.inputs`` holds the
    input names.  ``f`` may be a scheduled one-output
    :class:`~symdiff.core.program.Program` (``inputs`` None)."""
    program = _scalar_program(f, inputs)
    interp = Interpreter(program)

    def fn(x) -> float:
        """f at the float64 vector ``x`` (in ``fn.inputs`` order)."""
        return float(interp([float(v) for v in np.asarray(x, dtype=np.float64).ravel()])[0])

    fn.inputs = program.inputs
    fn.program = program
    return fn


def complex_function(f, inputs=None) -> Callable:
    """``fn(z)``: ``f`` evaluated in complex128 arithmetic over its schedule,
    for :func:`complex_step` (``f`` may be a scheduled Program, as for
    :func:`graph_function`).

    Raises ``ValueError`` naming the op if an operation that depends on the
    inputs is not complex-step safe (``OpDef.complex_ok`` false: relu, abs,
    max, ... are not analytic, and their numpy versions drop the imaginary
    part or reject complex input).
    """
    program = _scalar_program(f, inputs)
    dep = depends_on_inputs(program)
    bad = list(dict.fromkeys(ins.op for k, ins in enumerate(program.instrs)
                             if ins.args and dep[k] and not OPS[ins.op].complex_ok))
    if bad:
        raise ValueError(f"complex step is not applicable: operation(s) {', '.join(bad)} "
                         f"on the path from the inputs are not complex-step safe "
                         f"(OpDef.complex_ok is False)")
    steps = prepare(program, COMPLEX)

    def fn(z) -> complex:
        """f at the complex128 vector ``z`` (in ``fn.inputs`` order)."""
        z = np.asarray(z, dtype=np.complex128).ravel()
        with np.errstate(all="ignore"):
            return complex(run(program, COMPLEX, list(z), steps=steps)[0])

    fn.inputs = program.inputs
    fn.program = program
    return fn


def _scalar_outputs(f) -> list:
    outs = as_outputs(f)
    if len(outs) != 1:
        raise ValueError(f"expected one scalar expression, got {len(outs)}")
    return outs


def _scalar_program(f, inputs) -> Program:
    """``f`` scheduled over ``inputs``, or ``f`` itself if it is already a
    :class:`~symdiff.core.program.Program` (then ``inputs`` must be None)."""
    if isinstance(f, Program):
        if len(f.outputs) != 1:
            raise ValueError(f"expected one scalar expression, got {len(f.outputs)}")
        if inputs is not None:
            raise ValueError("inputs must be None for a Program (it fixes the input order)")
        return f
    return schedule(_scalar_outputs(f), inputs)


@dataclass
class SweepResult:
    """Finite-difference error as a function of the step: ``steps``,
    ``estimates``, the ``exact`` derivative, absolute ``errors`` and
    ``relative_errors`` (relative to max(|exact|, tiny))."""

    steps: np.ndarray
    estimates: np.ndarray
    exact: float
    errors: np.ndarray
    relative_errors: np.ndarray


def fd_error_sweep(f, point, var, steps, method: str = "central", inputs=None,
                   exact: float | None = None) -> SweepResult:
    """Error of the finite-difference derivative d f / d ``var`` at ``point``
    for each step in ``steps``, against the exact derivative (symbolic
    gradient evaluated at 40 digits by :func:`symdiff.numeric.reference.reference_gradient`,
    or ``exact`` when the caller has it already, e.g. from an earlier sweep's
    ``SweepResult.exact``).

    ``method``: ``"forward"``, ``"central"`` or ``"complex"``.  On a log-log
    plot forward and central errors are V-shaped (truncation falling with h
    on the right, rounding growing as eps/h on the left, minimum near
    sqrt(eps) resp. cbrt(eps)); complex-step errors stay flat at rounding
    level.
    """
    from symdiff.numeric.reference import reference_gradient

    if method not in ("forward", "central", "complex"):
        raise ValueError(f"unknown method {method!r}")
    program, x = schedule_at(_scalar_outputs(f), point, inputs, convert=float)
    names = program.inputs
    vname = var.payload if hasattr(var, "payload") else str(var)
    if vname not in names:
        raise ValueError(f"{vname!r} is not an input ({', '.join(names)})")
    i = names.index(vname)
    x = np.array(x)
    if exact is None:
        _, ref = reference_gradient(f, dict(zip(names, x)), inputs=names)
        exact = ref[i]
    exact = float(exact)
    if method == "complex":
        cfn = complex_function(program)
    else:
        fn = graph_function(program)
    steps = np.asarray(steps, dtype=np.float64).ravel()
    est = np.empty_like(steps)
    for k, h in enumerate(steps):
        if method == "complex":
            def along(t, _x=x):
                z = _x.astype(np.complex128)
                z[i] = t[0]
                return cfn(z)
            est[k] = complex_step(along, x[i:i + 1], h).gradient[0]
        else:
            def along(t, _x=x):
                y = _x.copy()
                y[i] = t[0]
                return fn(y)
            method_fn = forward_difference if method == "forward" else central_difference
            est[k] = method_fn(along, x[i:i + 1], h).gradient[0]
    errors = np.abs(est - exact)
    rel = errors / max(abs(exact), np.finfo(np.float64).tiny)
    return SweepResult(steps, est, exact, errors, rel)
