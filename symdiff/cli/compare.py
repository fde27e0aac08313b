"""``symdiff compare``: compare the ways to differentiate.

Three modes:

* ``symdiff compare EXPR --at x=2,z=3``: one row per differentiation
  method with its gradient, error against the 40-digit reference, time per
  gradient, operations and function evaluations;
* ``symdiff compare --scaling MODEL --sizes 10,100,1000``: cost of a
  gradient against n for each approach (``--plot FILE.png`` draws it);
* ``symdiff compare EXPR --at ... --fd-sweep``: finite-difference error
  against the step size (``--plot FILE.png`` draws the V).

The measurements live in :mod:`symdiff.lab.methods`,
:mod:`symdiff.lab.scaling` and :mod:`symdiff.lab.fd_sweep`, the drawing in
:mod:`symdiff.lab.plots`.
"""

from __future__ import annotations

import math

from symdiff.cli.common import (
    UsageError,
    add_expr_args,
    gradient_inputs,
    load_program,
    parse_point,
    parse_wrt,
    print_json,
    source_names,
)
from symdiff.cli.compare_accuracy import add_accuracy_args, cmd_accuracy
from symdiff.cli.plot_output import check_plot_target, draw_plot
from symdiff.cli.render import (
    ProgressBar,
    format_count,
    format_error,
    format_float,
    format_point,
    format_seconds,
    format_table,
    json_number,
)
from symdiff.text.infix import format_number

__all__ = ["register", "cmd_compare", "print_method_comparison"]

_DEFAULT_SIZES = "10,100,1000,10000"
_MAX_GRADIENT_COLUMNS = 4      # more inputs than this: the table truncates


def register(sub) -> None:
    """Add the ``compare`` subcommand to the CLI's subparsers ``sub``."""
    # The names only: the lab's measurements are imported when they run.
    from symdiff.lab.names import METHODS, SCALING_MODEL_NAMES

    p = sub.add_parser(
        "compare", help="compare differentiation methods (accuracy, time, operations)",
        description="Compare gradient methods on an expression at a point, the cost of "
                    "each approach against n (--scaling), or the finite-difference error "
                    "against the step (--fd-sweep).")
    add_expr_args(p)
    p.add_argument("--at", help="the point, e.g. x=2,z=3")
    p.add_argument("--wrt", help="variables to differentiate by (default: all); "
                   "with --fd-sweep one variable")
    p.add_argument("--methods", help=f"comma-separated subset of: {', '.join(METHODS)}")
    p.add_argument("--repeat", type=int, help="timing runs per measurement "
                   "(default 5; 3 with --scaling)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--scaling", metavar="MODEL", choices=list(SCALING_MODEL_NAMES),
                   help=f"cost against n on a built-in model: {', '.join(SCALING_MODEL_NAMES)}")
    p.add_argument("--sizes", help=f"values of n for --scaling (default {_DEFAULT_SIZES})")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="--scaling: time cap per approach and n (default 20); "
                        "an approach that hits it is skipped for larger n")
    p.add_argument("--fd-sweep", action="store_true",
                   help="finite-difference error against the step size (1e-16..1e-1)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="with --scaling, --fd-sweep or --accuracy: draw the result "
                        "(needs matplotlib)")
    add_accuracy_args(p)
    p.set_defaults(func=cmd_compare)


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


# Which options make sense in which mode: "methods" (EXPR --at), "scaling",
# "fd" (--fd-sweep).
_OPTION_MODES = {
    "at": ("--at", {"methods", "fd"}),
    "wrt": ("--wrt", {"methods", "fd", "accuracy"}),
    "methods": ("--methods", {"methods"}),
    "repeat": ("--repeat", {"methods", "scaling"}),
    "sizes": ("--sizes", {"scaling"}),
    "timeout": ("--timeout", {"scaling"}),
    "plot": ("--plot", {"scaling", "fd", "accuracy"}),
    "domain": ("--domain", {"accuracy"}),
    "points": ("--points", {"accuracy"}),
    "seed": ("--seed", {"accuracy"}),
}

_MODE_NAMES = {"methods": "the method comparison (EXPR --at ...)", "scaling": "--scaling",
               "fd": "--fd-sweep", "accuracy": "--accuracy"}


def cmd_compare(args) -> int:
    """``symdiff compare``: dispatch to the method comparison, the scaling
    run or the finite-difference sweep."""
    if sum(map(bool, (args.scaling, args.fd_sweep, args.accuracy))) > 1:
        raise UsageError("give one of --scaling, --fd-sweep and --accuracy")
    mode = ("scaling" if args.scaling else "fd" if args.fd_sweep
            else "accuracy" if args.accuracy else "methods")
    for attr, (flag, modes) in _OPTION_MODES.items():
        if getattr(args, attr) is not None and mode not in modes:
            raise UsageError(f"{flag} does not apply to {_MODE_NAMES[mode]}")
    if args.repeat is not None and args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    if mode == "accuracy":
        return cmd_accuracy(args)
    if mode == "scaling":
        return _cmd_scaling(args)
    if mode == "fd":
        return _cmd_fd_sweep(args)
    return _cmd_methods(args)


