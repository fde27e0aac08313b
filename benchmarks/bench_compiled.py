"""Benchmarks of the LLVM-compiled kernels (not a test).

    python benchmarks/bench_compiled.py [--quick]

Prints tables of medians (time.perf_counter, median of repeats) for:

1. per-call latency of the lecture example's gradient: ``fn(x, out=buf)``,
   ``fn(x)``, the pre-bound call, the symdiff numpy interpreter and peers;
2. batch evaluation at N = 100,000 points of three gradients (lecture
   example, ``log(1+exp(-(x+y)))*(x+y)``, Rosenbrock n = 10) against the
   interpreter (vectorized numpy) and peers;
3. compile time against program size (Rosenbrock gradients, 1,000 to
   100,000 ops), cold (no cache);
4. a cached recompile in a new process.

Peers, when importable: sympy.lambdify on the cse'd sympy gradient (numpy
backend), symengine Lambdify(backend='llvm'), CasADi, JAX (jit).  Missing
ones are reported as "not installed".  The machine's load matters: the
numbers are medians, and the report header prints the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import symdiff as sd  # noqa: E402

import compiler  # noqa: E402

NOT_INSTALLED = "not installed"


def median_time(f, *, number: int, repeat: int) -> float:
    """Median over ``repeat`` runs of the mean time of ``number`` calls."""
    f()  # warm up (first-call effects, lazy imports)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            f()
        times.append((time.perf_counter() - t) / number)
    return statistics.median(times)


def fmt(t) -> str:
    """Seconds as a short human string."""
    if isinstance(t, str):
        return t
    if t < 1e-6:
        return f"{t * 1e9:.0f} ns"
    if t < 1e-3:
        return f"{t * 1e6:.2f} us"
    if t < 1:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


def table(title: str, rows: list[tuple[str, object]], ref_label: str) -> None:
    """Print name / median / ratio-to-reference rows."""
    ref = dict(rows).get(ref_label)
    print(f"\n{title}")
    print(f"  {'':44s} {'median':>12s} {'vs ' + ref_label[:18]:>24s}")
    for name, t in rows:
        ratio = "" if isinstance(t, str) or not isinstance(ref, float) else f"{t / ref:.2f}x"
        print(f"  {name:44s} {fmt(t):>12s} {ratio:>24s}")


# ---------------------------------------------------------------------------
# The benchmark functions, in symdiff and in sympy.


def lecture_sd():
    x, z = sd.symbol("x"), sd.symbol("z")
    f = sd.exp(x * z) + x * z / sd.log(x) + sd.sin(sd.log(x)) / (x * z)
    return f, [x, z]


def softplus_sd():
    x, y = sd.symbol("x"), sd.symbol("y")
    return sd.log(1 + sd.exp(-(x + y))) * (x + y), [x, y]


def rosen_sd(n):
    xs = [sd.symbol(f"x{i}") for i in range(n)]
    f = sd.sum([100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(n - 1)])
    return f, xs


def sympy_versions():
    import sympy

    x, z, y = sympy.symbols("x z y")
    out = {"lecture": (sympy.exp(x * z) + x * z / sympy.log(x) + sympy.sin(sympy.log(x)) / (x * z),
                       [x, z]),
           "softplus": (sympy.log(1 + sympy.exp(-(x + y))) * (x + y), [x, y])}
    xs = sympy.symbols("x0:10")
    out["rosen10"] = (sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2
                          for i in range(9)), list(xs))
    return out


def points(name, n_vars, N, rng):
    """Inputs inside the functions' domains (x > 0, x != 1 for log(x))."""
    if name == "lecture":
        return np.column_stack([rng.uniform(1.1, 3.0, N), rng.uniform(0.2, 2.0, N)])
    return rng.uniform(-2.0, 2.0, (N, n_vars))


# ---------------------------------------------------------------------------
# Peers: each returns (single-point callable factory, batch callable factory)
# or raises ImportError.


def peer_sympy(expr, syms):
    import sympy

    grad = [sympy.diff(expr, s) for s in syms]
    # cse=True: lambdify emits the common subexpressions as temporaries.
    f = sympy.lambdify(syms, grad, modules="numpy", cse=True)

    def single(x):
        return lambda: f(*x)

    def batch(X):
        cols = [X[:, j] for j in range(X.shape[1])]
        return lambda: np.broadcast_arrays(*f(*cols))

    return single, batch


def peer_symengine(expr, syms):
    import symengine
    import sympy

    grad = [sympy.diff(expr, s) for s in syms]

    sym_se = [symengine.sympify(s) for s in syms]
    L = symengine.Lambdify(sym_se, [symengine.sympify(g) for g in grad], backend="llvm",
                           cse=True)

    def single(x):
        xa = np.asarray(x, dtype=np.float64)
        return lambda: L(xa)

    def batch(X):
        return lambda: L(X)

    return single, batch


