"""Compiled tensor gradients against JAX and PyTorch (not a test).

    python benchmarks/bench_tensor_compiled.py [--threads N] [--profile] [--crossover]
                                               [--quick] [--json FILE]

Prints Markdown tables; every contender of a row is timed in the same run,
each time a median of repeats (time.perf_counter), in two rounds of
alternating order keeping each contender's better median (this machine's
speed drifts with the other jobs on it; the load average is printed with
every table: it counts this benchmark's own threads too, so the figure
printed before any work starts is the one that tells whether the machine
was quiet).

Rows (float64 everywhere; JAX with ``jax_enable_x64``):

(a) the full-batch loss and gradient of softmax regression on
    scikit-learn's digits (1,797 x 64, k = 10): the gradient wrt Theta;
(b), (c) the loss and the four gradients of the 784-256-10 tanh MLP with
    biases (``examples/_common.mlp``) for a minibatch of 256 rows and for
    10,000 rows of synthetic MNIST-sized images;
(d) compile time: symdiff's cold compile (``sd.compile(..., cache=False)``)
    against JAX's first call minus its steady call (trace, differentiate,
    XLA compile) and torch.compile's first call minus its steady call
    (Dynamo, AOTAutograd, Inductor, with Inductor's caches pointed at an
    empty directory so the first compile is cold);
(e) build plus differentiate: the symdiff expression and ``sd.grad`` against
    ``jax.make_jaxpr(jax.grad(loss))``.

Contenders: symdiff ``fn(*arrays, out=buffers)``; JAX ``jit(value_and_grad)``
on arrays already on the device; PyTorch eager (forward, then
``torch.autograd.grad``) and the same through ``torch.compile``.  Every
result is compared with JAX's: the cells of the last column are
max |a - b| / max |b| over the loss and every gradient (target 1e-12).
"ratio" is symdiff's time over the best peer's (below 1: symdiff faster).

``--threads N`` gives every contender N cores: the process is confined
to N cores (``sched_setaffinity``; XLA ignores its thread flags), and
symdiff's loops (``threads=N``), the BLAS libraries of numpy and SciPy
(threadpoolctl) and PyTorch (``torch.set_num_threads``) use N threads; by
default each uses all cores.  ``--profile`` adds, per case,
where symdiff's time goes: the same matrix products through SciPy's BLAS
(the library the kernel calls) and through numpy, the kernel compiled with
``threads=1`` and with ``blas=False`` (its own loops), the call overhead
(a compiled 8 x 8 product) and JAX's matrix products alone.
``--crossover`` times ``A @ B`` compiled with and without BLAS around the
size below which the kernels use their own loops (``SMALL_MATMUL_FLOPS``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

from _common import cross_entropy, mlp, synthetic_images  # noqa: E402 - after sys.path setup
from _tables import numeric_table  # noqa: E402 - the scripts' folder is on sys.path

import symdiff as sd  # noqa: E402 - after the sys.path setup above
from symdiff.core.shapes import resolve_shape  # noqa: E402 - after the sys.path setup above

CORES = os.cpu_count() or 1
RTOL = 1e-12
MLP_SIZES = (784, 256, 10)
MLP_NAMES = ["W1", "b1", "W2", "b2"]


# ---------------------------------------------------------------------------
# timing


def median_time(call, repeats: int) -> float:
    """Median seconds of ``call()`` over ``repeats`` calls, after one warm-up."""
    call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def repeats_for(call, budget: float, lo: int = 5, hi: int = 200) -> int:
    """Repeats that fit ``budget`` seconds, judged from one call."""
    t0 = time.perf_counter()
    call()
    return int(min(hi, max(lo, budget / max(time.perf_counter() - t0, 1e-6))))


def race(calls: dict, budget: float, rounds: int = 2) -> dict:
    """Each contender's best median over ``rounds`` rounds, the order of the
    contenders reversed every other round (so no one always runs just
    after the same neighbour)."""
    best = {}
    names = list(calls)
    reps = {n: repeats_for(calls[n], budget) for n in names}
    for r in range(rounds):
        for n in (names if r % 2 == 0 else names[::-1]):
            t = median_time(calls[n], reps[n])
            best[n] = min(best.get(n, np.inf), t)
    return best


def fmt_time(s) -> str:
    """1.23 us / 4.56 ms / 7.89 s; strings pass through."""
    if isinstance(s, str):
        return s
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def load_text() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def rel_diff(outs, ref) -> float:
    """max over outputs of max |a - b| / max |b|."""
    worst = 0.0
    for a, b in zip(outs, ref):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        scale = max(float(np.max(np.abs(b))), np.finfo(float).tiny)
        worst = max(worst, float(np.max(np.abs(a - b))) / scale)
    return worst


# ---------------------------------------------------------------------------
# the cases: data, symdiff model, JAX and PyTorch versions


def softmax_case():
    """Softmax regression on the digits, as a dict: name, data arrays
    (X, y), params, build (returns symdiff's outputs and inputs), and the
    same loss for JAX and for PyTorch."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data / 16.0
    y = d.target.astype(np.int64)
    Theta = np.random.default_rng(1).normal(0.0, 0.1, (64, 10))

    def build():
        Xs = sd.tensor("X", ("m", 64))
        ys = sd.tensor("y", ("m",), dtype=int)
        Th = sd.tensor("Theta", (64, 10))
        loss = cross_entropy(Xs @ Th, ys, 10)
        return [loss, sd.grad(loss, Th)], [Xs, ys, Th]

    def jax_loss(params, X, y):
        import jax
        import jax.numpy as jnp

        (Th,) = params
        Z = X @ Th
        return jnp.mean(jax.scipy.special.logsumexp(Z, axis=1) - Z[jnp.arange(Z.shape[0]), y])

    def torch_loss(params, X, y):
        import torch

        (Th,) = params
        return torch.nn.functional.cross_entropy(X @ Th, y)

    return {"name": "softmax regression, digits 1,797 x 64, k = 10", "data": [X, y],
            "params": [Theta], "build": build, "jax_loss": jax_loss, "torch_loss": torch_loss}


def mlp_case(m: int, data):
    """The 784-256-10 tanh MLP on the first ``m`` synthetic images."""
    X, y = data
    rng = np.random.default_rng(2)
    D, H, K = MLP_SIZES
    params = [rng.normal(0, 1 / np.sqrt(D), (D, H)), rng.normal(0, 0.1, H),
              rng.normal(0, 1 / np.sqrt(H), (H, K)), rng.normal(0, 0.1, K)]

    def build():
        net = mlp(MLP_SIZES, "tanh")
        grads = sd.grad(net.loss, [net.params[n] for n in MLP_NAMES])
        return [net.loss, *grads], net.inputs

    def jax_loss(params, X, y):
        import jax
        import jax.numpy as jnp

        W1, b1, W2, b2 = params
        Z = jnp.tanh(X @ W1 + b1) @ W2 + b2
        return jnp.mean(jax.scipy.special.logsumexp(Z, axis=1) - Z[jnp.arange(Z.shape[0]), y])

    def torch_loss(params, X, y):
        import torch

        W1, b1, W2, b2 = params
        Z = torch.tanh(X @ W1 + b1) @ W2 + b2
        return torch.nn.functional.cross_entropy(Z, y)

    return {"name": f"MLP 784-256-10 tanh, {m:,} rows", "data": [X[:m], y[:m]],
            "params": params, "build": build, "jax_loss": jax_loss, "torch_loss": torch_loss}


class Contenders:
    """The callables of one case, each returning [loss, *gradients]."""

    def __init__(self, case: dict, threads, peers: dict):
        self.case = case
        self.outputs, self.inputs = case["build"]()
        self.fn = sd.compile(self.outputs, self.inputs, name="bench_tensor", threads=threads)
        arrays = case["data"] + case["params"]
        self.out = tuple(np.empty_like(a) for a in self.fn(*arrays))
        self.arrays = arrays
        self.calls = {"symdiff": lambda: self.fn(*arrays, out=self.out)}
        self.results = {"symdiff": lambda: [a.copy() for a in self.fn(*arrays)]}
        self.failures = {}
        if "jax" in peers:
            self._add_jax(peers["jax"])
        if "torch" in peers:
            self._add_torch(peers["torch"], compiled=False)
            if peers.get("torch_compile"):
                self._add_torch(peers["torch"], compiled=True)

    def _add_jax(self, jax):
        jnp = jax.numpy
        X, y = (jnp.asarray(a) for a in self.case["data"])
        params = tuple(jnp.asarray(p) for p in self.case["params"])
        f = jax.jit(jax.value_and_grad(self.case["jax_loss"]))
        self.jax_fn, self.jax_args = f, (params, X, y)

        def call():
            return jax.block_until_ready(f(params, X, y))

        def result():
            value, g = call()
            return [np.asarray(value)] + [np.asarray(a) for a in g]

        self.calls["JAX jit"] = call
        self.results["JAX jit"] = result

    def _add_torch(self, torch, compiled: bool):
        name = "torch.compile" if compiled else "PyTorch eager"
        X = torch.from_numpy(self.case["data"][0])
        y = torch.from_numpy(self.case["data"][1])
        params = [torch.from_numpy(p.copy()).requires_grad_(True) for p in self.case["params"]]
        loss_fn = torch.compile(self.case["torch_loss"]) if compiled else self.case["torch_loss"]

        def call():
            loss = loss_fn(params, X, y)
            return [loss.detach()] + list(torch.autograd.grad(loss, params))

        def result():
            return [t.numpy().copy() for t in call()]

        if compiled:
            try:
                t0 = time.perf_counter()
                call()
                first = time.perf_counter() - t0
                steady = median_time(call, 5)
                self.torch_compile_s = first - steady
            except Exception as e:  # noqa: BLE001 - a peer that breaks is reported, not fatal
                self.failures[name] = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:80]}"
                return
        self.calls[name] = call
        self.results[name] = result


