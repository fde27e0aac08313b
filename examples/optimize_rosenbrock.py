"""Minimising the n-dimensional Rosenbrock function with scipy.optimize,
using symdiff's compiled gradient and Hessian.

    f(x) = sum_{i<n} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2,  minimum f(1,...,1) = 0

symdiff builds f symbolically (:func:`symdiff.lab.models.rosenbrock`);
``sd.Objective(f, xs)`` derives its gradient and Hessian and compiles two
kernels on first use: [f, grad f] (one call serves ``fun`` and ``jac`` at
the same x) and the n x n Hessian.  The gradient and Hessian are first checked against
SciPy's hand-written ``rosen_der`` and ``rosen_hess`` at a random point;
then ``scipy.optimize.minimize`` runs from the same start with

* Newton-type methods fed the exact gradient and Hessian ('trust-exact',
  'Newton-CG'),
* BFGS fed the exact gradient,
* BFGS with finite-difference gradients (``jac=None``: SciPy's '2-point'
  differences, n + 1 evaluations of f per gradient),

and a table reports iterations, evaluations of f / gradient / Hessian,
wall time, the final f and the distance to the minimiser (1, ..., 1).

Run: ``python examples/optimize_rosenbrock.py [--n 100] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ensure_symdiff, report_wall_time, table  # noqa: E402

ensure_symdiff()

import symdiff as sd  # noqa: E402
from symdiff.lab import models  # noqa: E402


def rosenbrock_objective(n: int) -> sd.Objective:
    """Rosenbrock in ``n`` variables as an :class:`symdiff.Objective`: its
    ``fun``, ``jac``, ``hess`` go straight to ``minimize`` (each kernel
    compiled on first use; f and the gradient share one)."""
    f, xs = models.rosenbrock(n)
    return sd.Objective(f, xs, name="rosen")


def check_against_scipy(rb: sd.Objective, seed: int = 0) -> dict:
    """Max relative differences between symdiff's f, gradient and Hessian
    and SciPy's ``rosen``, ``rosen_der``, ``rosen_hess`` at a random point
    in [-2, 2]^n."""
    from scipy.optimize import rosen, rosen_der, rosen_hess

    x = np.random.default_rng(seed).uniform(-2.0, 2.0, rb.n)

    def rel(a, b):
        return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))

    f, g = rb.value_and_grad(x)
    return {"f": rel(f, rosen(x)), "grad": rel(g, rosen_der(x)),
            "hess": rel(rb.hess(x), rosen_hess(x)), "x": x}


def start_point(n: int) -> np.ndarray:
    """The start: x_i = 0.5 +- 0.4, a fixed pattern far from the minimiser
    (f is in the hundreds) but in the basin of (1, ..., 1) (from the
    classic (-1.2, 1, ...) a Newton method can stop at Rosenbrock's other
    local minimum near x_1 = -1 for n >= 4)."""
    return 0.5 + 0.4 * np.cos(np.arange(n))


def run_methods(rb: sd.Objective, x0, methods) -> list[dict]:
    """Run ``scipy.optimize.minimize`` with each method spec and measure
    it.  A spec is (label, method, use_symdiff_grad, use_symdiff_hess)."""
    from scipy.optimize import minimize

    results = []
    for label, method, exact_grad, exact_hess in methods:
        kw = {}
        if exact_grad:
            fun, kw["jac"] = rb.value_and_grad, True
        else:
            # jac=None: SciPy's 2-point differences, on a kernel of f alone
            # (rb.fun computes the gradient too, which this run never uses).
            f_only = sd.compile([rb.f], rb.variables.symbols, name="rosen_f")

            def fun(x, f_only=f_only):
                return float(f_only(x)[0])
        if exact_hess:
            kw["hess"] = rb.hess
        # Tolerances tighter than SciPy's defaults (gtol 1e-5, Newton-CG's
        # xtol 1e-5 stop around f ~ 1e-9 .. 1e-5), so every method is run
        # to the minimiser and the table compares the cost of getting there.
        options = {"maxiter": 20000}
        options.update({"trust-exact": {"gtol": 1e-10}, "Newton-CG": {"xtol": 1e-12},
                        "BFGS": {"gtol": 1e-8}}.get(method, {}))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # BFGS on finite differences ends on "precision loss": the
            # table shows where it got to.
            warnings.simplefilter("ignore")
            res = minimize(fun, x0, method=method, options=options, **kw)
        secs = time.perf_counter() - t0
        results.append({"label": label, "method": method, "nit": int(res.nit),
                        "nfev": int(res.nfev), "njev": int(getattr(res, "njev", 0) or 0),
                        "nhev": int(getattr(res, "nhev", 0) or 0), "seconds": secs,
                        "f": float(res.fun), "dist": float(np.linalg.norm(res.x - 1.0)),
                        "success": bool(res.success), "x": res.x})
    return results


METHODS = [
    ("trust-exact, symdiff grad + Hessian", "trust-exact", True, True),
    ("Newton-CG, symdiff grad + Hessian", "Newton-CG", True, True),
    ("BFGS, symdiff gradient", "BFGS", True, False),
    ("BFGS, finite-difference gradient", "BFGS", False, False),
]


def main(argv=None) -> dict:
    """Check the derivatives, run the methods, print the table; returns
    the checks and the per-method results (used by the tests)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100, help="number of variables (default 100)")
    p.add_argument("--quick", action="store_true", help="n = 30")
    args = p.parse_args(argv)
    n = 30 if args.quick else args.n

    t0 = time.perf_counter()
    rb = rosenbrock_objective(n)
    chk = check_against_scipy(rb)      # compiles f + gradient, then the Hessian
    print(f"Rosenbrock, n = {n}: f, gradient and Hessian built and compiled in "
          f"{time.perf_counter() - t0:.2f} s")
    print(f"at a random point, max relative difference from SciPy: f {chk['f']:.1e}, "
          f"rosen_der {chk['grad']:.1e}, rosen_hess {chk['hess']:.1e}")

    x0 = start_point(n)
    print(f"start: x_i = 0.5 + 0.4 cos(i), f(x0) = {rb.fun(x0):.4g}\n")
    results = run_methods(rb, x0, METHODS)
    rows = [[r["label"], r["nit"], r["nfev"], r["njev"] or "-", r["nhev"] or "-",
             f"{r['seconds'] * 1e3:.0f} ms", f"{r['f']:.2e}", f"{r['dist']:.1e}"]
            for r in results]
    print(table(["method", "iterations", "f evals", "grad evals", "Hessian evals",
                 "time", "final f", "|x - 1|"], rows))
    print("(f evals of the finite-difference run include the n + 1 per gradient; with "
          "jac=True one kernel call returns f and the gradient together)")
    return {"check": chk, "results": results, "n": n}


if __name__ == "__main__":
    main()
    report_wall_time()
