"""Accuracy of the compiled math over the whole float64 range (not a test).

    python benchmarks/bench_vecmath_accuracy.py [--points N] [--seed S] [--throughput]

For every function compiler.vecmath implements: the worst error seen, in
ulps of the exact (mpmath) value, on N uniformly random float64 bit
patterns plus special points (tests/vecmath_oracle.py has the sampling and
the reference), per path:

* vecmath itself: the vector_math path where vecmath computes the result
  (sin/cos: |x| <= sincos_fast_limit, beyond which libm's result is used);
* vector_math path: ``fn(x)`` and ``fn.batch`` with ``vector_math=True``
  (the default), whole range;
* libm path: ``vector_math=False`` (glibc);
* interpreter: numpy.

NaN, infinity and zero-sign mismatches against libm count as infinite
errors.  tests/test_vecmath_range.py asserts the bounds on a smaller sample.
``--throughput`` also times ``fn.batch`` of sin, and of tanh with its
derivative ``(g/cosh x)/cosh x`` (vecmath's tanh and cosh), on 10**6
points in [-10, 10] (threads=1, median of 5; noisy on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(__file__), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import vecmath_oracle as O  # noqa: E402 - tests/ is on sys.path (shared with the test)
from _tables import padded_table  # noqa: E402 - the scripts' folder is on sys.path

import symdiff as sd  # noqa: E402 - after the sys.path setup above
from compiler import vecmath as vm  # noqa: E402 - after the sys.path setup above


def accuracy_rows(points: int, seed: int) -> list[list[str]]:
    """One table row per function: name and the worst errors per path."""
    limit = vm.sincos_fast_limit(vm.host_has_fma())
    rows = [["function", "vecmath itself", "vector_math path", "libm path", "interpreter",
             "stated (vecmath)"]]
    for name in O.NAMES:
        x, _, _, errs = O.measure(name, points, seed)
        own = ~(np.abs(x) > limit) if name in ("sin", "cos") else np.ones(len(x), bool)
        vec = np.maximum(errs["fn, vector_math"], errs["batch, vector_math"])
        lib = np.maximum(errs["fn, libm"], errs["batch, libm"])
        cells = [vec[own].max(), vec.max(), lib.max(), errs[O.INTERPRETER].max()]
        rows.append([name, *(f"{c:.3f}" for c in cells), f"{vm.VECMATH_ULP[name]:g}"])
    return rows


def throughput() -> list[str]:
    """fn.batch of sin and of [tanh, tanh'] on 10**6 points in [-10, 10],
    vector_math on and off."""
    x = sd.symbol("x")
    t = sd.tanh(x)
    X = np.random.default_rng(0).uniform(-10, 10, (1_000_000, 1))
    lines = []
    for label, outputs in (("sin", [sd.sin(x)]), ("[tanh, tanh']", [t, *sd.grad(t, [x])])):
        out = np.empty((len(X), len(outputs)))
        for vector_math in (True, False):
            fn = sd.compile(outputs, [x], vector_math=vector_math)
            fn.batch(X, out=out, threads=1)
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                fn.batch(X, out=out, threads=1)
                times.append(time.perf_counter() - t0)
            lines.append(f"{label} batch, 10**6 points, vector_math={vector_math}: "
                         f"{sorted(times)[2] * 1e3:.2f} ms (median of 5, threads=1)")
    return lines


def main(argv=None) -> None:
    """Print the accuracy table (and, with --throughput, the batch timings)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=20_000,
                    help="random bit patterns per function (default 20000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--throughput", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    print(f"max error in ulps of the exact value; {args.points} random float64 bit "
          f"patterns + special points per function, seed {args.seed}; sin/cos: vecmath "
          f"for |x| <= {vm.sincos_fast_limit(vm.host_has_fma()):g}, libm beyond")
    print(padded_table(accuracy_rows(args.points, args.seed)))
    if args.throughput:
        for line in throughput():
            print(line)
    print(f"wall time {time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
