"""``symdiff demo``: the lectures' worked example, end to end.

y = e^{xz} + xz/ln x + sin(ln x)/(xz) at x = 2, z = 3: the symbolic
gradient as a CSE'd program, its values against the lectures' closed forms,
the gradient compiled through LLVM, and the four ways of differentiating
(symbolic, forward and reverse mode, finite differences) compared against a
40-digit reference.  Then matrix calculus: the softmax-regression gradient
derived as X^T (softmax(X Theta) - I_y) / m and compiled.
"""

from __future__ import annotations

import math
import time

from symdiff.lab.names import LECTURE_EXAMPLE

__all__ = ["register", "cmd_demo", "run"]


def register(sub) -> None:
    """Add the ``demo`` subcommand to the CLI's subparsers ``sub``."""
    p = sub.add_parser("demo", help="the lectures' worked example, end to end")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    """``symdiff demo``: differentiate, compile and compare on the lectures'
    example."""
    return run()


def _section(title: str) -> None:
    print()
    print(title)
    print("-" * len(title))


def run() -> int:
    """Print the demo; returns the exit status."""
    import numpy as np

    from symdiff import count_ops, grad, parse, symbol
    from symdiff.cli.compare import print_method_comparison
    from symdiff.text.program import to_program

    print("symdiff demo: the lectures' worked example")
    print(f"  y = {LECTURE_EXAMPLE}    at x = 2, z = 3")

    f = parse(LECTURE_EXAMPLE)
    x, z = symbol("x"), symbol("z")
    g = grad(f, [x, z])
    _section("1. Gradient by reverse accumulation over the DAG (CSE'd program)")
    print(to_program([f, *g], names=["y", "dy/dx", "dy/dz"]))
    print(f"operations: y alone {count_ops([f])}, y with its gradient {count_ops([f, *g])}")

    _section("2. Values against the lectures' closed forms")
    from symdiff.numeric.interpreter import evaluate

    vx, vz = evaluate(g, {"x": 2.0, "z": 3.0})
    ln2 = math.log(2.0)
    cx = 3 * math.exp(6) + 3 / ln2 - 3 / ln2 ** 2 + math.cos(ln2) / 12 - math.sin(ln2) / 12
    cz = 2 * math.exp(6) + 2 / ln2 - math.sin(ln2) / 18
    print(f"dy/dx = {vx!r:<22}  3e^6 + 3/ln2 - 3/ln(2)^2 + cos(ln2)/12 - sin(ln2)/12 = {cx!r}")
    print(f"dy/dz = {vz!r:<22}  2e^6 + 2/ln2 - sin(ln2)/18 = {cz!r}")

    _section("3. Compiled through LLVM")
    import compiler

    t0 = time.perf_counter()
    fn = compiler.compile([f, *g], [x, z])
    t_compile = time.perf_counter() - t0
    xin = np.array([2.0, 3.0])
    out = np.empty(3)
    call = fn.bind(xin, out)
    call()
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    per_call = (time.perf_counter() - t0) / n
    X = np.random.default_rng(0).uniform(1.5, 3.0, (100_000, 2))
    fn.batch(X)
    t0 = time.perf_counter()
    fn.batch(X)
    t_batch = time.perf_counter() - t0
    print(f"compile {t_compile * 1e3:.1f} ms (cached after the first run); "
          f"y, dy/dx, dy/dz = {out.tolist()}")
    print(f"{per_call * 1e6:.2f} us per call (bound buffers); "
          f"100,000 points in {t_batch * 1e3:.2f} ms with fn.batch")

    _section("4. Four ways to differentiate, against a 40-digit reference")
    print_method_comparison(f, [x, z], [x, z], {"x": 2.0, "z": 3.0})
    _tensor_section()
    print()
    print("Try: symdiff diff 'x^2*sin(x)'   symdiff compile '...' --emit llvm   "
          "symdiff compare --scaling prod --sizes 10,100,1000")
    return 0


def _tensor_section() -> None:
    """Softmax regression in matrix form: the gradient as the lectures write
    it, checked against their closed form and compiled to one kernel."""
    import numpy as np

    import compiler
    import symdiff as sd
    from symdiff.text.program import to_program

    _section("5. Matrix calculus: softmax regression, as the lectures write it")
    X = sd.tensor("X", ("m", 64))
    Theta = sd.tensor("Theta", (64, 10))
    y = sd.tensor("y", ("m",), dtype=int)
    Z = X @ Theta
    loss = sd.mean(sd.logsumexp(Z, axis=1) - sd.sum(sd.onehot(y, 10) * Z, axis=1))
    g = sd.grad(loss, Theta)
    print(to_program([loss, g], names=["loss", "dloss/dTheta"]))
    rng = np.random.default_rng(0)
    Xv = rng.normal(size=(1000, 64))
    Tv = rng.normal(size=(64, 10)) * 0.1
    yv = rng.integers(0, 10, size=1000)
    t0 = time.perf_counter()
    fn = compiler.compile([loss, g], [X, Theta, y])
    t_compile = time.perf_counter() - t0
    value, grad_v = fn(Xv, Tv, yv)
    Zv = Xv @ Tv
    P = np.exp(Zv - Zv.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    closed = Xv.T @ (P - np.eye(10)[yv]) / len(Xv)
    err = float(np.max(np.abs(grad_v - closed)) / np.max(np.abs(closed)))
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        fn(Xv, Tv, yv)
    per_call = (time.perf_counter() - t0) / n
    where = {"miss": "compiled", "off": "compiled"}.get(fn.compile_info["cache"],
                                                      "loaded from the compile cache")
    print(f"{where} in {t_compile * 1e3:.0f} ms (one kernel for every m); m = 1000: "
          f"loss {float(value):.6f}, gradient {per_call * 1e3:.3f} ms a call, "
          f"{err:.1e} from the lectures' X^T (softmax(X Theta) - I_y) / m")
