"""The ``symdiff compare`` and ``symdiff graph`` subcommands.

``compare`` has three modes:

* ``symdiff compare EXPR --at x=2,z=3``: one row per differentiation
  method with its gradient, error against the 40-digit reference, time per
  gradient, operations and function evaluations;
* ``symdiff compare --scaling MODEL --sizes 10,100,1000``: cost of a
  gradient against n for each approach (``--plot FILE.png`` draws it);
* ``symdiff compare EXPR --at ... --fd-sweep``: finite-difference error
  against the step size (``--plot FILE.png`` draws the V).

``graph`` writes the computation graph as Graphviz DOT, or as SVG/PNG
through Graphviz's ``dot`` program.  The measurements live in
:mod:`symdiff.lab.compare`, the drawing in :mod:`symdiff.lab.plots`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

from symdiff.cli.main import UsageError, load_expression, parse_point, parse_wrt

__all__ = ["register", "cmd_compare", "cmd_graph"]

_DEFAULT_SIZES = "10,100,1000,10000"
_MAX_GRADIENT_COLUMNS = 4      # more inputs than this: the table truncates

#: One-line descriptions of the scaling models, for table headers.
MODEL_DESCRIPTIONS = {
    "prod": "f = x1*x2*...*xn",
    "rosenbrock": "f = sum 100(x[i+1] - x[i]^2)^2 + (1 - x[i])^2",
    "chain": "f = tanh(tanh(...tanh(x))), n levels, 1 input",
    "mlp": "cross-entropy of an n-8-4 tanh MLP, 9n+44 parameters",
}


def register(sub) -> None:
    """Add the ``compare`` and ``graph`` subcommands to the ``symdiff``
    subparsers ``sub``."""
    from symdiff.lab.compare import METHODS
    from symdiff.lab.models import SCALING_MODELS

    p = sub.add_parser(
        "compare", help="compare differentiation methods (accuracy, time, operations)",
        description="Compare gradient methods on an expression at a point, the cost of "
                    "each approach against n (--scaling), or the finite-difference error "
                    "against the step (--fd-sweep).")
    _expr_args(p)
    p.add_argument("--at", help="the point, e.g. x=2,z=3")
    p.add_argument("--wrt", help="variables to differentiate by (default: all); "
                   "with --fd-sweep one variable")
    p.add_argument("--methods", help=f"comma-separated subset of: {', '.join(METHODS)}")
    p.add_argument("--repeat", type=int, help="timing runs per measurement "
                   "(default 5; 3 with --scaling)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--scaling", metavar="MODEL", choices=list(SCALING_MODELS),
                   help=f"cost against n on a built-in model: {', '.join(SCALING_MODELS)}")
    p.add_argument("--sizes", help=f"values of n for --scaling (default {_DEFAULT_SIZES})")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="--scaling: time cap per approach and n (default 20); "
                        "an approach that hits it is skipped for larger n")
    p.add_argument("--fd-sweep", action="store_true",
                   help="finite-difference error against the step size (1e-16..1e-1)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="with --scaling or --fd-sweep: draw the result (needs matplotlib)")
    p.set_defaults(func=cmd_compare)

    g = sub.add_parser(
        "graph", help="draw the computation graph (DOT, or SVG/PNG with Graphviz)",
        description="Write the computation graph: inputs, intermediate values and "
                    "constants drawn apart; with --grad the gradient's extra nodes in red.")
    _expr_args(g)
    g.add_argument("--grad", action="store_true", help="also draw the gradient")
    g.add_argument("--wrt", help="with --grad: variables to differentiate by (default: all)")
    g.add_argument("-o", "--output", metavar="FILE",
                   help="FILE.dot (written directly), FILE.svg or FILE.png (through "
                        "Graphviz's dot); default: DOT on stdout")
    g.set_defaults(func=cmd_graph)


def _expr_args(p) -> None:
    p.add_argument("expr", nargs="?", help="the expression or program (statements "
                   "separated by ';' or newlines, last line is the output)")
    p.add_argument("-f", "--file", help="read the program from FILE")


# ---------------------------------------------------------------------------
# formatting


def _json_number(v):
    """A float for JSON, or None when not finite (JSON has no inf/NaN)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _fmt_value(v) -> str:
    v = float(v)
    return repr(v) if math.isfinite(v) else str(v)


