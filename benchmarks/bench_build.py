"""Build time and operation counts of f and (f, grad f), symdiff vs peers.

Usage:
    python benchmarks/bench_build.py [--sizes 10,100,1000,10000,100000]
                                     [--timeout 120] [--repeat 3] [--peers sympy,symengine,casadi]

For prod_n (x1*x2*...*xn) and Rosenbrock_n at each n, and for the
softmax-regression loss (W 10x64, b: 650 parameters) and a 64-32-10 tanh MLP
loss (2,410 parameters), it prints the median time to build the gradient
and the operation counts of f and of the CSE'd program evaluating f and its
gradient together, with the ratio ops(f, grad f) / ops(f).

Peers run in the same process invocation, each model in a child process
capped by --timeout (a peer that exceeds it is reported as "timeout"):
  * sympy: diff by each variable, then sympy.cse on [f, *grad];
  * symengine (if installed): the same with symengine.diff and symengine.cse;
  * casadi (if installed): SX gradient, operation count from the
    Function's instruction list.
Operation counts: symdiff counts one operation per non-leaf node of the
CSE'd program; for sympy/symengine we count sympy.count_ops over the CSE
replacements and reduced expressions (an n-ary product counts n-1).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _tables import padded_table  # noqa: E402 - the scripts' folder is on sys.path

import symdiff as sd  # noqa: E402 - after the sys.path setup above
from symdiff.lab import models  # noqa: E402 - after the sys.path setup above

# ---------------------------------------------------------------------------
# models as (name, n, symdiff builder, sympy-ish builder)


def _sym_prod(mod, n):
    xs = mod.symbols(f"x1:{n + 1}")
    f = xs[0]
    for v in xs[1:]:
        f = f * v
    return f, list(xs)


def _sym_rosen(mod, n):
    xs = mod.symbols(f"x1:{n + 1}")
    f = 0
    for i in range(n - 1):
        f = f + 100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2
    return f, list(xs)


def _sym_softmax(mod, _n):
    import numpy as np

    W = [[mod.Symbol(f"W{i}_{j}") for j in range(64)] for i in range(10)]
    b = [mod.Symbol(f"b{i}") for i in range(10)]
    x = np.random.default_rng(0).uniform(0.0, 1.0, 64).round(3)
    h = [sum(W[i][j] * float(x[j]) for j in range(64)) + b[i] for i in range(10)]
    f = mod.log(sum(mod.exp(hi) for hi in h)) - h[3]
    return f, [w for row in W for w in row] + b


def _sym_mlp(mod, _n):
    import numpy as np

    x = np.random.default_rng(0).uniform(0.0, 1.0, 64).round(3)
    params = []
    a = [float(v) for v in x]
    for layer, (n_in, n_out) in enumerate([(64, 32), (32, 10)], start=1):
        W = [[mod.Symbol(f"W{layer}_{i}_{j}") for j in range(n_in)] for i in range(n_out)]
        b = [mod.Symbol(f"b{layer}_{i}") for i in range(n_out)]
        params += [w for row in W for w in row] + b
        h = [sum(W[i][j] * a[j] for j in range(n_in)) + b[i] for i in range(n_out)]
        a = [mod.tanh(v) for v in h] if layer == 1 else h
    f = mod.log(sum(mod.exp(v) for v in a)) - a[3]
    return f, params


PEER_BUILDERS = {"prod": _sym_prod, "rosenbrock": _sym_rosen,
                 "softmax": _sym_softmax, "mlp": _sym_mlp}


def _symdiff_model(kind, n):
    if kind == "prod":
        return models.prod(n)
    if kind == "rosenbrock":
        return models.rosenbrock(n)
    if kind == "softmax":
        return models.softmax_regression_loss()
    return models.mlp_loss()


# ---------------------------------------------------------------------------
# measurements


def measure_symdiff(kind, n, repeat):
    times = []
    for _ in range(repeat):
        f, xs = _symdiff_model(kind, n)
        t0 = time.perf_counter()
        g = sd.grad(f, xs)
        times.append(time.perf_counter() - t0)
    ops_f = sd.count_ops([f])
    ops_fg = sd.count_ops([f, *g])
    return statistics.median(times), ops_f, ops_fg


def _peer_job(peer, kind, n, queue):
    try:
        if peer == "casadi":
            import casadi as ca

            t0 = time.perf_counter()
            f, xs = PEER_BUILDERS[kind](_CasadiMod(ca), n)
            xv = ca.vertcat(*xs)
            t1 = time.perf_counter()
            g = ca.gradient(f, xv)
            fun_fg = ca.Function("fg", [xv], [f, g])
            t2 = time.perf_counter()
            fun_f = ca.Function("f", [xv], [f])
            queue.put((t2 - t1, _casadi_ops(fun_f), _casadi_ops(fun_fg)))
            return
        mod = __import__(peer)
        f, xs = PEER_BUILDERS[kind](mod, n)
        t0 = time.perf_counter()
        g = [mod.diff(f, v) for v in xs]
        repl, reduced = mod.cse([f, *g])
        t1 = time.perf_counter()
        import sympy

        def ops(exprs):
            return sum(sympy.count_ops(sympy.sympify(e)) for e in exprs)

        r0, red0 = mod.cse([f])
        ops_f = ops([e for _, e in r0] + list(red0))
        ops_fg = ops([e for _, e in repl] + list(reduced))
        queue.put((t1 - t0, ops_f, ops_fg))
    except Exception as exc:  # report, don't crash the table
        queue.put(("error", type(exc).__name__, str(exc)[:60]))


class _CasadiMod:
    """Adapter giving casadi.SX the symbols/Symbol/log/exp/tanh names the
    model builders use."""

    def __init__(self, ca):
        self.ca = ca

    def symbols(self, spec):
        rng = spec[1:]
        lo, hi = (int(v) for v in rng.split(":"))
        return [self.ca.SX.sym(f"x{i}") for i in range(lo, hi)]

    def Symbol(self, name):  # noqa: N802 - mirrors sympy
        return self.ca.SX.sym(name)

    def log(self, v):
        return self.ca.log(v)

    def exp(self, v):
        return self.ca.exp(v)

    def tanh(self, v):
        return self.ca.tanh(v)


def _casadi_ops(fun):
    # Count instructions that are operations (not inputs, outputs, constants).
    import casadi as ca

    skip = {ca.OP_INPUT, ca.OP_OUTPUT, ca.OP_CONST, ca.OP_PARAMETER}
    return sum(1 for k in range(fun.n_instructions()) if fun.instruction_id(k) not in skip)


def measure_peer(peer, kind, n, timeout):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_peer_job, args=(peer, kind, n, q))
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join()
        return "timeout"
    try:
        r = q.get(timeout=1)
    except Exception:
        return "crashed"
    return r


def available_peers(requested):
    out = []
    for peer in requested:
        try:
            __import__(peer)
            out.append(peer)
        except ImportError:
            print(f"# {peer}: not installed", file=sys.stderr)
    return out


def fmt_time(t):
    if isinstance(t, str):
        return t
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,100,1000,10000,100000")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peers", default="sympy,symengine,casadi")
    ap.add_argument("--models", default="prod,rosenbrock,softmax,mlp")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    peers = available_peers([p for p in args.peers.split(",") if p])
    cases = []
    for kind in args.models.split(","):
        if kind in ("prod", "rosenbrock"):
            cases += [(kind, n) for n in sizes]
        else:
            cases.append((kind, 0))
    skip_larger: dict = {}
    header = ["model", "n", "symdiff grad", "ops f", "ops f+grad", "ratio"]
    for peer in peers:
        header += [f"{peer} time", f"{peer} ratio"]
    rows = [header]
    print(" | ".join(header), flush=True)
    for kind, n in cases:
        t, of, ofg = measure_symdiff(kind, n, args.repeat if n < 100_000 else 1)
        row = [kind, str(n) if n else {"softmax": "650 params", "mlp": "2410 params"}[kind],
               fmt_time(t), str(of), str(ofg), f"{ofg / of:.2f}"]
        for peer in peers:
            if skip_larger.get((peer, kind)):
                row += ["timeout (smaller n did)", "-"]
                continue
            r = measure_peer(peer, kind, n, args.timeout)
            if isinstance(r, str):
                row += [f"{r} (>{args.timeout:.0f} s)" if r == "timeout" else r, "-"]
                if r == "timeout":
                    skip_larger[(peer, kind)] = True
            elif r[0] == "error":
                row += [f"error {r[1]}", "-"]
            else:
                pt, pof, pofg = r
                row += [fmt_time(pt), f"{pofg / max(pof, 1):.2f}"]
        rows.append(row)
        print(" | ".join(row), flush=True)
    print()
    print(padded_table(rows))


if __name__ == "__main__":
    main()