def _expression_and_point(args):
    """The scalar expression, the wrt symbols, every input and the point."""
    prog, text = load_program(args)
    outs = list(prog.outputs)
    if args.at is None:
        raise UsageError("give the point with --at, e.g. --at x=2,z=3")
    names = source_names(text, prog)
    wrt = parse_wrt(args.wrt, outs, names=names)
    if not wrt:
        raise UsageError("the expression has no variables to differentiate by")
    inputs = gradient_inputs(outs, wrt)
    point = parse_point(args.at, inputs, names=names)
    return outs[0], wrt, inputs, point


def _cmd_methods(args) -> int:
    from symdiff.lab.names import METHODS

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
    print_method_comparison(f, wrt, inputs, point, methods, repeat, args.format)
    return 0


def method_comparison_doc(inputs, names, ref, results) -> dict:
    """The JSON document of a method comparison: the reference value and
    gradient (``ref``) and each method's result (``results`` of
    :func:`symdiff.lab.methods.compare_methods`), partials named by
    ``names``."""
    return {
        "inputs": [s.payload for s in inputs],
        "reference": {"value": json_number(ref.value),
                      "gradient": {n: json_number(v) for n, v in zip(names, ref.gradient)}},
        "methods": [{
            "name": r.name,
            "gradient": None if r.gradient is None else
            {n: json_number(v) for n, v in zip(names, r.gradient)},
            "max_rel_error": json_number(r.max_rel_error),
            "seconds": json_number(r.seconds),
            "ops": r.ops,
            "evaluations": r.evaluations,
            "error": r.error,
        } for r in results],
    }


def print_method_comparison(f, wrt, inputs, point, methods=None, repeat: int = 5,
                            output_format: str = "table") -> None:
    """Print the method comparison of ``symdiff compare EXPR --at ...``:
    the gradient of ``f`` with respect to the symbols ``wrt`` at ``point``
    (name -> value for every symbol of ``inputs``) by each of ``methods``
    (default all), timed with ``repeat`` runs, against the 40-digit
    reference, as a table or (``output_format="json"``) a JSON document."""
    from symdiff.lab.methods import compare_methods, reference

    ref = reference(f, point, wrt)
    results = compare_methods(f, point, wrt, methods, repeat=repeat, ref=ref)
    names = [s.payload for s in wrt]

    if output_format == "json":
        print_json(method_comparison_doc(inputs, names, ref, results))
        return
    print_results_table(f, wrt, point, ref, results, repeat)


