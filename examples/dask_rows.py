"""Ten million gradient evaluations, in chunks, on a Dask cluster.

The lectures' example f(x, z) = exp(x z) + x z / log(x) + sin(log(x)) / (x z)
is compiled with its gradient once, in this process.  The rows (x, z) are a
lazy dask array, generated chunk by chunk on the workers from a fixed seed,
so no process ever holds all of them; ``fn.batch`` on a dask array maps the
compiled kernel over the chunks (:mod:`compiler.dask_batch`).  The compiled
function reaches the worker processes by pickle, object code included, so no
worker compiles anything (the script checks: every worker reports where its
copy's code came from).

The chunks' results are reduced on the workers (column means and the largest
gradient norm), and one chunk is recomputed here, in-process, to show the
cluster's bits are the in-process bits.  Progress is a text bar
(``distributed.progress``), or the cluster dashboard, whose address is printed.

Run: ``python examples/dask_rows.py [--rows 10000000] [--chunk 1000000]
[--workers 2] [--scheduler distributed|threads] [--quick]``.
Needs the ``dask`` extra: ``pip install -e '.[dask]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ensure_symdiff, report_wall_time, table  # noqa: E402

ensure_symdiff()

import symdiff as sd  # noqa: E402

EXPR = "exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)"


def build():
    """The compiled [f, df/dx, df/dz] of the lectures' example."""
    f = sd.parse(EXPR)
    x, z = sd.symbols("x z")
    return sd.compile([f, *sd.grad(f, [x, z])], [x, z])


def rows(n_rows: int, chunk: int, seed: int):
    """A lazy (n_rows, 2) dask array of points x in [1.5, 3), z in [0.5, 2),
    each chunk drawn on the worker from the fixed seed."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    lo, hi = np.array([1.5, 0.5]), np.array([3.0, 2.0])
    u = rng.random((n_rows, 2), chunks=(chunk, 2))
    return lo + (hi - lo) * u


def where_code_came_from(fn_pickle: bytes) -> str:
    """Run on a worker: unpickle the compiled function, report the source
    of its object code ("shipped" means: loaded from the pickle, no LLVM)."""
    import pickle

    fn = pickle.loads(fn_pickle)
    return fn.compile_info["cache"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scheduler", choices=["distributed", "threads"], default="distributed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="10^6 rows in chunks of 10^5")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.chunk = 1_000_000, 100_000
    try:
        import dask
        import dask.array as da
    except ImportError:
        print("dask is not installed: pip install -e '.[dask]'", file=sys.stderr)
        sys.exit(2)

    fn = build()
    X = rows(args.rows, args.chunk, args.seed)
    Y = fn.batch(X)                         # lazy: nothing computed yet
    grad_norm = da.sqrt(Y[:, 1] ** 2 + Y[:, 2] ** 2)
    summary = [Y.mean(axis=0), grad_norm.max()]
    print(f"{args.rows:,} rows in {X.numblocks[0]} chunks of {args.chunk:,}; "
          f"f and its gradient compiled once here ({fn.compile_info['n_ops']} ops)")

    t0 = time.perf_counter()
    if args.scheduler == "distributed":
        import pickle

        from distributed import Client, LocalCluster, progress

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            print(f"dashboard: {client.dashboard_link}", file=sys.stderr)
            sources = client.run(where_code_came_from, pickle.dumps(fn))
            print("object code on the workers came from: "
                  + ", ".join(sorted(set(sources.values()))))
            futures = client.compute(summary)
            with contextlib.redirect_stdout(sys.stderr):
                progress(futures)                # a text bar, on stderr like all progress
                print()
            means, gmax = client.gather(futures)
            seconds = time.perf_counter() - t0
            # The first chunk again: on the cluster, and here in-process.
            first, there = client.gather(client.compute([X.blocks[0], Y.blocks[0]]))
    else:
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):
            means, gmax = dask.compute(*summary, scheduler="threads")
        seconds = time.perf_counter() - t0
        first, there = dask.compute(X.blocks[0], Y.blocks[0], scheduler="threads")
    here = fn.batch(first)          # numpy in, numpy out, this process
    same = np.array_equal(here.view(np.int64), there.view(np.int64))

    print(table(["quantity", "value"], [
        ["mean f", f"{means[0]:.12g}"],
        ["mean df/dx", f"{means[1]:.12g}"],
        ["mean df/dz", f"{means[2]:.12g}"],
        ["max |grad f|", f"{gmax:.12g}"],
        ["rows per second", f"{args.rows / seconds:,.0f}"],
    ]))
    print(f"first chunk, dask vs in-process: {'identical bits' if same else 'DIFFERENT'}")
    if not same:
        sys.exit(1)
    return 0


if __name__ == "__main__":
    main()
    report_wall_time()
