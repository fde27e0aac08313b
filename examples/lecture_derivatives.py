"""The lectures' worked examples, computed with symdiff.

1. y = e^{xz} + xz/ln x + sin(ln x)/(xz) at x = 2, z = 3, differentiated the
   three ways of the lecture: finite differences, symbolically, and in
   reverse mode (the tape a = xz, b = ln x, c = sin b, d = e^a, e = a/b,
   f = c/a, y = d + e + f with its adjoints g_a ... g_f), next to the
   lecture's closed forms and a table of every method from
   :func:`symdiff.lab.methods.compare_methods` (error against a 40-digit
   reference, time, cost).
2. The running example f(x, y) = log(1 + e^{-(x+y)})(x + y): its
   computation graph (DOT from :func:`symdiff.to_dot`, plus PNG and SVG when
   Graphviz's ``dot`` is installed) and the reverse-mode tape of
   :class:`symdiff.Scalar` (the lectures' ``ag.Scalar``) with z1 ... z8.
3. The n(n-1) example: the gradient of x1 x2 ... xn.  Differentiating each
   variable separately (SymPy, no common subexpressions) builds about
   n(n-1) multiplications; symdiff's gradient shares one graph and grows
   linearly (:func:`symdiff.lab.scaling.scaling`).

Run: ``python examples/lecture_derivatives.py [--outdir DIR] [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ensure_symdiff, report_wall_time, table  # noqa: E402

ensure_symdiff()

import symdiff as sd  # noqa: E402
from symdiff.lab import methods, models, scaling  # noqa: E402
from symdiff.numeric.finite_diff import central_difference, forward_difference, graph_function  # noqa: E402

X0, Z0 = 2.0, 3.0
LN2 = math.log(2.0)


def lecture_closed_form() -> tuple[float, float]:
    """The lecture's hand-derived dy/dx and dy/dz at x = 2, z = 3."""
    dydx = 3 * math.exp(6) + 3 / LN2 - 3 / LN2 ** 2 + math.cos(LN2) / 12 - math.sin(LN2) / 12
    dydz = 2 * math.exp(6) + 2 / LN2 - math.sin(LN2) / 18
    return dydx, dydz