def print_results_table(f, wrt, point, ref, results, repeat: int = 5) -> None:
    """The method comparison's text table: ``f`` at ``point``, the
    reference ``ref`` and each method's result (``results``, timed with
    ``repeat`` runs), partials by the symbols ``wrt``."""
    names = [s.payload for s in wrt]
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
        cells = [r.name] + [format_float(v) for v in r.gradient[:len(shown)]]
        if more:
            cells.append(f"+{more} more")
        cells += [format_error(r.max_rel_error), format_seconds(r.seconds), format_count(r.ops),
                  format_count(r.evaluations)]
        rows.append(cells)
    at = format_point(point, number=format_number)
    ref_parts = [f"f = {format_float(ref.value)}"] + \
        [f"df/d{n} = {format_float(v)}" for n, v in zip(shown, ref.gradient)]
    if more:
        ref_parts.append(f"... ({more} more)")
    print(f"f = {_expr_text(f)}")
    print(f"at {at}")
    print(f"reference (mpmath, 40 digits): {', '.join(ref_parts)}")
    print()
    print(format_table(header, rows, right))
    print()
    print(f"rel. error: max_i |g_i - ref_i| / max_i |ref_i|;  time/grad: median of {repeat} "
          f"timed runs;\nops: arithmetic operations per gradient;  evals: calls of f")


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
    from symdiff.lab.models import SCALING_MODEL_DESCRIPTIONS
    from symdiff.lab.scaling import APPROACH_LABELS, check_sizes, scaling

    if args.expr or args.file:
        raise UsageError("--scaling measures a built-in model: give no EXPR or -f FILE")
    sizes = _parse_sizes(args.sizes or _DEFAULT_SIZES)
    timeout = 20.0 if args.timeout is None else args.timeout
    if not (timeout > 0 and math.isfinite(timeout)):
        raise UsageError("--timeout must be a positive number of seconds")
    try:
        check_sizes(args.scaling, sizes, timeout)
    except ValueError as exc:
        raise UsageError(f"--sizes: {exc}") from None
    if args.plot is not None:
        check_plot_target(args)
    repeat = 3 if args.repeat is None else args.repeat
    with ProgressBar(f"scaling {args.scaling}") as progress:
        rows = scaling(args.scaling, sizes, timeout=timeout, repeat=repeat, progress=progress)
    if args.plot:
        from symdiff.lab.plots import plot_scaling

        draw_plot(plot_scaling, rows, args, model=args.scaling, timeout=timeout)

    if args.format == "json":
        doc = {
            "model": args.scaling,
            "sizes": sizes,
            "timeout": timeout,
            "repeat": repeat,
            "results": [{
                "approach": r.approach, "n": r.n, "n_inputs": r.n_inputs, "f_ops": r.f_ops,
                "seconds": json_number(r.seconds), "ops": r.ops,
                "ops_ratio": json_number(r.ops_ratio), "evaluations": r.evaluations,
                "setup_seconds": json_number(r.setup_seconds), "status": r.status,
                "note": r.note,
            } for r in rows],
        }
        if args.plot:
            doc["plot"] = args.plot
        print_json(doc)
        return 0

    model = SCALING_MODEL_DESCRIPTIONS.get(args.scaling, "")
    print(f"gradient cost against n: {args.scaling} ({model}); "
          f"time cap {timeout:g} s per measurement")
    print()
    header = ["approach", "n", "inputs", "|f|", "time", "ops", "ops/|f|", "evals", "note"]
    table = []
    for r in rows:
        note = r.note or ""
        if r.status == "ok" and r.setup_seconds is not None:
            what = "compile" if r.approach == "compiled" else "to SymPy"
            note = f"{what} {format_seconds(r.setup_seconds)}"
        elif r.status != "ok":
            note = f"{r.status}: {note}" if note else r.status
        ratio = r.ops_ratio
        table.append([APPROACH_LABELS.get(r.approach, r.approach), str(r.n),
                      format_count(r.n_inputs), format_count(r.f_ops),
                      format_seconds(r.seconds), format_count(r.ops),
                      "-" if ratio is None else f"{ratio:.3g}", format_count(r.evaluations), note])
    print(format_table(header, table, right={1, 2, 3, 4, 5, 6, 7}))
    print()
    print("time: build time for the symbolic approaches, time per gradient for the others; "
          "ops: arithmetic per gradient\n(central differences: evaluations x |f|; naive "
          "symbolic: SymPy count_ops of the n derivatives)")
    return 0


def _cmd_fd_sweep(args) -> int:
    from symdiff.lab.fd_sweep import fd_sweep

    f, wrt, inputs, point = _expression_and_point(args)
    if args.wrt is not None and len(wrt) != 1:
        raise UsageError("--fd-sweep takes one variable: --wrt NAME")
    var = wrt[0].payload
    if args.plot is not None:
        check_plot_target(args)
    sweep = fd_sweep(f, point, var)
    if args.plot:
        from symdiff.lab.plots import plot_fd_sweep

        draw_plot(plot_fd_sweep, sweep, args, expr_label=_expr_text(f, 60))

    if args.format == "json":
        doc = {
            "variable": var,
            "point": {k: json_number(v) for k, v in point.items()},
            "exact": json_number(sweep.exact),
            "default_steps": {m: json_number(h) for m, h in sweep.default_steps.items()},
            "default_errors": {m: json_number(e) for m, e in sweep.default_errors.items()},
            "steps": [json_number(h) for h in sweep.steps],
            "relative_errors": {"forward": [json_number(e) for e in sweep.forward],
                                "central": [json_number(e) for e in sweep.central]},
        }
        if args.plot:
            doc["plot"] = args.plot
        print_json(doc)
        return 0

    at = format_point(point, number=format_number)
    print(f"finite-difference error of df/d{var} at {at} (exact {format_float(sweep.exact)})")
    if not args.plot:
        print()
        rows = []
        for h, ef, ec in zip(sweep.steps, sweep.forward, sweep.central):
            note = "x + h == x: no step taken" if math.isnan(ef) and math.isnan(ec) else ""
            rows.append([f"{h:.2e}", format_error(ef), format_error(ec), note])
        print(format_table(["step", "forward", "central", ""], rows, right={0, 1, 2}))
        print()
    for m in ("forward", "central"):
        print(f"default {m} step: h = {sweep.default_steps[m]:.3g}, "
              f"relative error {format_error(sweep.default_errors[m])}")
    return 0


