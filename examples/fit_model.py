"""Fitting a damped oscillator to noisy data with scipy.optimize.least_squares
and a Jacobian that symdiff derives and compiles.

    model:    y(t) = A exp(-t / tau) cos(omega t + phi) + c
    residual: r_i  = y(t_i) - y_i,   parameters p = (A, tau, omega, phi, c)

The residual of ONE data point is built symbolically over
[A, tau, omega, phi, c, t, y]; ``sd.LeastSquares(r, params, data={"t": t,
"y": y})`` compiles it with its gradient with respect to the five
parameters, and all N residuals and the N x 5 Jacobian come from a single
batch call over the data points, which ``least_squares`` receives as
``fun`` and ``jac``.

The data are synthetic with a fixed seed: the true model plus Gaussian
noise.  The fit with symdiff's Jacobian is compared with least_squares'
own finite-difference Jacobian ('2-point') from the same start (function
and Jacobian evaluations, time, final cost), and the recovered parameters
are printed with their standard errors (from the compiled Jacobian at the
solution) next to the true values.

Run: ``python examples/fit_model.py [--points N] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ensure_symdiff, report_wall_time, table  # noqa: E402

ensure_symdiff()

import symdiff as sd  # noqa: E402

NAMES = ("A", "tau", "omega", "phi", "c")
TRUE = np.array([2.5, 3.0, 2.0, 0.5, 0.3])
START = np.array([2.0, 2.0, 1.9, 0.0, 0.0])   # omega must start near the truth:
# the cost is multimodal in omega (each wrong number of periods is a local minimum)
NOISE = 0.05


def residual():
    """The residual of one data point, ``(r, params)``: r over the five
    parameters and the point's t and y."""
    A, tau, omega, phi, c, t, y = sd.symbols("A tau omega phi c t y")
    r = A * sd.exp(-t / tau) * sd.cos(omega * t + phi) + c - y
    return r, [A, tau, omega, phi, c]


def make_data(n_points: int, seed: int = 0):
    """``(t, y)``: the true model on [0, 10] plus N(0, NOISE^2) noise."""
    t = np.linspace(0.0, 10.0, n_points)
    A, tau, omega, phi, c = TRUE
    y = A * np.exp(-t / tau) * np.cos(omega * t + phi) + c
    return t, y + np.random.default_rng(seed).normal(0.0, NOISE, n_points)


def residuals_for(t, y) -> sd.LeastSquares:
    """``fun``/``jac`` for least_squares: the residual of one point compiled
    with its gradient, evaluated over all points by one batch call per
    parameter vector (the Jacobian at the point whose residuals were just
    computed reuses that call)."""
    r, params = residual()
    return sd.LeastSquares(r, params, data={"t": t, "y": y}, name="oscillator")


def standard_errors(J: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Parameter standard errors sqrt(diag(s^2 (J^T J)^-1)), s^2 the
    residual variance (the usual Gauss-Newton covariance estimate)."""
    dof = max(1, len(r) - J.shape[1])
    s2 = float(r @ r) / dof
    return np.sqrt(np.diag(s2 * np.linalg.inv(J.T @ J)))


def fit(rf: sd.LeastSquares, jac: str):
    """Run least_squares from START with ``jac`` = 'symdiff', '2-point'
    or '3-point'.  Returns (result, seconds, kernel calls)."""
    from scipy.optimize import least_squares

    calls = rf.calls
    t0 = time.perf_counter()
    res = least_squares(rf.fun, START, jac=rf.jac if jac == "symdiff" else jac,
                        method="trf", x_scale="jac")
    return res, time.perf_counter() - t0, rf.calls - calls


def main(argv=None) -> dict:
    """Fit with both Jacobians and print the comparison; returns the
    results (used by the tests)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=2000,
                   help="number of data points (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--quick", action="store_true", help="200 data points")
    args = p.parse_args(argv)
    n_points = 200 if args.quick else args.points

    t, y = make_data(n_points, args.seed)
    print(f"data: {n_points} points on t in [0, 10], noise sigma {NOISE}, seed {args.seed}")
    t0 = time.perf_counter()
    rf = residuals_for(t, y)
    print(f"compiled the residual and its gradient in {time.perf_counter() - t0:.2f} s")

    # The compiled Jacobian against central differences of the compiled
    # residuals, at the start (where the fit begins).
    J = rf.jac(START)
    h = 1e-6 * np.maximum(1.0, np.abs(START))
    J_fd = np.column_stack([(rf.fun(START + h[k] * e) - rf.fun(START - h[k] * e)) / (2 * h[k])
                            for k, e in enumerate(np.eye(5))])
    jac_err = float(np.max(np.abs(J - J_fd)) / np.max(np.abs(J)))
    print(f"Jacobian check at the start: max |J - J_central| / max |J| = {jac_err:.1e}")

    runs = {}
    for jac in ("symdiff", "2-point", "3-point"):
        res, secs, calls = fit(rf, jac)
        runs[jac] = {"result": res, "seconds": secs, "params": res.x, "cost": float(res.cost),
                     "nfev": int(res.nfev), "njev": int(res.njev or 0),
                     "kernel_calls": calls, "status": int(res.status)}
    rows = [["least_squares, symdiff-compiled Jacobian" if k == "symdiff" else
             f"least_squares, finite differences '{k}'", r["nfev"], r["njev"], r["kernel_calls"],
             f"{r['seconds'] * 1e3:.1f} ms", f"{r['cost']:.10g}"] for k, r in runs.items()]
    print(table(["method", "f evals", "Jacobian evals", "kernel calls", "time", "final cost"],
                rows))
    print("(all runs evaluate the residuals with the compiled kernel; 'kernel calls' counts "
          "them, including\n the 5 ('2-point') or 10 ('3-point') extra residual evaluations "
          "per finite-difference Jacobian,\n which least_squares leaves out of 'f evals')")

    best = runs["symdiff"]
    r = best["result"]
    se = standard_errors(r.jac, r.fun)
    body = [[name, f"{tv:g}", f"{st:g}", f"{v:.4f}", f"{e:.4f}", f"{(v - tv) / e:+.1f}",
             f"{runs['2-point']['params'][k]:.4f}"]
            for k, (name, tv, st, v, e) in enumerate(zip(NAMES, TRUE, START, r.x, se))]
    print(table(["parameter", "true", "start", "fit (symdiff)", "std. error",
                 "(fit-true)/se", "fit (2-point)"], body))
    rms = float(np.sqrt(np.mean(r.fun ** 2)))
    print(f"residual RMS {rms:.4f} (noise sigma {NOISE})")
    return {"runs": runs, "params": r.x, "std_errors": se, "true": TRUE, "rms": rms,
            "jacobian_check": jac_err}


if __name__ == "__main__":
    main()
    report_wall_time()