def peer_casadi(expr, syms):
    import casadi
    import sympy

    n = len(syms)
    v = casadi.SX.sym("v", n)
    env = {s.name: v[i] for i, s in enumerate(syms)}
    f = sympy.lambdify(syms, expr, modules=[{"exp": casadi.exp, "log": casadi.log,
                                               "sin": casadi.sin}, "math"])
    fx = f(*[env[s.name] for s in syms])
    g = casadi.Function("g", [v], [casadi.gradient(fx, v)])

    def single(x):
        xa = np.asarray(x, dtype=np.float64)
        return lambda: g(xa)

    def batch(X):
        gm = g.map(X.shape[0])
        XT = np.ascontiguousarray(X.T)
        return lambda: gm(XT)

    return single, batch


def peer_jax(expr, syms):
    import jax
    import jax.numpy as jnp
    import sympy

    jax.config.update("jax_enable_x64", True)
    f = sympy.lambdify([syms], expr, modules=jnp)
    g = jax.jit(jax.grad(lambda v: f(v)))
    gb = jax.jit(jax.vmap(jax.grad(lambda v: f(v))))

    def single(x):
        xa = jnp.asarray(np.asarray(x, dtype=np.float64))
        return lambda: g(xa).block_until_ready()

    def batch(X):
        Xj = jnp.asarray(X)
        return lambda: gb(Xj).block_until_ready()

    return single, batch


PEERS = [("sympy.lambdify(cse, numpy)", peer_sympy),
         ("symengine Lambdify(llvm)", peer_symengine),
         ("casadi", peer_casadi),
         ("jax.jit", peer_jax)]


def try_peer(factory, expr, syms):
    try:
        return factory(expr, syms)
    except ImportError:
        return None
    except Exception as e:  # a peer that breaks should not stop the benchmark
        return e


# ---------------------------------------------------------------------------


