"""Benchmarks of the LLVM-compiled kernels against peers (not a test).

    python benchmarks/bench_compiled.py [--quick] [--json FILE] [--sections ...]

One run measures, each number a median of repeats (time.perf_counter), every
peer in the same process and run as symdiff (each row's contenders are timed
in two rounds and keep the better median: this machine's speed drifts):

1. per-call latency of two gradients: the lecture example
   ``exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)`` (2 -> 2) and the 64-32-10
   tanh MLP loss of :func:`symdiff.lab.models.mlp_loss` (2,410 -> 2,410):
   symdiff ``fn(x, out=buf)``, ``fn(x)`` and the pre-bound call;
2. batches: gradients at N = 100,000 points of the lecture example,
   ``log(1+exp(-(x+y)))*(x+y)`` and Rosenbrock n = 10, and per-sample
   gradients of the softmax-regression loss (W 10x64, b) and of the MLP over
   the 1,797 rows of scikit-learn's digits; symdiff with threads=1 and with
   the default (all cores);
3. compile time: Rosenbrock gradients of 1,000 to 100,000 ops (cold), the
   lecture and MLP gradients (cold) against the peers' build/JIT times, the
   lecture gradient's compile alone against symengine's
   ``Lambdify(backend='llvm')`` (alternating rounds in one process, and the
   first compile in fresh processes), and a cached recompile in a new
   process.

    python benchmarks/bench_compiled.py --sections cold,cached   # a subset

Peers (each marked "not installed" when missing, "failed: ..." when it
breaks, "skipped: ..." when building it takes minutes):

* CasADi SX ``Function`` called through ``Function.buffer()`` (the
  low-overhead call), batches through ``map(..., "thread", cores)``;
* CasADi with ``jit=True`` (its C code compiled by gcc -O3, "shell" compiler);
  batches: the thread map over the compiled kernel and the map itself
  compiled by gcc (row loop in C), whichever is faster (named in the cell);
* JAX ``jit(grad(f))`` and ``jit(vmap(grad(f)))`` (float64);
* PyTorch ``torch.autograd.grad`` per call and ``torch.func.vmap(grad)`` for
  batches (eager, float64);
* sympy ``lambdify(cse=True)`` (numpy) of ``sympy.diff``;
* symengine ``Lambdify(backend='llvm', cse=True)`` of ``symengine.diff``.

CasADi, sympy and symengine get the very function symdiff compiles (its
flattened program rebuilt op by op in their expression types) and
differentiate it themselves; JAX and PyTorch get the same model written in
their array style.  Every peer's result is checked against symdiff's
(``allclose``, rtol 1e-9, atol 1e-12 times the largest entry): a cell reads
``1.23 us ✓`` or ``✗`` if the values differ.  "symdiff / best peer" divides
by the fastest peer whose check passed.  Per-sample rows: symdiff reads the
parameters from every row of its input (its batch convention; filling those
rows is timed separately below the table); the peers receive them once.
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

from _tables import numeric_table  # noqa: E402 - the scripts' folder is on sys.path

import compiler  # noqa: E402 - after the sys.path setup above
import symdiff as sd  # noqa: E402 - after the sys.path setup above
from symdiff.lab import models  # noqa: E402 - after the sys.path setup above

CORES = os.cpu_count() or 1
RTOL = 1e-9

# Peers whose build takes minutes on these models (measured on the 2-core
# development machine): reported as skipped instead of being built.
SLOW = {
    ("sympy", "mlp"): "sympy.diff of the 2,410-parameter loss alone takes ~530 s",
    ("sympy", "mlp_ps"): "sympy.diff of the 2,410-parameter loss alone takes ~530 s",
}


# ---------------------------------------------------------------------------
# Measurement and formatting


def median_time(f, *, target: float, repeat: int) -> float:
    """Median over ``repeat`` runs of the mean time of one call; each run
    makes enough calls to last about ``target`` seconds."""
    t = time.perf_counter()
    f()  # warm up (first-call effects, lazy imports)
    once = max(time.perf_counter() - t, 1e-7)
    number = max(1, min(200_000, int(target / once)))
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            f()
        times.append((time.perf_counter() - t) / number)
    return statistics.median(times)


def fmt(t) -> str:
    """Seconds as a short human string."""
    if t is None:
        return "-"
    if t < 1e-6:
        return f"{t * 1e9:.0f} ns"
    if t < 1e-3:
        return f"{t * 1e6:.2f} us"
    if t < 1:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


class Cell:
    """One measurement: a time, or a status saying why there is none."""

    def __init__(self, t=None, status="ok", check=None, err=None, note=None):
        self.t, self.status, self.check, self.err, self.note = t, status, check, err, note

    def ok(self) -> bool:
        return self.t is not None and self.check is not False

    def __str__(self) -> str:
        if self.t is None:
            return self.status
        mark = {True: " ✓", False: " ✗", None: ""}[self.check]
        return fmt(self.t) + mark + (f" ({self.note})" if self.note else "")

    def as_json(self) -> dict:
        return {"seconds": self.t, "status": self.status, "check": self.check,
                "max_rel_err": self.err, "note": self.note,
                "round_medians": getattr(self, "rounds", None),
                "variants": getattr(self, "variants", None)}


def timed(call, target, repeat) -> Cell:
    """A Cell timing ``call``; keeps ``call`` for :func:`second_round`."""
    t = median_time(call, target=target, repeat=repeat)
    c = Cell(t)
    c.call, c.rounds = call, [t]
    return c


def second_round(cells, target, repeat) -> None:
    """Time every cell of a row again, in the same order, and keep the
    better median of the two rounds (this machine's speed drifts; every
    contender gets the same treatment)."""
    for c in cells:
        if getattr(c, "call", None) is not None:
            c.rounds.append(median_time(c.call, target=target, repeat=repeat))
            c.t = min(c.rounds)
            c.call = None


def short_reason(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return f"failed: {type(e).__name__}" + (f": {msg[:70]}" if msg else "")


def check(got, ref) -> tuple[bool, float]:
    """Same values?  (allclose with rtol RTOL and a tiny scale-relative atol
    for entries that are zero in one result and ~1e-17 in the other.)"""
    got = np.asarray(got, dtype=float).reshape(np.shape(ref))
    scale = float(np.max(np.abs(ref))) or 1.0
    err = float(np.max(np.abs(got - ref)) / scale)
    return bool(np.allclose(got, ref, rtol=RTOL, atol=1e-12 * scale)), err


def md_table(title: str, header: list[str], rows: list[list]) -> str:
    """A titled section holding one table of numbers."""
    return f"\n### {title}\n\n" + numeric_table(header, rows)


def ratio(num: Cell, peers: list[Cell]) -> str:
    good = [c for c in peers if c.ok()]
    if num.t is None or not good:
        return "-"
    best = min(good, key=lambda c: c.t)
    return f"{num.t / best.t:.2f}x"


# ---------------------------------------------------------------------------
# The benchmark functions.  Each case: the symdiff loss and the symbols it
# is differentiated by, the model in array style for JAX/PyTorch, and data.

N_MLP = 32 * 64 + 32 + 10 * 32 + 10      # 2,410 parameters
N_SMAX = 10 * 64 + 10                     # 650 parameters


def m_lecture(m, v):
    x, z = v[0], v[1]
    return m.exp(x * z) + x * z / m.log(x) + m.sin(m.log(x)) / (x * z)


def m_softplus(m, v):
    s = v[0] + v[1]
    return m.log(1 + m.exp(-s)) * s


def m_rosen(m, v):
    a, b = v[:-1], v[1:]
    return m.sum(100 * (b - a ** 2) ** 2 + (1 - a) ** 2)


def m_mlp(m, p, x, y):
    """Per-sample MLP loss, parameters in symdiff's order (W1 row-major,
    b1, W2 row-major, b2)."""
    W1, b1 = p[:2048].reshape(32, 64), p[2048:2080]
    W2, b2 = p[2080:2400].reshape(10, 32), p[2400:]
    h = W2 @ m.tanh(W1 @ x + b1) + b2
    return m.log(m.sum(m.exp(h))) - m.sum(y * h)


def m_softmax(m, p, x, y):
    h = p[:640].reshape(10, 64) @ x + p[640:]
    return m.log(m.sum(m.exp(h))) - m.sum(y * h)


def sd_per_sample(kind: str):
    """symdiff per-sample loss with inputs [params, x (64), y one-hot (10)]."""
    x, y = sd.vector("x", 64), sd.vector("y", 10)
    if kind == "softmax":
        W, b = sd.matrix("W", 10, 64), sd.vector("b", 10)
        h = sd.dot(W, x) + b
        params = list(W.ravel()) + list(b)
    else:
        W1, b1 = sd.matrix("W1_", 32, 64), sd.vector("b1_", 32)
        W2, b2 = sd.matrix("W2_", 10, 32), sd.vector("b2_", 10)
        h = sd.dot(W2, sd.tanh(sd.dot(W1, x) + b1)) + b2
        params = list(W1.ravel()) + list(b1) + list(W2.ravel()) + list(b2)
    loss = sd.log(sd.sum(sd.exp(h))) - sd.dot(y, h)
    return loss, params, list(x) + list(y)


class Case:
    """A gradient to benchmark.

    kind "point": f(v), differentiated by all of v; ``model(m, v)``.
    kind "sample": loss(p, x, y), differentiated by p, one row per sample;
    ``model(m, p, x, y)``.
    """

    def __init__(self, name, label, kind, loss, params, data_syms, model):
        self.name, self.label, self.kind = name, label, kind
        self.loss, self.params, self.data_syms, self.model = loss, params, data_syms, model
        self.inputs = params + data_syms


def point_case(name, label, built, model):
    f, xs = built
    return Case(name, label, "point", f, xs, [], model)


def case_mlp_point() -> Case:
    """models.mlp_loss: x (a fixed sample) and the label 3 are constants."""
    f, params = models.mlp_loss()
    x = models._sample(64)
    y = np.eye(10)[3]
    return Case("mlp", "MLP 64-32-10 (2,410 params)", "point", f, params, [],
                lambda m, v: m_mlp(m, v, m.asarray(x), m.asarray(y)))


def case_sample(kind: str) -> Case:
    loss, params, data = sd_per_sample(kind)
    model = m_softmax if kind == "softmax" else m_mlp
    label = ("softmax regression per-sample (650 params)" if kind == "softmax"
             else "MLP 64-32-10 per-sample (2,410 params)")
    return Case("smax_ps" if kind == "softmax" else "mlp_ps", label, "sample", loss, params,
                data, model)


def digits_rows(rng):
    """(X, Y one-hot): the 1,797 digits scaled to [0, 1], or random rows."""
    try:
        from sklearn.datasets import load_digits

        d = load_digits()
        X, labels, src = d.data / 16.0, d.target, "sklearn load_digits"
    except ImportError:
        X = rng.uniform(0, 1, (1797, 64))
        labels, src = rng.integers(0, 10, 1797), "random rows (sklearn missing)"
    return np.ascontiguousarray(X), np.eye(10)[labels], src


# ---------------------------------------------------------------------------
# Peers.  A peer factory takes a Case and returns an object with
# ``build_s``, ``single(x, out) -> (call, result)`` (point cases) and
# ``batch(X) -> (call, result)`` / ``batch_sample(P, X, Y) -> (call,
# result)``; ``call()`` runs once, ``result()`` gives the numbers to check.


def from_program(case: Case, ns: dict, symbol, const):
    """Rebuild the case's loss op by op in another library's expression type."""
    prog = sd.schedule(case.loss, case.inputs)
    vals = []
    for ins in prog.instrs:
        if ins.op == "input":
            vals.append(symbol(ins.payload))
        elif ins.op == "const":
            v = ins.payload
            vals.append(const(int(v) if float(v).is_integer() else v))
        else:
            vals.append(ns[ins.op](*(vals[a] for a in ins.args)))
    return vals[prog.outputs[0]]


def _arith(ns: dict) -> dict:
    ops = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
           "div": lambda a, b: a / b, "neg": lambda a: -a, "pow": lambda a, b: a ** b}
    ops.update(ns)
    return ops


class Peer:
    build_s = None
    first_call_s = None


def peer_casadi(case: Case, jit: bool):
    import casadi

    t0 = time.perf_counter()
    p = casadi.SX.sym("p", len(case.params))
    ins = [p] if case.kind == "point" else [p, casadi.SX.sym("x", 64), casadi.SX.sym("y", 10)]
    leaves = [v[i] for v in ins for i in range(v.numel())]
    ns = _arith({k: getattr(casadi, k) for k in ("exp", "log", "sin", "tanh")})
    loss = from_program(case, ns, lambda k: leaves[k], float)
    opts = {}
    if jit:
        opts = {"jit": True, "compiler": "shell",
                "jit_options": {"flags": ["-O3"], "verbose": False}}
    g = casadi.Function("g", ins, [casadi.gradient(loss, p)], opts)
    peer = Peer()
    peer.build_s = time.perf_counter() - t0

    def single(x, out):
        buf, trigger = g.buffer()
        buf.set_arg(0, memoryview(x))
        buf.set_res(0, memoryview(out))
        trigger._keep = (buf, x, out)  # CasADi holds raw pointers only
        return trigger, lambda: out

    def run(F, args, N):
        # (N, n) C-order is CasADi's column-major (n, N): no copies.
        out = np.empty((N, len(case.params)))
        buf, trigger = F.buffer()
        for i, a in enumerate(args):
            buf.set_arg(i, memoryview(a))
        buf.set_res(0, memoryview(out))
        trigger._keep = (buf, F, args, out)  # CasADi holds raw pointers only
        return trigger, lambda: out

    def variants(N, args, shapes):
        """A thread map over g and, for the JIT, also the map itself
        compiled by gcc (the row loop in C): the faster one is reported."""
        syms = [casadi.MX.sym(f"a{i}", *sh) for i, sh in enumerate(shapes)]
        par = "thread" if CORES > 1 else "serial"
        # map(N, "thread", k): k threads of N/k rows.  (The named form
        # map(name, "thread", N, reduce_in, ...) starts one thread per row
        # and aborts the process at N = 100,000.)  Per-sample cases: the
        # parameters (one column) are broadcast to the rows by the MX call.
        gm = g.map(N, par, CORES) if CORES > 1 else g.map(N, par)
        if case.kind == "sample":
            gm = casadi.Function("gm", syms, [gm(*syms)])
        out = {f"{par} map": run(gm, args, N)}
        if jit:
            reduce_in = [0] if case.kind == "sample" else []
            sm = g.map("sm", "serial", N, reduce_in, [])
            F = casadi.Function("F", syms, [sm(*syms)], opts)
            out["map compiled by gcc"] = run(F, args, N)
        return out

    def batch(X):
        return variants(X.shape[0], [X], [(X.shape[1], X.shape[0])])

    def batch_sample(P, X, Y):
        # reduce_in=[0]: the parameters are one input shared by all rows.
        N = X.shape[0]
        return variants(N, [P, X, Y], [(P.size, 1), (64, N), (10, N)])

    peer.single, peer.batch, peer.batch_sample = single, batch, batch_sample
    return peer


def peer_jax(case: Case):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    peer = Peer()
    t0 = time.perf_counter()
    if case.kind == "point":
        g = jax.jit(jax.grad(lambda v: case.model(jnp, v)))
        gb = jax.jit(jax.vmap(jax.grad(lambda v: case.model(jnp, v))))
    else:
        g = None
        gb = jax.jit(jax.vmap(jax.grad(lambda p, x, y: case.model(jnp, p, x, y)),
                              in_axes=(None, 0, 0)))
    peer.build_s = time.perf_counter() - t0

    def first(call):
        t = time.perf_counter()
        call()
        peer.first_call_s = time.perf_counter() - t

    def single(x, out):
        xj = jnp.asarray(x)
        res = {}

        def call():
            res["r"] = g(xj).block_until_ready()
        first(call)
        return call, lambda: np.asarray(res["r"])

    def batch(X):
        Xj = jnp.asarray(X)
        res = {}

        def call():
            res["r"] = gb(Xj).block_until_ready()
        first(call)
        return call, lambda: np.asarray(res["r"])

    def batch_sample(P, X, Y):
        Pj, Xj, Yj = jnp.asarray(P), jnp.asarray(X), jnp.asarray(Y)
        res = {}

        def call():
            res["r"] = gb(Pj, Xj, Yj).block_until_ready()
        first(call)
        return call, lambda: np.asarray(res["r"])

    peer.single, peer.batch, peer.batch_sample = single, batch, batch_sample
    return peer


def peer_torch(case: Case):
    import torch
    from torch.func import grad, vmap

    class M:  # the namespace the models use
        exp, log, sin, tanh, sum = torch.exp, torch.log, torch.sin, torch.tanh, torch.sum

        @staticmethod
        def asarray(a):
            return torch.as_tensor(a, dtype=torch.float64)

    peer = Peer()
    t0 = time.perf_counter()
    if case.kind == "point":
        g = grad(lambda v: case.model(M, v))
        gb = vmap(g)
    else:
        gb = vmap(grad(lambda p, x, y: case.model(M, p, x, y)), in_dims=(None, 0, 0))
    peer.build_s = time.perf_counter() - t0

    def single(x, out):
        # Plain autograd: faster per call here than torch.func.grad (~2.5x).
        xt = torch.from_numpy(x)
        res = {}

        def call():
            xr = xt.detach().requires_grad_(True)
            res["r"] = torch.autograd.grad(case.model(M, xr), xr)[0]
        return call, lambda: res["r"].numpy()

    def batch(X):
        Xt = torch.from_numpy(X)
        res = {}

        def call():
            res["r"] = gb(Xt)
        return call, lambda: res["r"].numpy()

    def batch_sample(P, X, Y):
        Pt, Xt, Yt = (torch.from_numpy(a) for a in (P, X, Y))
        res = {}

        def call():
            res["r"] = gb(Pt, Xt, Yt)
        return call, lambda: res["r"].numpy()

    peer.single, peer.batch, peer.batch_sample = single, batch, batch_sample
    return peer


def peer_sympy(case: Case):
    import sympy

    if ("sympy", case.name) in SLOW:
        raise SkipPeer(SLOW[("sympy", case.name)])
    t0 = time.perf_counter()
    f = sd.to_sympy(case.loss)
    by_name = {s.name: s for s in f.free_symbols}
    syms = [by_name.get(s.name) or sympy.Symbol(s.name, real=True) for s in case.inputs]
    grad = [sympy.diff(f, s) for s in syms[:len(case.params)]]
    # cse=True: lambdify emits the common subexpressions as temporaries.
    L = sympy.lambdify(syms, grad, modules="numpy", cse=True)
    peer = Peer()
    peer.build_s = time.perf_counter() - t0

    def single(x, out):
        xs = [float(v) for v in x]
        res = {}

        def call():
            res["r"] = L(*xs)
        return call, lambda: np.array(res["r"], dtype=float)

    def batch(X):
        cols = [X[:, j] for j in range(X.shape[1])]
        res = {}

        def call():  # a list of columns, broadcast (not copied) to length N
            res["r"] = np.broadcast_arrays(*L(*cols))
        return call, lambda: np.column_stack(res["r"])

    def batch_sample(P, X, Y):
        args = [float(v) for v in P] + [X[:, j] for j in range(X.shape[1])] + \
            [Y[:, j] for j in range(Y.shape[1])]
        res = {}

        def call():
            res["r"] = np.broadcast_arrays(*L(*args))
        return call, lambda: np.column_stack(res["r"])

    peer.single, peer.batch, peer.batch_sample = single, batch, batch_sample
    return peer


def peer_symengine(case: Case):
    import symengine as se

    t0 = time.perf_counter()
    syms = [se.Symbol(s.name) for s in case.inputs]
    ns = _arith({k: getattr(se, k) for k in ("exp", "log", "sin", "tanh")})
    f = from_program(case, ns, lambda k: syms[k],
                     lambda v: se.Integer(v) if isinstance(v, int) else se.RealDouble(v))
    grad = [f.diff(s) for s in syms[:len(case.params)]]
    # LLVM's optimizer takes ~6 minutes on the 2,410-output MLP gradient
    # (opt_level 1 to 3): those are built with opt_level=0 (27 s).
    big = len(case.params) > 1000
    L = se.Lambdify(syms, grad, backend="llvm", cse=True, **({"opt_level": 0} if big else {}))
    peer = Peer()
    peer.build_s = time.perf_counter() - t0
    peer.note = "opt_level=0" if big else None

    def single(x, out):
        return (lambda: L(x, out=out)), lambda: out

    def batch(X):
        out = np.empty((X.shape[0], len(case.params)))
        return (lambda: L(X, out=out)), lambda: out

    def batch_sample(P, X, Y):
        rows = np.hstack([np.broadcast_to(P, (X.shape[0], P.size)), X, Y])
        return batch(rows)

    peer.single, peer.batch, peer.batch_sample = single, batch, batch_sample
    return peer


class SkipPeer(Exception):
    pass


PEERS = [("CasADi SX", lambda c: peer_casadi(c, jit=False)),
         ("CasADi gcc -O3", lambda c: peer_casadi(c, jit=True)),
         ("JAX jit", peer_jax),
         ("PyTorch", peer_torch),
         ("sympy lambdify", peer_sympy),
         ("symengine llvm", peer_symengine)]


def build_peer(label, factory, case, quick):
    """(peer or None, Cell with the status if None)."""
    if quick and ((label.startswith("sympy") and case.name in QUICK_SKIP) or
                  (label.startswith("symengine") or "gcc" in label)
                  and len(case.params) > 1000):
        return None, Cell(status="skipped (--quick)")
    try:
        return factory(case), None
    except ImportError:
        return None, Cell(status="not installed")
    except SkipPeer as e:
        return None, Cell(status=f"skipped: {e}")
    except Exception as e:  # a peer that breaks must not stop the benchmark
        return None, Cell(status=short_reason(e))


QUICK_SKIP = {"smax_ps"}  # sympy: ~45 s


def measure(make, ref, target, repeat) -> Cell:
    """Time ``call`` from ``make() -> (call, result)`` and check its result;
    ``make()`` may also return {variant: (call, result)}: the fastest
    variant is kept (and named in the cell)."""
    try:
        made = make()
        if not isinstance(made, dict):
            made = {None: made}
        best = None
        for name, (call, result) in made.items():
            call()
            ok, err = check(result(), ref)
            c = timed(call, target, repeat)
            c.check, c.err, c.note = ok, err, name
            c.variants = {name: c.t}
            if best is None or c.t < best.t:
                c.variants.update(best.variants if best else {})
                best = c
            else:
                best.variants[name] = c.t
        return best
    except Exception as e:
        return Cell(status=short_reason(e))


# ---------------------------------------------------------------------------
# 1. per-call latency


def bench_latency(quick, results, out):
    target, repeat = (0.005, 5) if quick else (0.02, 15)
    header = ["case", "symdiff fn(x, out=buf)", "symdiff fn(x)", "symdiff bound()"] + \
        [lab for lab, _ in PEERS] + ["fn(x, out=buf) / best peer", "bound / best peer"]
    rows, details = [], []
    for case, x in ((point_case("lecture", "lecture example (2 -> 2)",
                                models.lecture_example(), m_lecture), np.array([2.0, 3.0])),
                    (case_mlp_point(), np.random.default_rng(1).normal(0, 0.1, N_MLP))):
        g = sd.grad(case.loss, case.params)
        fn = compiler.compile(g, case.params, name=f"{case.name}_grad")
        buf = np.empty(fn.n_outputs)
        ref = fn(x).copy()
        xb, ob = x.copy(), np.empty(fn.n_outputs)
        bound = fn.bind(xb, ob)
        sdc = {"fn(x, out=buf)": timed(lambda: fn(x, out=buf), target, repeat),
               "fn(x)": timed(lambda: fn(x), target, repeat),
               "bound()": timed(bound, target, repeat)}
        bound()
        assert np.array_equal(ob, ref) and np.array_equal(buf, ref)
        peers = {}
        for label, factory in PEERS:
            peer, cell = build_peer(label, factory, case, quick)
            if peer is not None:
                pout = np.empty_like(ref)
                cell = measure(lambda: peer.single(x.copy(), pout), ref, target, repeat)
                cell.note = getattr(peer, "note", None) or cell.note
                cell.build_s = peer.build_s
                cell.first_call_s = peer.first_call_s
            peers[label] = cell
        second_round([*sdc.values(), *peers.values()], target, repeat)
        results["latency"][case.name] = {
            "symdiff": {k: c.as_json() for k, c in sdc.items()},
            "peers": {k: dict(c.as_json(), build_s=getattr(c, "build_s", None),
                              first_call_s=getattr(c, "first_call_s", None))
                      for k, c in peers.items()}}
        results["_peer_cells"][case.name] = peers
        pc = list(peers.values())
        rows.append([case.label, sdc["fn(x, out=buf)"], sdc["fn(x)"], sdc["bound()"],
                     *pc, ratio(sdc["fn(x, out=buf)"], pc), ratio(sdc["bound()"], pc)])
        # symdiff details
        interp = sd.Interpreter(fn.program)
        xl = x.tolist()
        d = [case.label,
             Cell(median_time(lambda: fn(xl), target=target, repeat=repeat)),
             Cell(median_time(lambda: interp(xl), target=target, repeat=max(3, repeat // 3)))]
        if case.name == "lecture":
            fl = compiler.compile(g, case.params, name="lecture_grad_libm", vector_math=False)
            d.append(Cell(median_time(lambda: fl(x, out=buf), target=target, repeat=repeat)))
        else:
            d.append("-")
        details.append(d)
    print(md_table("1. Per-call latency of a gradient (median per call)", header, rows), file=out)
    print(md_table("1b. symdiff per-call details",
                   ["case", "fn(list) (converted)", "numpy interpreter",
                    "fn(x, out=buf), vector_math=False"], details), file=out)


# ---------------------------------------------------------------------------
# 2. batches


def bench_batch(quick, results, out):
    N = 100_000
    rng = np.random.default_rng(0)
    target, repeat = (0.02, 3) if quick else (0.1, 9)
    Xd, Yd, src = digits_rows(rng)
    theta = {"smax_ps": rng.normal(0, 0.1, N_SMAX), "mlp_ps": rng.normal(0, 0.1, N_MLP)}
    cases = [
        (point_case("lecture", f"lecture example, N = {N:,}", models.lecture_example(),
                    m_lecture),
         np.column_stack([rng.uniform(1.1, 3.0, N), rng.uniform(0.2, 2.0, N)])),
        (point_case("softplus", f"log(1+exp(-(x+y)))*(x+y), N = {N:,}",
                    models.running_example(), m_softplus), rng.uniform(-2, 2, (N, 2))),
        (point_case("rosen10", f"Rosenbrock n=10, N = {N:,}", models.rosenbrock(10), m_rosen),
         rng.uniform(-2, 2, (N, 10))),
        (case_sample("softmax"), None),
        (case_sample("mlp"), None),
    ]
    header = ["case", "symdiff threads=1", "symdiff default threads"] + \
        [lab for lab, _ in PEERS] + ["default / best peer", "threads=1 / best peer"]
    rows, details = [], []
    for case, X in cases:
        g = sd.grad(case.loss, case.params)
        fn = compiler.compile(g, case.inputs, name=f"{case.name}_batch_grad")
        if case.kind == "sample":
            P = theta[case.name]
            rows_in = np.empty((len(Xd), fn.n_inputs))

            def assemble(P=P, rows_in=rows_in):
                rows_in[:, :P.size] = P
                rows_in[:, P.size:P.size + 64] = Xd
                rows_in[:, P.size + 64:] = Yd
            assemble()
            Xin = rows_in
        else:
            Xin = X
        res = np.empty((Xin.shape[0], fn.n_outputs))
        ref = fn.batch(Xin).copy()
        sdc = {"threads=1": timed(lambda: fn.batch(Xin, out=res, threads=1), target, repeat),
               "default": timed(lambda: fn.batch(Xin, out=res), target, repeat)}
        # The default count follows the work (rows x program size): say which.
        chosen = fn.batch_threads(Xin.shape[0])
        sdc["default"].note = f"{chosen} thread{'s' if chosen > 1 else ''}"
        assert np.array_equal(res, ref)
        peers = {}
        for label, factory in PEERS:
            peer, cell = build_peer(label, factory, case, quick)
            if peer is not None:
                if case.kind == "sample":
                    cell = measure(lambda: peer.batch_sample(P, Xd, Yd), ref, target, repeat)
                else:
                    cell = measure(lambda: peer.batch(X), ref, target, repeat)
                cell.note = getattr(peer, "note", None) or cell.note
                cell.build_s = peer.build_s
            peers[label] = cell
        second_round([*sdc.values(), *peers.values()], target, repeat)
        pc = list(peers.values())
        name = case.label + (f" ({src})" if case.kind == "sample" else "")
        rows.append([name, sdc["threads=1"], sdc["default"], *pc,
                     ratio(sdc["default"], pc), ratio(sdc["threads=1"], pc)])
        opt_ir = fn.batch_llvm_ir_opt  # the module holding the batch loop
        vec = "yes" if ("<4 x double>" in opt_ir or "<8 x double>" in opt_ir) else "no"
        d = [case.label, fn.program.n_ops, vec]
        if case.kind == "sample":
            d += [Cell(median_time(assemble, target=target, repeat=repeat)), "-", "-"]
        else:
            fl = compiler.compile(g, case.inputs, name=f"{case.name}_batch_libm",
                                  vector_math=False)
            XF = np.asfortranarray(X)
            d += ["-", Cell(median_time(lambda: fl.batch(X, out=res, threads=1),
                                        target=target, repeat=repeat)),
                  Cell(median_time(lambda: fn.batch(XF, out=res, threads=1),
                                   target=target, repeat=repeat))]
        details.append(d)
        results["batch"][case.name] = {
            "rows": int(Xin.shape[0]),
            "symdiff": {k: c.as_json() for k, c in sdc.items()},
            "peers": {k: dict(c.as_json(), build_s=getattr(c, "build_s", None))
                      for k, c in peers.items()},
            "details": {"n_ops": fn.program.n_ops, "vectorized": vec,
                        "assemble_s": d[3].t if isinstance(d[3], Cell) else None,
                        "libm_threads1_s": d[4].t if isinstance(d[4], Cell) else None,
                        "fortran_threads1_s": d[5].t if isinstance(d[5], Cell) else None}}
    print(md_table("2. Batch gradients (median per batch)", header, rows), file=out)
    print(f"\nCasADi SX maps run with \"thread\" and {CORES} threads; JAX/XLA and PyTorch use "
          "their default thread pools; sympy's numpy result is a list of broadcast columns "
          "(not stacked); per-sample rows: the peers get the parameters once, symdiff reads "
          "them from every row of its (1,797 x n_inputs) input.", file=out)
    print(md_table("2b. symdiff batch details",
                   ["case", "ops", "row loop vectorized", "fill parameter rows (numpy)",
                    "threads=1, vector_math=False", "threads=1, Fortran-order X"],
                   details), file=out)


# ---------------------------------------------------------------------------
# 3. compile time


def bench_compile_sizes(quick, results, out):
    sizes = [1_000, 3_000, 10_000] if quick else [1_000, 3_000, 10_000, 30_000, 100_000]
    rows = []
    for target in sizes:
        f, xs = models.rosenbrock(max(3, target // 9))
        program = sd.schedule(sd.grad(f, xs), xs)
        t = time.perf_counter()
        fn = compiler.compile(program, cache=False, name="rosen")
        total = time.perf_counter() - t
        ci = fn.compile_info
        pl = ci["plan"]
        x = np.random.default_rng(1).uniform(-2, 2, len(xs))
        res = np.empty(fn.n_outputs)
        call = median_time(lambda: fn(x, out=res), target=0.01, repeat=5)
        lv = f"{pl.opt_level if pl.opt_level is not None else '-'}/{pl.codegen_level}"
        rows.append([f"{program.n_ops:,}", f"{len(program.instrs):,}",
                     len(pl.chunks) if pl.chunks else 0, lv, fmt(ci.get("emit_s", 0)),
                     fmt(ci.get("parse_s", 0)), fmt(ci.get("optimize_s", 0)),
                     fmt(ci.get("codegen_s", 0)), fmt(ci["load_s"]), fmt(total),
                     f"{total / program.n_ops * 1e6:.1f}", fmt(call)])
        results["compile_sizes"].append({
            "ops": program.n_ops, "instrs": len(program.instrs), "total_s": total,
            "call_s": call, **{k: v for k, v in ci.items() if k.endswith("_s")}})
    print(md_table("3. Compile time vs program size (Rosenbrock gradients, cold: cache=False)",
                   ["ops", "instrs", "chunks", "opt/codegen level", "emit", "parse",
                    "optimize", "codegen", "load", "total", "us/op", "1 call"], rows),
          file=out)


def bench_compile_models(results, out):
    """symdiff cold compile of the lecture and MLP gradients against the
    peers' build times measured in section 1 (JAX: first call minus a
    steady call, i.e. trace + grad + XLA compile)."""
    header = ["case", "symdiff model", "symdiff grad+schedule", "symdiff compile (cold)",
              "symdiff total"] + [lab for lab, _ in PEERS] + \
        ["total / best peer", "total / best compiling peer"]
    compiling = {"CasADi gcc -O3", "JAX jit", "symengine llvm"}
    rows = []
    for name, build in (("lecture", models.lecture_example), ("mlp", models.mlp_loss)):
        t0 = time.perf_counter()
        f, params = build()
        t1 = time.perf_counter()
        prog = sd.schedule(sd.grad(f, params), params)
        t2 = time.perf_counter()
        compiler.compile(prog, cache=False, name=f"{name}_cold")
        t3 = time.perf_counter()
        sdc = [Cell(t1 - t0), Cell(t2 - t1), Cell(t3 - t2), Cell(t3 - t0)]
        peers = []
        res = {}
        for label, _ in PEERS:
            lat = results["_peer_cells"].get(name, {}).get(label)
            if lat is None or lat.t is None:
                c = Cell(status=lat.status if lat is not None else "-")
            elif label == "PyTorch":
                c = Cell(status="n/a (eager)")
            elif label == "JAX jit":
                c = Cell(lat.build_s + lat.first_call_s - lat.t)
            else:
                c = Cell(lat.build_s, note=lat.note)
            peers.append(c)
            res[label] = c.as_json()
        results["compile_models"][name] = {
            "symdiff": {"model_s": t1 - t0, "grad_schedule_s": t2 - t1, "compile_s": t3 - t2,
                        "total_s": t3 - t0, "n_ops": prog.n_ops},
            "peers": res}
        label = "lecture gradient" if name == "lecture" else "MLP gradient (2,410 params)"
        comp = [c for (lab, _), c in zip(PEERS, peers) if lab in compiling]
        rows.append([f"{label}, {prog.n_ops:,} ops", *sdc, *peers, ratio(sdc[3], peers),
                     ratio(sdc[3], comp)])
    print(md_table("3b. Compile (cold) vs peers' build time (differentiation included)",
                   header, rows), file=out)
    print("\nPeers: CasADi = SX Function construction incl. casadi.gradient (+ gcc for the "
          "gcc column); JAX = first call minus steady call (trace + grad + XLA compile); "
          "sympy = sympy.diff + lambdify(cse); symengine = diff + Lambdify(llvm, cse). "
          "Compiling peers: CasADi gcc, JAX, symengine (CasADi SX and sympy/numpy "
          "interpret).",
          file=out)


def bench_cold_small(quick, results, out):
    """Cold compile of the lecture gradient alone (no differentiation):
    symdiff ``compile(cache=False)`` of the scheduled gradient against
    symengine ``Lambdify(backend='llvm', cse=True)`` of symengine's
    derivatives of the same function, alternating in one loop (this
    machine's speed drifts) so both see the same conditions; medians.  Then
    the first compile in a fresh process (:func:`_first_compiles`)."""
    rounds = 9 if quick else 31
    case = point_case("lecture", "lecture", models.lecture_example(), m_lecture)
    prog = sd.schedule(sd.grad(case.loss, case.params), case.params)
    x = np.array([2.0, 3.0])
    ref = compiler.compile(prog, cache=False, name="cold_ref")(x)
    builders = {"symdiff compile()": lambda: compiler.compile(prog, cache=False, name="cold")}
    try:
        import symengine as se

        syms = [se.Symbol(s.name) for s in case.inputs]
        ns = _arith({k: getattr(se, k) for k in ("exp", "log", "sin", "tanh")})
        f = from_program(case, ns, lambda k: syms[k],
                         lambda v: se.Integer(v) if isinstance(v, int) else se.RealDouble(v))
        grad = [f.diff(s) for s in syms]
        builders["symengine Lambdify(llvm)"] = lambda: se.Lambdify(syms, grad, backend="llvm",
                                                                   cse=True)
    except ImportError:
        se = None
    times = {k: [] for k in builders}
    made = {}
    for k, b in builders.items():
        made[k] = b()  # warm: imports, LLVM initialization, runtime objects
    for _ in range(rounds):
        for k, b in builders.items():
            t = time.perf_counter()
            made[k] = b()
            times[k].append(time.perf_counter() - t)
    checks = {k: check(m(x), ref)[0] for k, m in made.items()}
    first = _first_compiles(se is not None)
    rows = []
    for k in builders:
        rows.append([k, Cell(statistics.median(times[k]), check=checks[k]),
                     Cell(min(times[k])), *(Cell(t) for t in first[k])])
    if se is None:
        rows.append(["symengine Lambdify(llvm)", "not installed", "-", "-", "-"])
    med = {k: statistics.median(v) for k, v in times.items()}
    results["cold_small"] = {"rounds": rounds, "median_s": med, "min_s":
                             {k: min(v) for k, v in times.items()}, "first_s": first,
                             "symdiff_info": made["symdiff compile()"].compile_info}
    ratio_txt = ""
    if len(med) == 2:
        a, b = med.values()
        ratio_txt = f"; symdiff / symengine (medians): {a / b:.2f}x"
    print(md_table(f"3d. Cold compile of the lecture gradient, {prog.n_ops} ops "
                   f"(compile only, alternating rounds: {rounds}){ratio_txt}",
                   ["", "median", "best", "first in a fresh process (empty disk cache)",
                    "first in a fresh process (runtime objects cached)"], rows), file=out)
    print("\nsymdiff builds its runtime objects (vecmath's functions, the fast entries' "
          "checks: compiler.runtime) once per process, or loads them from the disk cache; "
          "symengine has no cache (both columns are its first Lambdify).", file=out)
    ci = made["symdiff compile()"].compile_info
    parts = ", ".join(f"{k[:-2]} {fmt(v)}" for k, v in ci.items()
                      if k.endswith("_s") and k != "total_s")
    print(f"\nsymdiff's last cold compile: {parts}; the batch module is compiled on the "
          f"first batch() ({_batch_compile_time(prog)} for this gradient).", file=out)


_FIRST = """
import sys, time
sys.path.insert(0, %r)
if sys.argv[1] == "symdiff":
    import symdiff as sd, compiler
    from symdiff.lab import models
    f, params = models.lecture_example()
    prog = sd.schedule(sd.grad(f, params), params)
    t = time.perf_counter()
    compiler.compile(prog, name=sys.argv[2])
else:
    import symengine as se
    x, z = se.symbols("x z")
    f = se.exp(x * z) + x * z / se.log(x) + se.sin(se.log(x)) / (x * z)
    grad = [f.diff(x), f.diff(z)]
    t = time.perf_counter()
    se.Lambdify([x, z], grad, backend="llvm", cse=True)
print(time.perf_counter() - t)
"""


def _first_compiles(with_symengine: bool) -> dict:
    """Seconds of the first compile in a fresh process (medians of 3):
    symdiff with an empty disk cache ("empty") and with a cache holding
    only its runtime objects, left by another kernel's process ("warm");
    symengine (no cache) once."""
    code = textwrap.dedent(_FIRST % str(ROOT))

    def child(*args, cache_dir=None):
        env = dict(os.environ, SYMDIFF_CACHE_DIR=cache_dir or "")
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                           text=True, env=env, check=True)
        return float(r.stdout)

    empty, warm, se_ts = [], [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as d:
            empty.append(child("symdiff", "first", cache_dir=d))
            # Same runtime objects, another kernel (its name differs).
            warm.append(child("symdiff", "second", cache_dir=d))
        if with_symengine:
            se_ts.append(child("symengine", "-"))
    res = {"symdiff compile()": (statistics.median(empty), statistics.median(warm))}
    if with_symengine:
        t = statistics.median(se_ts)
        res["symengine Lambdify(llvm)"] = (t, t)
    return res


def _batch_compile_time(prog) -> str:
    fn = compiler.compile(prog, cache=False, name="cold_batch")
    fn.batch(np.ones((4, fn.n_inputs)))
    b = fn.compile_info["batch"]
    return fmt(b["total_s"]) if b else "in the same module"


_CHILD = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, %r)
import symdiff as sd, compiler
from symdiff.lab import models
t1 = time.perf_counter()
f, params = models.lecture_example() if sys.argv[1] == "lecture" else models.mlp_loss()
g = sd.grad(f, params)
t2 = time.perf_counter()
fn = compiler.compile(g, params, name=sys.argv[1] + "_grad")
t3 = time.perf_counter()
fn([0.5] * fn.n_inputs)
print(json.dumps({"import": t1 - t0, "graph": t2 - t1, "compile": t3 - t2,
                  "cache": fn.compile_info["cache"], "load": fn.compile_info["load_s"]}))
"""


def bench_cached_recompile(quick, results, out):
    code = textwrap.dedent(_CHILD % str(ROOT))
    rows = []
    for name, label in (("lecture", "lecture gradient"), ("mlp", "MLP gradient")):
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, SYMDIFF_CACHE_DIR=d)
            runs = []
            for _ in range(3 if quick else 6):
                r = subprocess.run([sys.executable, "-c", code, name], capture_output=True,
                                   text=True, env=env, check=True)
                runs.append(json.loads(r.stdout))
        cold, warm = runs[0], runs[1:]
        med = {k: statistics.median(r[k] for r in warm) for k in ("compile", "load", "import",
                                                                   "graph")}
        rows.append([label, f"{fmt(cold['compile'])} [{cold['cache']}]",
                     f"{fmt(med['compile'])} [{warm[0]['cache']}]", fmt(med["load"]),
                     fmt(med["graph"]), fmt(med["import"])])
        results["cached_recompile"][name] = {"cold": cold, "warm": warm}
    print(md_table("3c. compile() in a fresh process (disk cache empty, then hit; median of "
                   "the hits)",
                   ["case", "cold compile", "cached compile", "engine + load",
                    "model + grad (not cached)", "import symdiff+compiler"], rows), file=out)