# ---------------------------------------------------------------------------
# tables


def gradient_table(cases: list, budget: float, report: dict) -> str:
    """Rows (a)-(c): median time per gradient call of every contender."""
    peers = ["JAX jit", "PyTorch eager", "torch.compile"]
    header = ["case", "symdiff"] + peers + ["ratio (symdiff / best peer)",
                                             "max rel. diff vs JAX"]
    rows = []
    for label, c in cases:
        times = race(c.calls, budget)
        ref = c.results["JAX jit"]() if "JAX jit" in c.results else None
        diffs = {n: rel_diff(r(), ref) for n, r in c.results.items()} if ref else {}
        cells = [f"({label}) {c.case['name']}", fmt_time(times["symdiff"])]
        for p in peers:
            cells.append(fmt_time(times[p]) if p in times else c.failures.get(p, "not run"))
        peer_times = [times[p] for p in peers if p in times]
        ratio = times["symdiff"] / min(peer_times) if peer_times else float("nan")
        cells.append(f"{ratio:.2f}x")
        cells.append(", ".join(f"{n}: {d:.1e}{'' if d <= RTOL else ' (over 1e-12)'}"
                               for n, d in diffs.items() if n != "JAX jit") or "-")
        rows.append(cells)
        report.setdefault("gradients", []).append(
            {"case": c.case["name"], "times": times, "ratio": ratio, "rel_diff_vs_jax": diffs})
    return numeric_table(header, rows)


