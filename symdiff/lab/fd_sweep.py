"""The finite-difference step sweep: :func:`fd_sweep`, the V-shaped error of
forward and central differences against the step size, with each method's
default step marked.  Drawing lives in :mod:`symdiff.lab.plots`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from symdiff.core.graph import as_outputs, free_symbols
from symdiff.core.node import Node

__all__ = ["FDSweep", "fd_sweep"]


@dataclass
class FDSweep:
    """Relative error of forward and central differences against the step.

    ``steps``: the steps tried; ``forward``/``central``: relative errors
    (NaN where ``x + h == x``, i.e. no step was taken); ``exact``: the
    reference derivative; ``default_steps``/``default_errors``: each
    method's default step (as :mod:`symdiff.numeric.finite_diff` chooses it at this
    point) and the error there.
    """

    var: str
    point: dict
    exact: float
    steps: np.ndarray
    forward: np.ndarray
    central: np.ndarray
    default_steps: dict = field(default_factory=dict)
    default_errors: dict = field(default_factory=dict)


def fd_sweep(f, point: Mapping, var=None, steps=None) -> FDSweep:
    """Error of the forward- and central-difference derivative d f / d
    ``var`` at ``point`` for each step (default: 61 steps log-spaced over
    1e-16..1e-1), against the 40-digit reference
    (:func:`symdiff.numeric.finite_diff.fd_error_sweep`).  ``var`` defaults to the
    first free symbol.  On a log-log plot the errors are V-shaped: rounding
    error ~ eps/h on the left, truncation error ~ h (forward) or h^2
    (central) on the right."""
    from symdiff.numeric import finite_diff as fd

    outs = as_outputs(f)
    if len(outs) != 1:
        raise ValueError(f"expected one scalar expression, got {len(outs)}")
    f = outs[0]
    point = {(k.payload if isinstance(k, Node) else str(k)): float(v) for k, v in point.items()}
    if var is None:
        free = free_symbols([f])
        if not free:
            raise ValueError("the expression has no variable to differentiate by")
        var = free[0].payload
    var = var.payload if isinstance(var, Node) else str(var)
    if var not in point:
        raise ValueError(f"no value given for {var}")
    steps = np.logspace(-16, -1, 61) if steps is None else np.asarray(steps, dtype=float).ravel()
    if steps.size == 0 or np.any(~(steps > 0)) or not np.all(np.isfinite(steps)):
        raise ValueError("steps must be positive and finite")
    xi = point[var]
    errors = {}
    defaults = {}
    errors_at_default = {}
    exact = None          # the 40-digit reference: computed by the first sweep only
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # A step below half an ulp of x leaves x unchanged: 0/0, NaN, no warning.
        warnings.simplefilter("ignore", RuntimeWarning)
        for method, fd_method in (("forward", fd.forward_difference),
                                  ("central", fd.central_difference)):
            # The default step as finite_diff picks it at this x (only x
            # matters for the step, not the function), swept with the others.
            h = float(fd_method(lambda v: 0.0, [xi]).step[0])
            sweep = fd.fd_error_sweep(f, point, var, np.append(steps, h), method,
                                      exact=exact)
            exact = sweep.exact
            errors[method] = sweep.relative_errors[:-1]
            defaults[method] = h
            errors_at_default[method] = float(sweep.relative_errors[-1])
    return FDSweep(var, point, float(exact), steps, errors["forward"], errors["central"],
                   defaults, errors_at_default)