def lecture_tape(x0: float = X0, z0: float = Z0) -> dict:
    """Reverse mode on the lecture's intermediate quantities, written out
    with :class:`symdiff.Scalar` exactly as on the slide.  Returns every
    Scalar by name (after ``y.backward()``, each carries its adjoint g)."""
    x = sd.Scalar(x0, label="x")
    z = sd.Scalar(z0, label="z")
    a = x * z
    b = x.log()
    c = b.sin()
    d = a.exp()
    e = a / b
    f = c / a
    y = d + e + f
    for name, s in zip("abcdefy", (a, b, c, d, e, f, y)):
        s.label = name
    y.backward()
    return {"x": x, "z": z, "a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "y": y}


def running_tape(x0: float, y0: float) -> list:
    """The running example on the tape, numbered as in the lecture:
    z1 = x, z2 = y, z3 = z1 + z2, z4 = -z3, z5 = exp(z4), z6 = 1 + z5,
    z7 = log(z6), z8 = z7 * z3 = f.  Returns [z1, ..., z8] after backward."""
    z1 = sd.Scalar(x0, label="z1 = x")
    z2 = sd.Scalar(y0, label="z2 = y")
    z3 = z1 + z2
    z4 = -z3
    z5 = z4.exp()
    z6 = 1 + z5
    z7 = z6.log()
    z8 = z7 * z3
    zs = [z1, z2, z3, z4, z5, z6, z7, z8]
    for k, s in enumerate(zs[2:], start=3):
        s.label = f"z{k}"
    z8.backward()
    return zs


def running_closed_form(x0: float, y0: float) -> float:
    """df/dx = df/dy = log(1 + e^{-s}) - s e^{-s}/(1 + e^{-s}), s = x + y."""
    s = x0 + y0
    return math.log1p(math.exp(-s)) - s * math.exp(-s) / (1 + math.exp(-s))


def fmt_seconds(s: float) -> str:
    """A duration with a readable unit: 0.27 us, 72.1 us, 2.49 ms, 19.7 s."""
    if s < 1e-3:
        return f"{s * 1e6:.3g} us"
    if s < 1.0:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def render(dot_text: str, stem: str) -> list[str]:
    """Write ``stem.dot`` and, when Graphviz's ``dot`` is on PATH, also
    ``stem.png`` and ``stem.svg``.  Returns the paths written."""
    paths = [stem + ".dot"]
    with open(paths[0], "w") as fh:
        fh.write(dot_text)
    exe = shutil.which("dot")
    if exe is None:
        return paths
    for fmt in ("png", "svg"):
        out = f"{stem}.{fmt}"
        proc = subprocess.run([exe, f"-T{fmt}", "-o", out], input=dot_text.encode(),
                              capture_output=True, check=False)
        if proc.returncode == 0:
            paths.append(out)
        else:
            print(f"  (Graphviz failed on {out}: {proc.stderr.decode(errors='replace')[:200]})")
    return paths


def three_ways() -> dict:
    """Part 1: the lecture example by finite differences, symbolically
    and in reverse mode; prints each and returns the gradients."""
    f, (x, z) = models.lecture_example()
    print("== 1. y = e^{xz} + xz/ln x + sin(ln x)/(xz) at x = 2, z = 3 ==")
    print(f"y = {sd.evaluate(f, {'x': X0, 'z': Z0})!r}")
    closed = lecture_closed_form()
    print("\nThe lecture's closed forms:")
    print(f"  dy/dx = 3e^6 + 3/ln2 - 3/ln(2)^2 + cos(ln2)/12 - sin(ln2)/12 = {closed[0]!r}")
    print(f"  dy/dz = 2e^6 + 2/ln2 - sin(ln2)/18                          = {closed[1]!r}")

    # Approach 1: finite differences (two or four evaluations of f).
    fn = graph_function(f, [x, z])
    fwd = [float(v) for v in forward_difference(fn, [X0, Z0]).gradient]
    cen = [float(v) for v in central_difference(fn, [X0, Z0]).gradient]
    print("\nApproach 1, finite differences (f evaluated by the interpreter):")
    print(f"  forward  (f(x+h)-f(x))/h:      dy/dx = {fwd[0]!r}, dy/dz = {fwd[1]!r}")
    print(f"  central  (f(x+h)-f(x-h))/(2h): dy/dx = {cen[0]!r}, dy/dz = {cen[1]!r}")

    # Approach 2: symbolic.  The derivative is an expression in the same
    # graph as y; printed as a program, the shared pieces appear once.
    g = sd.grad(f, [x, z])
    sym = [float(v) for v in sd.evaluate(g, {"x": X0, "z": Z0})]
    print("\nApproach 2, symbolic (symdiff.grad), as a program sharing subexpressions:")
    for line in sd.to_program([f, *g], names=["y", "dy_dx", "dy_dz"]).splitlines():
        print("  " + line)
    print(f"  at (2, 3): dy/dx = {sym[0]!r}, dy/dz = {sym[1]!r}")

    # Approach 3: reverse mode on the slide's intermediate quantities.
    t = lecture_tape()
    print("\nApproach 3, reverse mode (symdiff.Scalar tape, the slide's quantities):")
    rows = [[n, "", f"{t[n].value:.10g}", f"{t[n].grad:.10g}"] for n in "xz"]
    defs = {"a": "x*z", "b": "ln(x)", "c": "sin(b)", "d": "e^a", "e": "a/b", "f": "c/a",
            "y": "d + e + f"}
    rows += [[n, defs[n], f"{t[n].value:.10g}", f"{t[n].grad:.10g}"] for n in "abcdefy"]
    print("  " + table(["name", "=", "value", "g = dy/d(name)"], rows).replace("\n", "\n  "))
    rev = [t["x"].grad, t["z"].grad]
    print(f"  dy/dx = g_x = {rev[0]!r}, dy/dz = g_z = {rev[1]!r}")

    print("\nEvery method against the 40-digit mpmath reference (symdiff.lab.methods):")
    results = methods.compare_methods(f, {"x": X0, "z": Z0}, repeat=3)
    body = []
    for r in results:
        if not r.ok:
            body.append([r.name, "-", "-", "-", "-", r.error])
            continue
        cost = f"{r.ops} ops" if r.ops is not None else f"{r.evaluations} evals of f"
        body.append([r.name, f"{r.gradient[0]:.12f}", f"{r.gradient[1]:.12f}",
                     f"{r.max_rel_error:.1e}", fmt_seconds(r.seconds), cost])
    print(table(["method", "dy/dx", "dy/dz", "rel. error", "time", "cost"], body))
    return {"closed_form": closed, "forward_difference": fwd, "central_difference": cen,
            "symbolic": sym, "reverse": rev, "methods": results}


def running_example(outdir: str, x0: float = 1.0, y0: float = 2.0) -> dict:
    """Part 2: the running example's graph (function in black, gradient in
    red) and its reverse-mode tape, written to ``outdir``."""
    f, (x, y) = models.running_example()
    print(f"\n== 2. Running example f(x, y) = {sd.to_string(f)} at x = {x0:g}, y = {y0:g} ==")
    g = sd.grad(f, [x, y])
    value = float(sd.evaluate(f, {"x": x0, "y": y0}))
    sym = [float(v) for v in sd.evaluate(g, {"x": x0, "y": y0})]
    closed = running_closed_form(x0, y0)
    print(f"f = {value!r}")
    print(f"symbolic: df/dx = {sym[0]!r}, df/dy = {sym[1]!r}")
    print(f"closed form log(1+e^-s) - s e^-s/(1+e^-s), s = x+y: {closed!r}")
    print(sd.to_program([f, *g], names=["f", "df_dx", "df_dy"]))

    zs = running_tape(x0, y0)
    print("\nThe tape (symdiff.Scalar, the lectures' ag.Scalar), z8 = f:")
    rows = [[s.label, s.op or "leaf", ",".join(i.label or f"{i.value:g}" for i in s.inputs),
             f"{s.value:.10g}", f"{s.grad:.10g}"] for s in zs]
    print(table(["Scalar", "op", "inputs", "value", "grad = df/dz"], rows))
    print(f"df/dx = z1.grad = {zs[0].grad!r}, df/dy = z2.grad = {zs[1].grad!r}")

    os.makedirs(outdir, exist_ok=True)
    files = render(sd.to_dot([f], names=["f"], derivative_outputs=g,
                             derivative_names=["df_dx", "df_dy"]),
                   os.path.join(outdir, "running_example_graph"))
    files += render(zs[-1].to_dot(), os.path.join(outdir, "running_example_tape"))
    if shutil.which("dot") is None:
        print("Graphviz 'dot' not found: wrote DOT only (render with 'dot -Tpng FILE.dot')")
    print("computation graph (gradient nodes in red) and tape written to:")
    for p in files:
        print(f"  {p}")
    return {"value": value, "symbolic": sym, "closed_form": closed,
            "reverse": [zs[0].grad, zs[1].grad], "files": files}


def product_example(sizes, timeout: float) -> list:
    """Part 3: operations of the gradient of x1 x2 ... xn, naive SymPy
    (one derivative per variable, no CSE) against symdiff's shared graph
    and the reverse tape.  Each measurement runs in a child process capped
    at ``timeout`` seconds.  Returns the :class:`ScalingRow` s."""
    print("\n== 3. The n(n-1) example: gradient of x1*x2*...*xn ==")
    rows = scaling.scaling("prod", sizes, approaches=["naive_symbolic", "symbolic", "reverse"],
                           timeout=timeout, repeat=1)
    by = {(r.approach, r.n): r for r in rows}

    def ops(a, n):
        r = by[a, n]
        return str(r.ops) if r.status == "ok" else r.status

    def secs(a, n):
        r = by[a, n]
        return fmt_seconds(r.seconds) if r.status == "ok" else r.status

    body = [[n, n - 1, n * (n - 1), ops("naive_symbolic", n), ops("symbolic", n),
             ops("reverse", n), secs("naive_symbolic", n), secs("symbolic", n)]
            for n in sorted(set(r.n for r in rows))]
    print(table(["n", "|f|", "n(n-1)", "naive SymPy ops", "symdiff grad ops",
                 "reverse tape ops", "naive build", "symdiff build"], body))
    print("naive: n derivatives, each a product of the other n-1 variables (n-2 "
          "multiplications), so ~n^2; symdiff: f plus ~2 operations per variable "
          "(prefix and suffix products shared by every partial), so ~3n.")
    return rows


def main(argv=None) -> dict:
    """Run the three parts; returns their results (used by the tests)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--outdir", default="out",
                   help="where the graph drawings go (default: ./out)")
    p.add_argument("--sizes", default="5,10,50,100",
                   help="values of n for the product example (default 5,10,50,100)")
    p.add_argument("--timeout", type=float, default=40.0,
                   help="cap in seconds per product-example measurement (default 40)")
    p.add_argument("--quick", action="store_true", help="product example for n = 5, 10 only")
    args = p.parse_args(argv)
    sizes = [5, 10] if args.quick else [int(s) for s in args.sizes.split(",")]
    with np.printoptions(precision=12):        # for this script's output only
        return {"lecture": three_ways(), "running": running_example(args.outdir),
                "product": product_example(sizes, args.timeout)}


if __name__ == "__main__":
    main()
    report_wall_time()