def compile_table(cases: list, jax, repeats: int, report: dict) -> str:
    """Row (d): symdiff cold compile vs JAX first call minus steady call vs
    torch.compile's first call minus steady call."""
    header = ["model", "symdiff build + grad", "symdiff compile (cold)",
              "of which LLVM optimize + codegen", "symdiff total",
              "JAX first call - steady", "torch.compile first call - steady",
              "compile / JAX", "total / JAX"]
    rows = []
    for label, c in cases:
        build_s, compile_s, llvm_s = [], [], []
        for _ in range(repeats):
            gc.collect()
            t0 = time.perf_counter()
            outputs, inputs = c.case["build"]()
            t1 = time.perf_counter()
            f = sd.compile(outputs, inputs, name="bench_cold", cache=False)
            t2 = time.perf_counter()
            build_s.append(t1 - t0)
            compile_s.append(t2 - t1)
            info = getattr(f, "compile_info", {})
            llvm_s.append(info.get("optimize_s", np.nan) + info.get("codegen_s", np.nan))
            del outputs, inputs, f
        b, s = statistics.median(build_s), statistics.median(compile_s)
        jax_s = None
        if jax is not None:
            firsts = []
            for _ in range(repeats):
                # A new Python function each time: jit's caches are keyed by
                # the function, so every first call traces and compiles.
                loss = c.case["jax_loss"]

                def fresh(params, X, y, _loss=loss):
                    return _loss(params, X, y)

                f = jax.jit(jax.value_and_grad(fresh))
                t0 = time.perf_counter()
                jax.block_until_ready(f(*c.jax_args))
                first = time.perf_counter() - t0
                firsts.append(first - median_time(lambda: jax.block_until_ready(f(*c.jax_args)),
                                                  10))
            jax_s = statistics.median(firsts)
        torch_s = getattr(c, "torch_compile_s", None)
        rows.append([f"({label}) {c.case['name'].split(',')[0]}", fmt_time(b), fmt_time(s),
                     fmt_time(statistics.median(llvm_s)), fmt_time(b + s),
                     fmt_time(jax_s) if jax_s else "not run",
                     fmt_time(torch_s) if torch_s else c.failures.get("torch.compile", "not run"),
                     f"{s / jax_s:.2f}x" if jax_s else "-",
                     f"{(b + s) / jax_s:.2f}x" if jax_s else "-"])
        report.setdefault("compile", []).append(
            {"case": c.case["name"], "symdiff_build_grad": b, "symdiff_compile": s,
             "symdiff_llvm": statistics.median(llvm_s),
             "jax_first_minus_steady": jax_s, "torch_compile_first_minus_steady": torch_s})
    return numeric_table(header, rows)


