"""``symdiff demo``: the lectures' worked example, end to end.

y = e^{xz} + xz/ln x + sin(ln x)/(xz) at x = 2, z = 3: the symbolic
gradient as a CSE'd program, its values against the lectures' closed forms,
the gradient compiled through LLVM, and the four ways of differentiating
(symbolic, forward and reverse mode, finite differences) compared against a
40-digit reference.  Then matrix calculus: the softmax-regression gradient
derived as X^T (softmax(X Theta) - I_y) / m and compiled.

Each part computes its results first (:func:`scalar_results`,
:func:`tensor_results`); the text report and ``--format json`` are two
renderings of the same numbers.
"""

from __future__ import annotations

import math
import time

from symdiff.lab.names import LECTURE_EXAMPLE

__all__ = ["register", "cmd_demo", "run", "scalar_results", "tensor_results"]


def register(sub) -> None:
    """Add the ``demo`` subcommand to the CLI's subparsers ``sub``."""
    p = sub.add_parser("demo", help="the lectures' worked example, end to end")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: the same results as one JSON document")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    """``symdiff demo``: differentiate, compile and compare on the lectures'
    example."""
    return run(output_format=getattr(args, "format", "text"))


def _section(title: str) -> None:
    print()
    print(title)
    print("-" * len(title))


def scalar_results() -> dict:
    """The lectures' example: the gradient program, its values against the
    closed forms, the compiled kernel's timings, and the method comparison
    (the ``reference`` and ``results`` of :mod:`symdiff.lab.methods`)."""
    import numpy as np

    import compiler
    from symdiff import count_ops, grad, parse, symbol
    from symdiff.lab.methods import compare_methods, reference
    from symdiff.numeric.interpreter import evaluate
    from symdiff.text.program import to_program

    f = parse(LECTURE_EXAMPLE)
    x, z = symbol("x"), symbol("z")
    g = grad(f, [x, z])
    res = {"f": f, "wrt": [x, z],
           "program": to_program([f, *g], names=["y", "dy/dx", "dy/dz"]),
           "ops": {"y": count_ops([f]), "y_and_gradient": count_ops([f, *g])}}
    vx, vz = evaluate(g, {"x": 2.0, "z": 3.0})
    ln2 = math.log(2.0)
    res["gradient"] = {"dy/dx": vx, "dy/dz": vz}
    res["closed_form"] = {
        "dy/dx": 3 * math.exp(6) + 3 / ln2 - 3 / ln2 ** 2 + math.cos(ln2) / 12
        - math.sin(ln2) / 12,
        "dy/dz": 2 * math.exp(6) + 2 / ln2 - math.sin(ln2) / 18}

    t0 = time.perf_counter()
    fn = compiler.compile([f, *g], [x, z])
    res["compile_seconds"] = time.perf_counter() - t0
    xin = np.array([2.0, 3.0])
    out = np.empty(3)
    call = fn.bind(xin, out)
    call()
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    res["seconds_per_call"] = (time.perf_counter() - t0) / n
    res["compiled_values"] = out.tolist()
    X = np.random.default_rng(0).uniform(1.5, 3.0, (100_000, 2))
    fn.batch(X)
    t0 = time.perf_counter()
    fn.batch(X)
    res["batch_100000_seconds"] = time.perf_counter() - t0

    point = {"x": 2.0, "z": 3.0}
    res["point"] = point
    res["reference"] = reference(f, point, [x, z])
    res["methods"] = compare_methods(f, point, [x, z], None, repeat=5, ref=res["reference"])
    return res


def tensor_results() -> dict:
    """Softmax regression in matrix form: the gradient program, checked
    against the lectures' closed form and compiled to one kernel."""
    import numpy as np

    import compiler
    import symdiff as sd
    from symdiff.text.program import to_program

    X = sd.tensor("X", ("m", 64))
    Theta = sd.tensor("Theta", (64, 10))
    y = sd.tensor("y", ("m",), dtype=int)
    Z = X @ Theta
    loss = sd.mean(sd.logsumexp(Z, axis=1) - sd.sum(sd.onehot(y, 10) * Z, axis=1))
    g = sd.grad(loss, Theta)
    res = {"program": to_program([loss, g], names=["loss", "dloss/dTheta"])}
    rng = np.random.default_rng(0)
    Xv = rng.normal(size=(1000, 64))
    Tv = rng.normal(size=(64, 10)) * 0.1
    yv = rng.integers(0, 10, size=1000)
    t0 = time.perf_counter()
    fn = compiler.compile([loss, g], [X, Theta, y])
    res["compile_seconds"] = time.perf_counter() - t0
    res["cache"] = fn.compile_info["cache"]
    value, grad_v = fn(Xv, Tv, yv)
    Zv = Xv @ Tv
    P = np.exp(Zv - Zv.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    closed = Xv.T @ (P - np.eye(10)[yv]) / len(Xv)
    res["loss"] = float(value)
    res["closed_form_rel_error"] = float(np.max(np.abs(grad_v - closed)) /
                                         np.max(np.abs(closed)))
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        fn(Xv, Tv, yv)
    res["seconds_per_call"] = (time.perf_counter() - t0) / n
    return res


def run(output_format: str = "text") -> int:
    """Print the demo (text, or with ``output_format="json"`` one JSON
    document of the same results); returns the exit status."""
    scalar = scalar_results()
    tensor = tensor_results()
    if output_format == "json":
        _print_json(scalar, tensor)
    else:
        _print_text(scalar, tensor)
    return 0


def _print_json(scalar: dict, tensor: dict) -> None:
    from symdiff.cli.common import print_json
    from symdiff.cli.compare import method_comparison_doc
    from symdiff.cli.render import json_number

    names = [s.payload for s in scalar["wrt"]]
    print_json({
        "expression": LECTURE_EXAMPLE,
        "point": scalar["point"],
        "program": scalar["program"],
        "ops": scalar["ops"],
        "gradient": {k: json_number(v) for k, v in scalar["gradient"].items()},
        "closed_form": {k: json_number(v) for k, v in scalar["closed_form"].items()},
        "compiled": {"values": [json_number(v) for v in scalar["compiled_values"]],
                     "compile_seconds": scalar["compile_seconds"],
                     "seconds_per_call": scalar["seconds_per_call"],
                     "batch_100000_seconds": scalar["batch_100000_seconds"]},
        "comparison": method_comparison_doc(scalar["wrt"], names, scalar["reference"],
                                            scalar["methods"]),
        "softmax_regression": {
            "program": tensor["program"], "m": 1000, "loss": json_number(tensor["loss"]),
            "closed_form_rel_error": json_number(tensor["closed_form_rel_error"]),
            "compile_seconds": tensor["compile_seconds"], "cache": tensor["cache"],
            "seconds_per_call": tensor["seconds_per_call"]},
    })


def _print_text(scalar: dict, tensor: dict) -> None:
    from symdiff.cli.compare import print_results_table

    print("symdiff demo: the lectures' worked example")
    print(f"  y = {LECTURE_EXAMPLE}    at x = 2, z = 3")
    _section("1. Gradient by reverse accumulation over the DAG (CSE'd program)")
    print(scalar["program"])
    print(f"operations: y alone {scalar['ops']['y']}, "
          f"y with its gradient {scalar['ops']['y_and_gradient']}")

    _section("2. Values against the lectures' closed forms")
    vx, vz = scalar["gradient"]["dy/dx"], scalar["gradient"]["dy/dz"]
    cx, cz = scalar["closed_form"]["dy/dx"], scalar["closed_form"]["dy/dz"]
    print(f"dy/dx = {vx!r:<22}  3e^6 + 3/ln2 - 3/ln(2)^2 + cos(ln2)/12 - sin(ln2)/12 = {cx!r}")
    print(f"dy/dz = {vz!r:<22}  2e^6 + 2/ln2 - sin(ln2)/18 = {cz!r}")

    _section("3. Compiled through LLVM")
    print(f"compile {scalar['compile_seconds'] * 1e3:.1f} ms (cached after the first run); "
          f"y, dy/dx, dy/dz = {scalar['compiled_values']}")
    print(f"{scalar['seconds_per_call'] * 1e6:.2f} us per call (bound buffers); "
          f"100,000 points in {scalar['batch_100000_seconds'] * 1e3:.2f} ms with fn.batch")

    _section("4. Four ways to differentiate, against a 40-digit reference")
    print_results_table(scalar["f"], scalar["wrt"], scalar["point"], scalar["reference"],
                        scalar["methods"])

    _section("5. Matrix calculus: softmax regression, as the lectures write it")
    print(tensor["program"])
    where = {"miss": "compiled", "off": "compiled"}.get(tensor["cache"],
                                                      "loaded from the compile cache")
    print(f"{where} in {tensor['compile_seconds'] * 1e3:.0f} ms (one kernel for every m); "
          f"m = 1000: loss {tensor['loss']:.6f}, gradient "
          f"{tensor['seconds_per_call'] * 1e3:.3f} ms a call, "
          f"{tensor['closed_form_rel_error']:.1e} from the lectures' "
          "X^T (softmax(X Theta) - I_y) / m")
    print()
    print("Try: symdiff diff 'x^2*sin(x)'   symdiff compile '...' --emit llvm   "
          "symdiff compare --scaling prod --sizes 10,100,1000")
