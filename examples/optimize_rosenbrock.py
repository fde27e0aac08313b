"""Minimising the n-dimensional Rosenbrock function with scipy.optimize,
using symdiff's compiled gradient and Hessian.

    f(x) = sum_{i<n} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2,  minimum f(1,...,1) = 0

symdiff builds f symbolically (:func:`symdiff.lab.models.rosenbrock`), derives
its gradient and Hessian, and compiles three kernels: f alone, [f, grad f]
and the n x n Hessian.  The gradient and Hessian are first checked against
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


class Rosenbrock:
    """The compiled kernels for Rosenbrock in ``n`` variables:
    ``f(x)``, ``f_and_grad(x) -> (f, g)`` and ``hess(x) -> (n, n)``."""

    def __init__(self, n: int):
        self.n = n
        t0 = time.perf_counter()
        f, xs = models.rosenbrock(n)
        g = sd.grad(f, xs)
        H = sd.hessian(f, xs)
        t1 = time.perf_counter()
        self._f = sd.compile([f], xs, name="rosen_f")
        self._fg = sd.compile([f, *g], xs, name="rosen_fg")
        # The Hessian is tridiagonal: all but ~3n of the n^2 outputs are the
        # constant 0, which the kernel just stores.
        self._h = sd.compile([e for row in H for e in row], xs, name="rosen_hess")
        self.build_seconds = t1 - t0
        self.compile_seconds = time.perf_counter() - t1

    def f(self, x) -> float:
        """f(x) by the compiled kernel."""
        return float(self._f(x)[0])

    def f_and_grad(self, x):
        """(f(x), grad f(x)) from one kernel call (for ``jac=True``)."""
        out = self._fg(x)
        return float(out[0]), out[1:]

    def grad(self, x) -> np.ndarray:
        """grad f(x)."""
        return self._fg(x)[1:]

    def hess(self, x) -> np.ndarray:
        """The n x n Hessian at x."""
        return self._h(x).reshape(self.n, self.n)


def check_against_scipy(rb: Rosenbrock, seed: int = 0) -> dict:
    """Max relative differences between symdiff's f, gradient and Hessian
    and SciPy's ``rosen``, ``rosen_der``, ``rosen_hess`` at a random point
    in [-2, 2]^n."""
    from scipy.optimize import rosen, rosen_der, rosen_hess

    x = np.random.default_rng(seed).uniform(-2.0, 2.0, rb.n)

    def rel(a, b):
        return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))

    f, g = rb.f_and_grad(x)
    return {"f": rel(f, rosen(x)), "grad": rel(g, rosen_der(x)),
            "hess": rel(rb.hess(x), rosen_hess(x)), "x": x}


def start_point(n: int) -> np.ndarray:
    """The start: x_i = 0.5 +- 0.4, a fixed pattern far from the minimiser
    (f is in the hundreds) but in the basin of (1, ..., 1) (from the
    classic (-1.2, 1, ...) a Newton method can stop at Rosenbrock's other
    local minimum near x_1 = -1 for n >= 4)."""
    return 0.5 + 0.4 * np.cos(np.arange(n))


def run_methods(rb: Rosenbrock, x0, methods) -> list[dict]:
    """Run ``scipy.optimize.minimize`` with each method spec and measure
    it.  A spec is (label, method, use_symdiff_grad, use_symdiff_hess)."""
    from scipy.optimize import minimize

    results = []
    for label, method, exact_grad, exact_hess in methods:
        kw = {}
        if exact_grad:
            fun, kw["jac"] = rb.f_and_grad, True
        else:
            fun = rb.f          # jac=None: SciPy's 2-point differences
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

    rb = Rosenbrock(n)
    print(f"Rosenbrock, n = {n}: built f, gradient and Hessian in {rb.build_seconds:.2f} s, "
          f"compiled in {rb.compile_seconds:.2f} s")
    chk = check_against_scipy(rb)
    print(f"at a random point, max relative difference from SciPy: f {chk['f']:.1e}, "
          f"rosen_der {chk['grad']:.1e}, rosen_hess {chk['hess']:.1e}")

    x0 = start_point(n)
    print(f"start: x_i = 0.5 + 0.4 cos(i), f(x0) = {rb.f(x0):.4g}\n")
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