def build_table(cases: list, jax, repeats: int, report: dict) -> str:
    """Row (e): symdiff build + sd.grad vs jax.make_jaxpr(jax.grad(loss))."""
    header = ["model", "symdiff build + sd.grad", "jax.make_jaxpr(jax.grad(loss))", "ratio"]
    rows = []
    for label, c in cases:
        def ours():
            outputs, inputs = c.case["build"]()
            del outputs, inputs

        t_ours = median_time(ours, repeats)
        t_jax = None
        if jax is not None:
            loss = c.case["jax_loss"]
            params, X, y = c.jax_args
            t_jax = median_time(lambda: jax.make_jaxpr(jax.grad(loss))(params, X, y), repeats)
        rows.append([f"({label}) {c.case['name'].split(',')[0]}", fmt_time(t_ours),
                     fmt_time(t_jax) if t_jax else "not run",
                     f"{t_ours / t_jax:.2f}x" if t_jax else "-"])
        report.setdefault("build", []).append(
            {"case": c.case["name"], "symdiff": t_ours, "jax_make_jaxpr": t_jax})
    return numeric_table(header, rows)


# ---------------------------------------------------------------------------
# profile


def _fortran_operand(M):
    """(array, trans) with op(array) = M^T in Fortran order, without a copy."""
    return (M.T, 0) if M.flags.c_contiguous else (M, 1)


