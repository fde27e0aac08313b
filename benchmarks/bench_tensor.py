"""Tensor expressions: build and gradient time and program size, against
today's scalar path and JAX (a script, not a test).

Usage:
    python benchmarks/bench_tensor.py [--repeat 7] [--timeout 120] [--scalar-big]
                                      [--no-jax] [--layers 1,2,3,4]

Models (tanh hidden layers, softmax cross-entropy loss, labels y):

* softmax regression, 64 features, 10 classes;
* MLP 64-32-10 and MLP 784-256-10.

Contenders, each model measured in the same run:

* **symdiff tensor**: ``X`` of shape (m, n) with the batch dimension "m",
  weights and biases as tensors, ``loss = mean(logsumexp(Z, 1) -
  sum(onehot(y, k) * Z, 1))``; "build" constructs the loss, "grad" is
  ``sd.grad(loss, params)``; the program is ``sd.to_program([loss,
  *grads])`` (lines) and ``sd.count_ops`` (operations, each on a whole
  array).  The graph is freed between repeats (nodes are interned: a
  rebuild while the old graph is alive would only look nodes up).
* **symdiff scalar**: today's per-sample scalar models of
  :mod:`symdiff.lab.models` (``softmax_regression_loss``, W 10x64 and b;
  ``mlp_loss``), one sample, every weight a scalar symbol; "build" is the
  model builder, "grad" is ``sd.grad(f, params)``.  Each model runs once in
  a child process capped by ``--timeout``; 784-256-10 takes tens of seconds
  and runs only with ``--scalar-big``.
* **JAX**: the same tensor models in ``jax.numpy`` (float64), "trace +
  grad" is ``jax.make_jaxpr(jax.grad(loss))`` on arrays with m = 128; its
  size is the jaxpr's equations (``len(jaxpr.eqns)``, each an array
  primitive, nested jaxprs of custom rules counted as one).  Run in a child
  process; skipped with a note if jax is not installed
  (``pip install 'jax[cpu]'``).

Times are medians of ``--repeat`` runs (time.perf_counter).  A second table
shows the tensor gradient program of a 784-256-...-256-10 MLP with L hidden
layers: its size grows by a constant per layer.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _tables import padded_table  # noqa: E402 - the scripts' folder is on sys.path

import symdiff as sd  # noqa: E402 - after the sys.path setup above

MODELS = {
    "softmax regression 64-10": (64, 10),
    "MLP 64-32-10": (64, 32, 10),
    "MLP 784-256-10": (784, 256, 10),
}
JAX_BATCH = 128


# ---------------------------------------------------------------------------
# symdiff, tensor path


def tensor_model(sizes):
    """(loss, params) of the tanh MLP with layer sizes ``sizes`` (two sizes:
    softmax regression X @ Theta, no bias, as in the lectures)."""
    X = sd.tensor("X", ("m", sizes[0]))
    y = sd.tensor("y", ("m",), dtype=int)
    k = sizes[-1]
    if len(sizes) == 2:
        Theta = sd.tensor("Theta", sizes)
        Z = X @ Theta
        params = [Theta]
    else:
        params = []
        a = X
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            W, b = sd.tensor(f"W{i}", (n_in, n_out)), sd.tensor(f"b{i}", (n_out,))
            params += [W, b]
            h = a @ W + b
            a = sd.tanh(h) if i < len(sizes) - 1 else h
        Z = a
    loss = sd.mean(sd.logsumexp(Z, axis=1) - sd.sum(sd.onehot(y, k) * Z, axis=1))
    return loss, params


def measure_tensor(sizes, repeat):
    builds, grads = [], []
    loss = params = g = None
    for _ in range(repeat):
        loss = params = g = None            # free the previous graph first
        gc.collect()
        t0 = time.perf_counter()
        loss, params = tensor_model(sizes)
        t1 = time.perf_counter()
        g = sd.grad(loss, params)
        t2 = time.perf_counter()
        builds.append(t1 - t0)
        grads.append(t2 - t1)
    lines = len(sd.to_program([loss, *g]).splitlines())
    return statistics.median(builds), statistics.median(grads), lines, sd.count_ops([loss, *g])


# ---------------------------------------------------------------------------
# symdiff, scalar path (child process)


def _scalar_job(sizes, queue):
    from symdiff.lab import models

    t0 = time.perf_counter()
    if len(sizes) == 2:
        f, params = models.softmax_regression_loss(n_classes=sizes[1], n_features=sizes[0])
    else:
        f, params = models.mlp_loss(tuple(sizes))
    t1 = time.perf_counter()
    g = sd.grad(f, params)
    t2 = time.perf_counter()
    ops = sd.count_ops([f, *g])
    lines = len(sd.to_program([f, *g]).splitlines())
    queue.put((t1 - t0, t2 - t1, lines, ops, len(params)))


# ---------------------------------------------------------------------------
# JAX (child process)


def _jax_job(sizes, repeat, queue):
    try:
        import jax
    except ImportError:
        queue.put(("missing", "jax not installed (pip install 'jax[cpu]')"))
        return
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    k = sizes[-1]

    def loss(params, X, y):
        if len(sizes) == 2:
            Z = X @ params[0]
        else:
            a = X
            for i in range(0, len(params) - 2, 2):
                a = jnp.tanh(a @ params[i] + params[i + 1])
            Z = a @ params[-2] + params[-1]
        Iy = jax.nn.one_hot(y, k, dtype=Z.dtype)
        return jnp.mean(jax.nn.logsumexp(Z, axis=1) - jnp.sum(Iy * Z, axis=1))

    rng = np.random.default_rng(0)
    if len(sizes) == 2:
        params = [rng.standard_normal(sizes)]
    else:
        params = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            params += [rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)]
    params = [jnp.asarray(p) for p in params]
    X = jnp.asarray(rng.standard_normal((JAX_BATCH, sizes[0])))
    y = jnp.asarray(rng.integers(0, k, JAX_BATCH))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jaxpr = jax.make_jaxpr(jax.grad(loss))(params, X, y)
        times.append(time.perf_counter() - t0)
    queue.put((statistics.median(times), len(str(jaxpr).splitlines()), len(jaxpr.jaxpr.eqns)))


def run_child(target, args, timeout):
    ctx = mp.get_context("spawn")        # a fresh interpreter: no inherited graphs
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join()
        return ("timeout", f"> {timeout:.0f} s")
    try:
        return q.get(timeout=5)
    except Exception:
        return ("crashed", f"exit code {p.exitcode}")


# ---------------------------------------------------------------------------
# output


def fmt_time(t):
    if t < 1e-3:
        return f"{t * 1e6:.0f} us"
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds for each child process (scalar path, JAX)")
    ap.add_argument("--scalar-big", action="store_true",
                    help="also run the scalar path on 784-256-10 (tens of seconds)")
    ap.add_argument("--no-jax", action="store_true")
    ap.add_argument("--layers", default="1,2,3,4",
                    help="hidden-layer counts of the O(L) table")
    args = ap.parse_args(argv)

    header = ["model", "path", "build", "grad", "build + grad", "program lines", "ops"]
    rows = [header]
    notes = []
    for name, sizes in MODELS.items():
        tb, tg, lines, ops = measure_tensor(sizes, args.repeat)
        rows.append([name, "symdiff tensor", fmt_time(tb), fmt_time(tg), fmt_time(tb + tg),
                     str(lines), str(ops)])
        print(" | ".join(rows[-1]), flush=True)
        if sizes == (784, 256, 10) and not args.scalar_big:
            rows.append([name, "symdiff scalar (1 sample)", "skipped", "skipped", "skipped",
                         "-", "-"])
            notes.append("scalar 784-256-10 skipped (tens of seconds): run with --scalar-big")
        else:
            r = run_child(_scalar_job, (sizes,), args.timeout)
            if isinstance(r[0], str):
                rows.append([name, "symdiff scalar (1 sample)", r[0], r[1], "-", "-", "-"])
            else:
                sb, sg, slines, sops, npar = r
                rows.append([name, "symdiff scalar (1 sample)", fmt_time(sb), fmt_time(sg),
                             fmt_time(sb + sg), str(slines), str(sops)])
        print(" | ".join(rows[-1]), flush=True)
        if args.no_jax:
            continue
        r = run_child(_jax_job, (sizes, args.repeat), args.timeout)
        if isinstance(r[0], str):
            if r[0] == "missing":
                notes.append(f"JAX: {r[1]}")
                args.no_jax = True
            rows.append([name, "JAX make_jaxpr(grad)", r[0], "-", "-", "-", "-"])
        else:
            jt, jlines, jeqns = r
            rows.append([name, "JAX make_jaxpr(grad)", "-", "-", fmt_time(jt),
                         str(jlines), f"{jeqns} eqns"])
        print(" | ".join(rows[-1]), flush=True)

    layer_rows = [["hidden layers L", "build + grad", "program lines", "ops",
                   "lines added by the layer"]]
    prev = None
    for L in (int(v) for v in args.layers.split(",")):
        sizes = (784,) + (256,) * L + (10,)
        tb, tg, lines, ops = measure_tensor(sizes, args.repeat)
        layer_rows.append([str(L), fmt_time(tb + tg), str(lines), str(ops),
                           "-" if prev is None else str(lines - prev)])
        prev = lines

    print()
    print(f"Build and gradient, median of {args.repeat} (tensor path: batch dimension m; "
          f"JAX traced with m = {JAX_BATCH}):")
    print()
    print(padded_table(rows))
    print()
    print("Tensor gradient program of a 784-256-...-256-10 tanh MLP with L hidden layers:")
    print()
    print(padded_table(layer_rows))
    for n in notes:
        print(f"\nNote: {n}")


if __name__ == "__main__":
    main()