def _fmt_point(point) -> str:
    from symdiff.text.infix import format_number

    return ", ".join(f"{k}={format_number(float(v))}" for k, v in point.items())


def _fmt_error(e) -> str:
    if e is None:
        return "-"
    e = float(e)
    return f"{e:.1e}" if math.isfinite(e) else str(e)


def _fmt_time(s) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1.0:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def _fmt_int(k) -> str:
    return "-" if k is None else str(k)


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Aligned text table; columns in ``right`` are right-aligned.  A row
    with two cells (name, message) spans the message over the columns."""
    widths = [len(h) for h in header]
    for r in rows:
        if len(r) == len(header):
            widths = [max(w, len(c)) for w, c in zip(widths, r)]

    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(c.rjust(w) if i in right else c.ljust(w))
        return "  ".join(out).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths)]
    for r in rows:
        if len(r) == len(header):
            lines.append(line(r))
        else:
            lines.append(f"{r[0].ljust(widths[0])}  {r[1]}")
    return lines


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _expr_text(f, limit: int = 90) -> str:
    """``f`` as infix text cut to ``limit`` characters, or a size summary
    when printing it would be expensive.

    Infix text repeats every shared subexpression, so a 40-line program of
    repeated squarings would print 2^40 terms: the tree size is computed
    first over the DAG (saturating at a small bound) and only small trees
    are printed.
    """
    from symdiff.core.graph import count_ops, toposort
    from symdiff.text.infix import to_string

    bound = 4 * limit
    size: dict = {}
    for n in toposort([f]):
        size[n] = min(bound, 1 + sum(size[a] for a in n.args))
    if size[f] >= bound:
        return f"<expression with {count_ops(f)} distinct operations>"
    return _short(to_string(f), limit)


# ---------------------------------------------------------------------------
# symdiff compare


# Which options make sense in which mode: "methods" (EXPR --at), "scaling",
# "fd" (--fd-sweep).
_OPTION_MODES = {
    "at": ("--at", {"methods", "fd"}),
    "wrt": ("--wrt", {"methods", "fd"}),
    "methods": ("--methods", {"methods"}),
    "repeat": ("--repeat", {"methods", "scaling"}),
    "sizes": ("--sizes", {"scaling"}),
    "timeout": ("--timeout", {"scaling"}),
    "plot": ("--plot", {"scaling", "fd"}),
}

_MODE_NAMES = {"methods": "the method comparison (EXPR --at ...)", "scaling": "--scaling",
               "fd": "--fd-sweep"}


def cmd_compare(args) -> int:
    """``symdiff compare``: dispatch to the method comparison, the scaling
    run or the finite-difference sweep."""
    if args.scaling and args.fd_sweep:
        raise UsageError("give either --scaling or --fd-sweep, not both")
    mode = "scaling" if args.scaling else "fd" if args.fd_sweep else "methods"
    for attr, (flag, modes) in _OPTION_MODES.items():
        if getattr(args, attr) is not None and mode not in modes:
            raise UsageError(f"{flag} does not apply to {_MODE_NAMES[mode]}")
    if args.repeat is not None and args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    if mode == "scaling":
        return _cmd_scaling(args)
    if mode == "fd":
        return _cmd_fd_sweep(args)
    return _cmd_methods(args)


def _expression_and_point(args):
    """The scalar expression, the wrt symbols, every input and the point."""
    from symdiff.core.graph import free_symbols

    outs, _ = load_expression(args)
    if args.at is None:
        raise UsageError("give the point with --at, e.g. --at x=2,z=3")
    wrt = parse_wrt(args.wrt, outs)
    if not wrt:
        raise UsageError("the expression has no variables to differentiate by")
    inputs = free_symbols(outs)
    inputs = inputs + [s for s in wrt if s not in inputs]
    point = parse_point(args.at, inputs)
    return outs[0], wrt, inputs, point


def _cmd_methods(args) -> int:
    from symdiff.lab.compare import METHODS, compare_methods, reference

    f, wrt, inputs, point = _expression_and_point(args)
    methods = None
    if args.methods is not None:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            what = f"unknown method {', '.join(unknown)}" if unknown else "no method given"
            raise UsageError(f"--methods: {what}; choose from {', '.join(METHODS)}")
        methods = list(dict.fromkeys(methods))
    repeat = 5 if args.repeat is None else args.repeat
    ref = reference(f, point, wrt)
    results = compare_methods(f, point, wrt, methods, repeat=repeat, ref=ref)
    names = [s.payload for s in wrt]

    if args.format == "json":
        doc = {
            "inputs": [s.payload for s in inputs],
            "reference": {"value": _json_number(ref.value),
                          "gradient": {n: _json_number(v) for n, v in zip(names, ref.gradient)}},
            "methods": [{
                "name": r.name,
                "gradient": None if r.gradient is None else
                {n: _json_number(v) for n, v in zip(names, r.gradient)},
                "max_rel_error": _json_number(r.max_rel_error),
                "seconds": _json_number(r.seconds),
                "ops": r.ops,
                "evaluations": r.evaluations,
                "error": r.error,
            } for r in results],
        }
        print(json.dumps(doc, indent=2))
        return 0

    shown = names if len(names) <= _MAX_GRADIENT_COLUMNS else names[:_MAX_GRADIENT_COLUMNS - 1]
    more = len(names) - len(shown)
    header = ["method"] + [f"df/d{n}" for n in shown] + (["..."] if more else []) + \
        ["rel. error", "time/grad", "ops", "evals"]
    ncol = len(header)
    right = {ncol - 4, ncol - 3, ncol - 2, ncol - 1}
    rows = []
    for r in results:
        if r.gradient is None:
            rows.append([r.name, r.error or "no result"])
            continue
        cells = [r.name] + [_fmt_value(v) for v in r.gradient[:len(shown)]]
        if more:
            cells.append(f"+{more} more")
        cells += [_fmt_error(r.max_rel_error), _fmt_time(r.seconds), _fmt_int(r.ops),
                  _fmt_int(r.evaluations)]
        rows.append(cells)
    at = _fmt_point(point)
    ref_parts = [f"f = {_fmt_value(ref.value)}"] + \
        [f"df/d{n} = {_fmt_value(v)}" for n, v in zip(shown, ref.gradient)]
    if more:
        ref_parts.append(f"... ({more} more)")
    print(f"f = {_expr_text(f)}")
    print(f"at {at}")
    print(f"reference (mpmath, 40 digits): {', '.join(ref_parts)}")
    print()
    print("\n".join(_table(header, rows, right)))
    print()
    print(f"rel. error: max_i |g_i - ref_i| / max_i |ref_i|;  time/grad: median of {repeat} "
          f"timed runs;\nops: arithmetic operations per gradient;  evals: calls of f")
    return 0


def _parse_sizes(spec: str) -> list[int]:
    sizes = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            n = int(item)
        except ValueError:
            raise UsageError(f"--sizes: {item!r} is not a whole number") from None
        if n < 2:
            raise UsageError(f"--sizes: n must be at least 2, got {n}")
        sizes.append(n)
    if not sizes:
        raise UsageError("--sizes: give at least one size, e.g. --sizes 10,100,1000")
    return sorted(set(sizes))


def _cmd_scaling(args) -> int:
    from symdiff.lab.compare import APPROACH_LABELS, scaling

    if args.expr or args.file:
        raise UsageError("--scaling measures a built-in model: give no EXPR or -f FILE")
    sizes = _parse_sizes(args.sizes or _DEFAULT_SIZES)
    timeout = 20.0 if args.timeout is None else args.timeout
    if not (timeout > 0 and math.isfinite(timeout)):
        raise UsageError("--timeout must be a positive number of seconds")
    if args.plot:
        _check_plot_target(args.plot)
    repeat = 3 if args.repeat is None else args.repeat
    rows = scaling(args.scaling, sizes, timeout=timeout, repeat=repeat)
    if args.plot:
        from symdiff.lab.plots import plot_scaling

        _draw(plot_scaling, rows, args.plot, model=args.scaling, timeout=timeout)

    if args.format == "json":
        doc = {
            "model": args.scaling,
            "sizes": sizes,
            "timeout": timeout,
            "repeat": repeat,
            "results": [{
                "approach": r.approach, "n": r.n, "n_inputs": r.n_inputs, "f_ops": r.f_ops,
                "seconds": _json_number(r.seconds), "ops": r.ops,
                "ops_ratio": _json_number(r.ops_ratio), "evaluations": r.evaluations,
                "setup_seconds": _json_number(r.setup_seconds), "status": r.status,
                "note": r.note,
            } for r in rows],
        }
        if args.plot:
            doc["plot"] = args.plot
        print(json.dumps(doc, indent=2))
        return 0

    print(f"gradient cost against n: {args.scaling} ({MODEL_DESCRIPTIONS.get(args.scaling, '')}); "
          f"time cap {timeout:g} s per measurement")
    print()
    header = ["approach", "n", "inputs", "|f|", "time", "ops", "ops/|f|", "evals", "note"]
    table = []
    for r in rows:
        note = r.note or ""
        if r.status == "ok" and r.setup_seconds is not None:
            what = "compile" if r.approach == "compiled" else "to SymPy"
            note = f"{what} {_fmt_time(r.setup_seconds)}"
        elif r.status != "ok":
            note = f"{r.status}: {note}" if note else r.status
        ratio = r.ops_ratio
        table.append([APPROACH_LABELS.get(r.approach, r.approach), str(r.n), str(r.n_inputs),
                      str(r.f_ops), _fmt_time(r.seconds), _fmt_int(r.ops),
                      "-" if ratio is None else f"{ratio:.3g}", _fmt_int(r.evaluations), note])
    print("\n".join(_table(header, table, right={1, 2, 3, 4, 5, 6, 7})))
    print()
    print("time: build time for the symbolic approaches, time per gradient for the others; "
          "ops: arithmetic per gradient\n(central differences: evaluations x |f|; naive "
          "symbolic: SymPy count_ops of the n derivatives)")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _cmd_fd_sweep(args) -> int:
    from symdiff.lab.compare import fd_sweep

    f, wrt, inputs, point = _expression_and_point(args)
    if args.wrt is not None and len(wrt) != 1:
        raise UsageError("--fd-sweep takes one variable: --wrt NAME")
    var = wrt[0].payload
    if args.plot:
        _check_plot_target(args.plot)
    sweep = fd_sweep(f, point, var)
    if args.plot:
        from symdiff.lab.plots import plot_fd_sweep

        _draw(plot_fd_sweep, sweep, args.plot, expr_label=_expr_text(f, 60))

    if args.format == "json":
        doc = {
            "variable": var,
            "point": {k: _json_number(v) for k, v in point.items()},
            "exact": _json_number(sweep.exact),
            "default_steps": {m: _json_number(h) for m, h in sweep.default_steps.items()},
            "default_errors": {m: _json_number(e) for m, e in sweep.default_errors.items()},
            "steps": [_json_number(h) for h in sweep.steps],
            "relative_errors": {"forward": [_json_number(e) for e in sweep.forward],
                                "central": [_json_number(e) for e in sweep.central]},
        }
        if args.plot:
            doc["plot"] = args.plot
        print(json.dumps(doc, indent=2))
        return 0

    at = _fmt_point(point)
    print(f"finite-difference error of df/d{var} at {at} (exact {_fmt_value(sweep.exact)})")
    if not args.plot:
        print()
        rows = []
        for h, ef, ec in zip(sweep.steps, sweep.forward, sweep.central):
            note = "x + h == x: no step taken" if math.isnan(ef) and math.isnan(ec) else ""
            rows.append([f"{h:.2e}", _fmt_error(ef), _fmt_error(ec), note])
        print("\n".join(_table(["step", "forward", "central", ""], rows, right={0, 1, 2})))
        print()
    for m in ("forward", "central"):
        print(f"default {m} step: h = {sweep.default_steps[m]:.3g}, "
              f"relative error {_fmt_error(sweep.default_errors[m])}")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _check_plot_target(path: str) -> None:
    """Fail before a long measurement if the plot cannot be drawn."""
    from symdiff.lab.plots import MatplotlibMissing, require_matplotlib

    try:
        require_matplotlib()
    except MatplotlibMissing as exc:
        raise UsageError(f"--plot: {exc}; leave out --plot to get the numbers as a table") \
            from None
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--plot: directory {folder} does not exist")


def _draw(plot_fn, data, path, **kw) -> None:
    try:
        plot_fn(data, path, **kw)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------------
# symdiff graph

_GRAPHVIZ_FORMATS = {".svg": "svg", ".png": "png"}


def _output_names(text: str, outs) -> list[str]:
    """Labels for the outputs: the assigned name of ``y = ...``, else f
    (f0, f1, ... for several outputs)."""
    from symdiff.text.parser import parse_program

    texts = parse_program(text).output_texts
    names = []
    for k, t in enumerate(texts):
        if t.isidentifier():
            names.append(t)
        else:
            names.append("f" if len(outs) == 1 else f"f{k}")
    return names


def cmd_graph(args) -> int:
    """``symdiff graph``: write the computation graph (with ``--grad``, the
    gradient too) as DOT, SVG or PNG."""
    from symdiff.core.differentiate import grad
    from symdiff.core.graph import reachable
    from symdiff.text.printers import to_dot

    outs, text = load_expression(args, single=False)
    names = _output_names(text, outs)
    douts = []
    if args.grad:
        if len(outs) != 1:
            raise UsageError(f"--grad needs one scalar output, got {len(outs)}")
        wrt = parse_wrt(args.wrt, outs)
        douts = grad(outs[0], wrt)
        dot_text = to_dot(outs, names=names, derivative_outputs=douts,
                          derivative_names=[f"d{names[0]}/d{s.payload}" for s in wrt])
    else:
        if args.wrt is not None:
            raise UsageError("--wrt needs --grad")
        dot_text = to_dot(outs, names=names)

    path = args.output
    if path is None or path == "-":
        sys.stdout.write(dot_text)
        return 0
    ext = os.path.splitext(path)[1].lower()
    if ext in (".dot", ".gv"):
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(dot_text)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    elif ext in _GRAPHVIZ_FORMATS:
        _run_graphviz(dot_text, path, _GRAPHVIZ_FORMATS[ext])
    else:
        raise UsageError(f"-o {path}: unknown format {ext or '(no extension)'}; "
                         "use FILE.dot, FILE.svg or FILE.png")
    nodes = reachable(list(outs) + list(douts))
    n_in = sum(1 for n in nodes if n.op == "sym")
    n_const = sum(1 for n in nodes if n.op == "const")
    counts = [(len(nodes), "node"), (n_in, "input"), (n_const, "constant"),
              (len(nodes) - n_in - n_const, "operation")]
    total, *parts = [f"{k} {word}{'' if k == 1 else 's'}" for k, word in counts]
    print(f"wrote {path}: {total} ({', '.join(parts)})")
    return 0


def _run_graphviz(dot_text: str, path: str, fmt: str) -> None:
    exe = shutil.which("dot")
    if exe is None:
        raise UsageError(f"writing {fmt.upper()} needs Graphviz's 'dot' program, which is not "
                         "on PATH (install Graphviz, e.g. 'apt-get install graphviz'); "
                         "-o FILE.dot works without it")
    try:
        proc = subprocess.run([exe, f"-T{fmt}", "-o", path], input=dot_text.encode("utf-8"),
                              capture_output=True, check=False)
    except OSError as exc:
        raise UsageError(f"cannot run {exe}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"Graphviz failed writing {path}: "
                         f"{msg[0] if msg else f'exit status {proc.returncode}'}")