def blas_matmul(a, b):
    """a @ b (C order) through SciPy's dgemm, as C^T = B^T A^T."""
    from scipy.linalg import blas

    fb, tb = _fortran_operand(b)
    fa, ta = _fortran_operand(a)
    return blas.dgemm(1.0, fb, fa, trans_a=tb, trans_b=ta).T


def matmul_operands(fn, dims: dict, rng) -> list:
    """Random operands laid out as the kernel's matrix products read them:
    one (label, a, b) per matmul step of the compiled plan (a transposed
    operand is the transposed view of a C-contiguous array, as in the
    program)."""
    prog = fn.program
    out = []
    for st in fn.plan.steps:
        if st.kind != "matmul":
            continue
        ops, names = [], []
        for a in prog.instrs[st.slot].args:
            ins = prog.instrs[a]
            shape = resolve_shape(ins.shape, dims)
            if ins.op == "transpose" and len(shape) == 2:
                ops.append(rng.random(shape[::-1]).T)
                names.append(f"{shape[0]}x{shape[1]} (T)")
            else:
                ops.append(rng.random(shape))
                names.append("x".join(map(str, shape)))
        if all(np.ndim(o) == 2 for o in ops):
            out.append((" @ ".join(names), ops[0], ops[1]))
    return out


def _single_threaded_blas():
    """A context limiting numpy's and SciPy's BLAS to one thread (as the
    kernel runs each of its row blocks), or a no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    import scipy.linalg  # noqa: F401 - load SciPy's BLAS so the limit reaches it

    return threadpool_limits(1, user_api="blas")


def call_overhead() -> float:
    """Median seconds of a call whose kernel does almost nothing: a
    compiled product of two 8 x 8 matrices, into ``out``."""
    A, B = sd.tensor("A", (8, 8)), sd.tensor("B", (8, 8))
    f = sd.compile([A @ B], [A, B], name="bench_overhead")
    a, out = np.ones((8, 8)), (np.empty((8, 8)),)
    return median_time(lambda: f(a, a, out=out), 2000)


def profile_table(label: str, c: Contenders, times_symdiff: float, threads, budget: float,
                  jax, report: dict) -> str:
    """Where symdiff's time goes on one case.

    The kernel runs its products as row blocks, one single-threaded dgemm
    each, on its own threads; so the products are timed here through
    SciPy's dgemm (the same library) on one thread, and set against the
    kernel compiled with ``threads=1``: the difference is the fused loops,
    the reductions and the call overhead."""
    rng = np.random.default_rng(0)
    arrays = c.arrays
    dims = {"m": len(arrays[0])}

    def timed(call):
        return median_time(call, max(3, repeats_for(call, budget)))

    one = sd.compile(c.outputs, c.inputs, name="bench_variant", threads=1)
    t_one = timed(lambda: one(*arrays))
    rows = [[f"symdiff, whole call ({threads or 'default'} threads)", fmt_time(times_symdiff)],
            ["symdiff compiled with threads=1", fmt_time(t_one)]]
    products = matmul_operands(c.fn, dims, rng)
    blas_total = numpy_total = 0.0
    with _single_threaded_blas():
        for name, a, b in products:
            t_b = median_time(lambda: blas_matmul(a, b),
                              max(5, repeats_for(lambda: a @ b, budget / 4)))
            t_n = median_time(lambda: a @ b, max(5, repeats_for(lambda: a @ b, budget / 4)))
            blas_total += t_b
            numpy_total += t_n
            rows.append([f"  product {name}, dgemm on 1 thread", fmt_time(t_b)])
    rows.append(["all products, SciPy dgemm on 1 thread (the kernel's BLAS)",
                 fmt_time(blas_total)])
    rows.append(["all products, numpy matmul on 1 thread", fmt_time(numpy_total)])
    rows.append(["threads=1 call minus its dgemm: fused loops, reductions, call overhead",
                 fmt_time(t_one - blas_total)])
    rows.append(["call overhead (the whole call of a compiled 8 x 8 A @ B)",
                 fmt_time(call_overhead())])
    own = sd.compile(c.outputs, c.inputs, name="bench_variant", threads=threads, blas=False)
    rows.append(["symdiff compiled with blas=False (own loops)",
                 fmt_time(timed(lambda: own(*arrays)))])
    if jax is not None and products:
        jops = [(jax.numpy.asarray(a), jax.numpy.asarray(b)) for _, a, b in products]
        only = jax.jit(lambda ops: [a @ b for a, b in ops])
        rows.append(["JAX: the same products alone, jit",
                     fmt_time(timed(lambda: jax.block_until_ready(only(jops))))])
        rows.append(["JAX: whole gradient (this measurement)",
                     fmt_time(timed(c.calls["JAX jit"]))])
    report.setdefault("profile", []).append({"case": c.case["name"], "rows": rows})
    return f"Profile ({label}) {c.case['name']}, load {load_text()}\n\n" + \
        numeric_table(["part", "time"], rows)


def crossover_table(threads, budget: float, report: dict) -> str:
    """A @ B compiled with BLAS (products of at least SMALL_MATMUL_FLOPS
    multiply-adds go to dgemm) and with ``blas=False`` (symdiff's loops
    for every size), for square and skinny shapes around the threshold."""
    from compiler.tensor.codegen import SMALL_MATMUL_FLOPS

    rng = np.random.default_rng(0)
    shapes = [(n, n, n) for n in (8, 12, 16, 20, 24, 32, 48, 64, 128)] + \
        [(m, 10, 256) for m in (4, 16, 64, 256)] + [(m, 256, 10) for m in (4, 16, 64, 256)]
    rows = []
    for m, k, n in shapes:
        A = sd.tensor("A", (m, k))
        B = sd.tensor("B", (k, n))
        a, b = rng.random((m, k)), rng.random((k, n))
        with_blas = sd.compile([A @ B], [A, B], name="bench_mm", threads=threads)
        own = sd.compile([A @ B], [A, B], name="bench_mm_own", threads=threads, blas=False)
        out = (np.empty((m, n)),)
        times = race({"blas": lambda: with_blas(a, b, out=out),
                      "own": lambda: own(a, b, out=out)}, budget / 4)
        flops = m * n * k
        path = "dgemm" if flops >= SMALL_MATMUL_FLOPS else "own loop"
        rows.append([f"({m} x {k}) @ ({k} x {n})", f"{flops:,}", path,
                     fmt_time(times["blas"]), fmt_time(times["own"]),
                     f"{times['own'] / times['blas']:.2f}"])
        report.setdefault("crossover", []).append(
            {"shape": (m, k, n), "flops": flops, "default": times["blas"], "own": times["own"]})
    return (f"SMALL_MATMUL_FLOPS = {SMALL_MATMUL_FLOPS:,} multiply-adds; load {load_text()}\n\n"
            + numeric_table(["product", "multiply-adds", "default path", "default (blas=True)",
                        "blas=False (own loops)", "own / default"], rows))


# ---------------------------------------------------------------------------


def import_peers(args) -> dict:
    """The installed peers, configured for float64 and the thread count."""
    peers = {}
    if args.threads == 1:
        # Must be set before jax is imported: XLA reads it once.
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        peers["jax"] = jax
    except ImportError:
        print("JAX is not installed: its columns read 'not run'")
    if not args.no_torch:
        # Inductor's caches in an empty directory: torch.compile's first
        # call is a cold compile, as symdiff's cache=False.
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="inductor-"))
        try:
            import torch

            torch.set_default_dtype(torch.float64)
            if args.threads:
                torch.set_num_threads(args.threads)
            try:
                import torch._functorch.config as fconfig
                import torch._inductor.config as iconfig

                iconfig.fx_graph_cache = False
                fconfig.enable_autograd_cache = False
            except (ImportError, AttributeError):
                pass
            peers["torch"] = torch
            peers["torch_compile"] = not args.no_torch_compile
        except ImportError:
            print("PyTorch is not installed: its columns read 'not run'")
    return peers


def versions(peers: dict) -> str:
    """Library versions and the machine."""
    import llvmlite

    parts = [f"Python {platform.python_version()}", f"numpy {np.__version__}",
             f"llvmlite {llvmlite.__version__}"]
    if "jax" in peers:
        parts.append(f"jax {peers['jax'].__version__}")
    if "torch" in peers:
        parts.append(f"torch {peers['torch'].__version__}")
    return f"{CORES} cores; " + ", ".join(parts)


def main(argv=None) -> dict:
    """Run the benchmark; prints Markdown and returns the measurements."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every contender (default: each uses all cores)")
    p.add_argument("--profile", action="store_true", help="where symdiff's time goes")
    p.add_argument("--crossover", action="store_true",
                   help="matrix products through BLAS vs symdiff's own loops, by size")
    p.add_argument("--quick", action="store_true",
                   help="smaller budget, 2,000 instead of 10,000 rows, no torch.compile")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of timing per contender and round (default 1, quick 0.2)")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--no-torch-compile", action="store_true", help="leave torch.compile out")
    p.add_argument("--json", help="also write the measurements to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.no_torch_compile = True
    budget = args.budget or (0.2 if args.quick else 1.0)
    big = 2_000 if args.quick else 10_000

    if args.threads and hasattr(os, "sched_setaffinity"):
        # XLA's CPU runtime ignores its thread flags (measured: JAX keeps
        # using both cores with intra_op_parallelism_threads=1), so the
        # process is confined to N cores: every contender gets the same.
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
    peers = import_peers(args)
    if args.threads:
        try:
            import scipy.linalg  # noqa: F401 - load SciPy's BLAS so the limit reaches it
            from threadpoolctl import threadpool_limits

            threadpool_limits(args.threads, user_api="blas")
        except ImportError:
            print("threadpoolctl is not installed: BLAS keeps its default thread count")
    t_start = time.perf_counter()
    print(f"# Tensor gradients: symdiff vs JAX and PyTorch\n\n{versions(peers)}; symdiff "
          f"threads: {args.threads or 'default'}; load average at start {load_text()}\n")

    data = synthetic_images(big, 0, seed=0)[::2]      # (X_train, y_train)
    cases = [("a", Contenders(softmax_case(), args.threads, peers)),
             ("b", Contenders(mlp_case(256, data), args.threads, peers)),
             ("c", Contenders(mlp_case(big, data), args.threads, peers))]
    report = {"versions": versions(peers), "threads": args.threads}

    print(f"## (a)-(c) Loss and gradient per call (median; load {load_text()})\n")
    print(gradient_table(cases, budget, report))
    print(f"\nload average after the table: {load_text()}\n")

    jax = peers.get("jax")
    print(f"## (d) Compile time (median of 3; load {load_text()})\n")
    print(compile_table([cases[0], cases[1]], jax, 3, report))
    print("\nJAX and torch.compile compile again for every new batch size (static shapes); "
          "symdiff's kernel binds m per call.\n")

    print(f"## (e) Build and differentiate (median; load {load_text()})\n")
    print(build_table([cases[0], cases[1]], jax, 20, report))

    if args.profile:
        print("\n## Profile of symdiff's calls\n")
        for (label, c), g in zip(cases, report["gradients"]):
            print(profile_table(label, c, g["times"]["symdiff"], args.threads, budget, jax,
                                report))
            print()
    if args.crossover:
        print("\n## BLAS or own loops: the small-product crossover\n")
        print(crossover_table(args.threads, budget, report))
    print(f"\nwall time {time.perf_counter() - t_start:.0f} s; load average at the end "
          f"{load_text()}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return report


if __name__ == "__main__":
    main()