def bench_latency(quick: bool) -> None:
    f, syms = lecture_sd()
    g = sd.grad(f, syms)
    fn = compiler.compile(g, name="lecture_grad")
    fn_scalar = compiler.compile(g, name="lecture_grad_libm", vector_math=False)
    x = np.array([2.0, 3.0])
    buf = np.empty(2)
    xb, ob = x.copy(), np.empty(2)
    bound = fn.bind(xb, ob)
    interp = sd.Interpreter(fn.program)
    number, repeat = (2000, 7) if quick else (20000, 15)
    rows = [
        ("symdiff bound()", median_time(bound, number=number, repeat=repeat)),
        ("symdiff fn(x, out=buf)", median_time(lambda: fn(x, out=buf), number=number,
                                               repeat=repeat)),
        ("symdiff fn(x)", median_time(lambda: fn(x), number=number, repeat=repeat)),
        ("symdiff fn(x, out=buf), vector_math=False",
         median_time(lambda: fn_scalar(x, out=buf), number=number, repeat=repeat)),
        ("symdiff fn([2.0, 3.0]) (list: converted)",
         median_time(lambda: fn([2.0, 3.0]), number=number // 4, repeat=repeat)),
        ("symdiff interpreter (numpy, one point)",
         median_time(lambda: interp([2.0, 3.0]), number=number // 10, repeat=repeat)),
    ]
    sp = sympy_versions()
    for label, factory in PEERS:
        p = try_peer(factory, *sp["lecture"])
        if p is None:
            rows.append((label, NOT_INSTALLED))
        elif isinstance(p, Exception):
            rows.append((label, f"failed: {type(p).__name__}"))
        else:
            rows.append((label, median_time(p[0]([2.0, 3.0]), number=number // 10,
                                            repeat=repeat)))
    table("Per-call latency, gradient of the lecture example (2 inputs, 2 outputs)", rows,
          "symdiff fn(x, out=buf)")


def bench_batch(quick: bool) -> None:
    N = 100_000
    rng = np.random.default_rng(0)
    sp = sympy_versions()
    cases = [("lecture", lecture_sd()), ("softplus", softplus_sd()), ("rosen10", rosen_sd(10))]
    repeat = 5 if quick else 11
    for name, (f, syms) in cases:
        g = sd.grad(f, syms)
        fn = compiler.compile(g, name=f"{name}_grad")
        fn_libm = compiler.compile(g, name=f"{name}_grad_libm", vector_math=False)
        X = points(name, len(syms), N, rng)
        out = np.empty((N, len(syms)))
        interp = sd.Interpreter(fn.program)
        cols = [X[:, j] for j in range(X.shape[1])]
        rows = [
            ("symdiff batch, all threads", median_time(lambda: fn.batch(X, out=out), number=3,
                                                        repeat=repeat)),
            ("symdiff batch, threads=1",
             median_time(lambda: fn.batch(X, out=out, threads=1), number=3, repeat=repeat)),
            ("symdiff batch, threads=1, vector_math=False",
             median_time(lambda: fn_libm.batch(X, out=out, threads=1), number=3,
                         repeat=repeat)),
            ("symdiff batch, Fortran-order X (strided)",
             median_time(lambda: fn.batch(np.asfortranarray(X), out=out, threads=1),
                         number=3, repeat=repeat)),
            ("symdiff interpreter (numpy arrays)",
             median_time(lambda: interp(cols), number=1, repeat=repeat)),
        ]
        for label, factory in PEERS:
            p = try_peer(factory, *sp[name])
            if p is None:
                rows.append((label, NOT_INSTALLED))
            elif isinstance(p, Exception):
                rows.append((label, f"failed: {type(p).__name__}"))
            else:
                rows.append((label, median_time(p[1](X), number=1, repeat=repeat)))
        vec = "yes" if ("<4 x double>" in fn.llvm_ir_opt or "<8 x double>" in fn.llvm_ir_opt) \
            else "no"
        table(f"Batch, N = {N:,} points: gradient of {name} "
              f"({fn.program.n_ops} ops, row loop vectorized: {vec})", rows,
              "symdiff batch, threads=1")


def bench_compile(quick: bool) -> None:
    sizes = [1_000, 3_000, 10_000, 30_000] if quick else [1_000, 3_000, 10_000, 30_000,
                                                          100_000]
    print("\nCompile time vs program size (Rosenbrock gradients, cold: cache=False)")
    print(f"  {'ops':>8s} {'instrs':>8s} {'chunks':>6s} {'levels':>7s} {'emit':>8s} "
          f"{'parse':>8s} {'optimize':>9s} {'codegen':>8s} {'load':>8s} {'total':>8s} "
          f"{'us/op':>6s} {'1 call':>9s}")
    for target in sizes:
        n = max(3, target // 9)
        f, xs = rosen_sd(n)
        program = sd.schedule(sd.grad(f, xs), xs)
        t = time.perf_counter()
        fn = compiler.compile(program, cache=False, name="rosen")
        total = time.perf_counter() - t
        ci = fn.compile_info
        pl = ci["plan"]
        x = np.random.default_rng(1).uniform(-2, 2, len(xs))
        out = np.empty(fn.n_outputs)
        call = median_time(lambda: fn(x, out=out), number=20, repeat=5)
        lv = f"{pl.opt_level if pl.opt_level is not None else '-'}/{pl.codegen_level}"
        print(f"  {program.n_ops:8d} {len(program.instrs):8d} "
              f"{len(pl.chunks) if pl.chunks else 0:6d} {lv:>7s} "
              f"{fmt(ci.get('emit_s', 0)):>8s} {fmt(ci.get('parse_s', 0)):>8s} "
              f"{fmt(ci.get('optimize_s', 0)):>9s} {fmt(ci.get('codegen_s', 0)):>8s} "
              f"{fmt(ci['load_s']):>8s} {fmt(total):>8s} {total / program.n_ops * 1e6:6.1f} "
              f"{fmt(call):>9s}")


def bench_cached_recompile() -> None:
    code = textwrap.dedent("""
        import json, sys, time
        t0 = time.perf_counter()
        sys.path.insert(0, %r)
        import symdiff as sd, compiler
        t1 = time.perf_counter()
        x, z = sd.symbol("x"), sd.symbol("z")
        f = sd.exp(x * z) + x * z / sd.log(x) + sd.sin(sd.log(x)) / (x * z)
        g = sd.grad(f, [x, z])
        t2 = time.perf_counter()
        fn = compiler.compile(g)
        t3 = time.perf_counter()
        fn([2.0, 3.0])
        print(json.dumps({"import": t1 - t0, "graph": t2 - t1, "compile": t3 - t2,
                          "cache": fn.compile_info["cache"],
                          "load": fn.compile_info["load_s"]}))
    """ % str(ROOT))
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, SYMDIFF_CACHE_DIR=d)
        runs = []
        for _ in range(6):
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env=env, check=True)
            runs.append(json.loads(res.stdout))
    cold, warm = runs[0], runs[1:]
    print("\nCompile of the lecture gradient in a fresh process")
    print(f"  cold (empty disk cache):  compile {fmt(cold['compile'])}  [{cold['cache']}]")
    print(f"  warm (disk cache hit):    compile "
          f"{fmt(statistics.median(r['compile'] for r in warm))} median of {len(warm)}  "
          f"[{warm[0]['cache']}; engine+load {fmt(statistics.median(r['load'] for r in warm))}]"
          f"  (import symdiff+compiler: {fmt(statistics.median(r['import'] for r in warm))})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, smaller sizes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        os.environ["SYMDIFF_CACHE_DIR"] = d
        print(f"symdiff compiled-kernel benchmarks; {os.cpu_count()} cores; load average "
              f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        bench_latency(args.quick)
        bench_batch(args.quick)
        bench_compile(args.quick)
        bench_cached_recompile()


if __name__ == "__main__":
    main()