# ---------------------------------------------------------------------------


def versions() -> str:
    import importlib

    parts = []
    for mod in ("llvmlite", "numpy", "casadi", "jax", "torch", "sympy", "symengine"):
        try:
            parts.append(f"{mod} {importlib.import_module(mod).__version__}")
        except ImportError:
            parts.append(f"{mod} not installed")
        except Exception as e:
            parts.append(f"{mod} {short_reason(e)}")
    return ", ".join(parts)


SECTIONS = {"latency": bench_latency, "batch": bench_batch, "sizes": bench_compile_sizes,
            "models": lambda quick, results, out: bench_compile_models(results, out),
            "cached": bench_cached_recompile, "cold": bench_cold_small}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke check: fewer repeats and sizes, slow peer builds skipped")
    ap.add_argument("--json", metavar="FILE", help="also write the raw numbers to FILE")
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help="comma-separated subset of " + ", ".join(SECTIONS) + " (default: all; "
                    "'models' takes the peers' build times from 'latency')")
    args = ap.parse_args(argv)
    chosen = [x.strip() for x in args.sections.split(",") if x.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown sections {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    out = sys.stdout
    results = {"latency": {}, "batch": {}, "compile_sizes": [], "compile_models": {},
               "cold_small": {}, "cached_recompile": {}, "_peer_cells": {}}
    with tempfile.TemporaryDirectory() as d:
        os.environ["SYMDIFF_CACHE_DIR"] = d
        t0 = time.perf_counter()
        head = (f"symdiff compiled-kernel benchmarks ({'quick' if args.quick else 'full'}); "
                f"{CORES} cores; load average "
                f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; {versions()}")
        print(head, file=out)
        results["header"] = head
        print("\nEach cell: median time per call; every contender of a row is timed twice "
              "(two rounds over the row) and the better median is shown.  ✓ = same gradient "
              "as symdiff (allclose rtol 1e-9), ✗ = different.", file=out)
        for name in SECTIONS:
            if name in chosen:
                SECTIONS[name](args.quick, results, out)
        print(f"\nwall time {time.perf_counter() - t0:.0f} s; load average at the end "
              f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}", file=out)
    if args.json:
        del results["_peer_cells"]
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
    main()
