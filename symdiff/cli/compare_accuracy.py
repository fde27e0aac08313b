"""``symdiff compare EXPR --accuracy --domain x=-1e300:1e300 [--plot F.png]``:
the bits of error of f and of each partial derivative, per method, across
a domain (table, JSON, picture).

The measurement is :func:`symdiff.lab.expr_accuracy.measure_expression`
(points uniform over the float64 bit patterns of the domain, a correctly
rounded reference from SymPy derivatives in mpmath interval arithmetic);
the picture is :func:`symdiff.lab.plots.plot_accuracy`.
:func:`add_accuracy_args` adds the options to the ``compare`` parser and
``compare`` hands ``--accuracy`` runs to :func:`cmd_accuracy`.
"""

from __future__ import annotations

from symdiff.cli.common import (
    UsageError,
    load_program,
    parse_wrt,
    print_json,
    source_names,
)
from symdiff.cli.plot_output import check_plot_target, draw_plot
from symdiff.cli.render import ProgressBar, format_table, json_number

__all__ = ["add_accuracy_args", "cmd_accuracy", "DEFAULT_POINTS"]

#: Points per run unless --points says otherwise.
DEFAULT_POINTS = 256

# Options of the other compare modes that make no sense with --accuracy.
def add_accuracy_args(parser) -> None:
    """Add ``--accuracy``, ``--domain``, ``--points`` and ``--seed`` to the
    ``compare`` subcommand's parser (``--plot``, ``--wrt`` and ``--format``
    are compare's own)."""
    parser.add_argument("--accuracy", action="store_true",
                        help="bits of error of f and each partial per method across "
                             "--domain (points uniform over float64 bit patterns)")
    parser.add_argument("--domain", metavar="x=LO:HI,...",
                        help="with --accuracy: the range of each variable, e.g. "
                             "x=-1e300:1e300 or x=+-1e-3:800 (both signs, magnitudes "
                             "1e-3 to 800)")
    parser.add_argument("--points", type=int, metavar="N",
                        help=f"with --accuracy: sample points (default {DEFAULT_POINTS})")
    parser.add_argument("--seed", type=int, help="with --accuracy: the sample's seed "
                        "(default 0)")


def _check_options(args) -> None:
    # Options of the other compare modes are refused by cmd_compare.
    if args.domain is None:
        raise UsageError("--accuracy needs the domain of every variable, e.g. "
                         "--domain x=-1e300:1e300,y=1e-300:1e300")
    if args.points is not None and not 1 <= args.points <= 1_000_000:
        raise UsageError("--points must be between 1 and 1000000")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {args.seed}")


def _expression(args):
    """The scalar expression, the names to differentiate by, the domains."""
    from symdiff.lab.bits import parse_domains
    from symdiff.lab.expr_accuracy import variable_names

    prog, text = load_program(args)
    f = prog.outputs[0]
    if f.shape:
        raise UsageError("--accuracy measures a scalar expression; this one has shape "
                         f"{tuple(f.shape)}")
    variables = variable_names(f)
    if not variables:
        raise UsageError("the expression has no variables: nothing to sample")
    wrt = parse_wrt(args.wrt, [f], names=source_names(text, prog))
    names = [s.payload for s in wrt]
    gone = [n for n in names if n not in variables]
    if gone:
        raise UsageError(f"--wrt: {gone[0]} does not occur in the simplified expression; "
                         f"its variables are: {', '.join(variables)}")
    try:
        domains = parse_domains(args.domain)
    except ValueError as exc:
        raise UsageError(f"--domain: {exc}") from None
    missing = [v for v in variables if v not in domains]
    if missing:
        raise UsageError(f"--domain: no range for {missing[0]}; give every variable one, "
                         f"e.g. --domain {','.join(f'{v}=-1e300:1e300' for v in variables)}")
    extra = [v for v in domains if v not in variables]
    if extra:
        raise UsageError(f"--domain: {extra[0]} does not occur in the expression; its "
                         f"variables are: {', '.join(variables)}")
    return f, names, {v: domains[v] for v in variables}


def _cell(s) -> str:
    if s is None:
        return "n/a"
    if not s.points:
        return "-"
    text = f"{s.mean:.1f} (max {s.max:.0f})"
    return text + (f", {s.non_finite} NaN/inf" if s.non_finite else "")


def cmd_accuracy(args) -> int:
    """Run ``symdiff compare EXPR --accuracy``: measure, then print the
    table (or JSON) and draw ``--plot``."""
    from symdiff.lab.accuracy_methods import ACCURACY_METHODS, METHOD_LABELS
    from symdiff.lab.bits import NON_FINITE_BITS, format_domain
    from symdiff.lab.expr_accuracy import measure_expression, output_summaries
    from symdiff.text.infix import to_string

    _check_options(args)
    f, names, domains = _expression(args)
    if args.plot is not None:
        check_plot_target(args)
    points = DEFAULT_POINTS if args.points is None else args.points
    seed = 0 if args.seed is None else args.seed
    methods = list(ACCURACY_METHODS)

    with ProgressBar("accuracy") as bar:
        def progress(stage, done, total):
            # One bar: the reference's rows, then one step per method.
            if stage == "reference":
                bar(done, points + len(methods), "reference")
            else:
                bar(points + done, points + len(methods), METHOD_LABELS.get(stage, stage))

        result = measure_expression(f, domains, points, seed, methods, names,
                                    progress=progress)

    text = to_string(f)
    text = text if len(text) <= 90 else text[:87] + "..."
    if args.plot:
        from symdiff.lab.plots import plot_accuracy

        draw_plot(plot_accuracy, result, args, expr_label=text, labels=METHOD_LABELS)
    ref = result.reference
    if args.format == "json":
        doc = {
            "expression": to_string(f), "domain": format_domain(domains), "points": points,
            "seed": seed, "non_finite_bits": NON_FINITE_BITS,
            "reference": {o: {"non_finite": nf, "unsettled": un}
                          for o, nf, un in zip(result.outputs, ref.non_finite, ref.unsettled)},
            "max_precision": ref.max_precision,
            "methods": {},
        }
        for m in methods:
            summ = output_summaries(result, m)
            doc["methods"][m] = ({"unavailable": result.methods[m].unavailable}
                                 if summ is None else
                                 {o: {"mean_bits": json_number(s.mean),
                                      "max_bits": json_number(s.max),
                                      "non_finite": s.non_finite, "points": s.points}
                                  for o, s in zip(result.outputs, summ)})
        if args.plot:
            doc["plot"] = args.plot
        print_json(doc)
        return 0

    print(f"f = {text}")
    print(f"{points} points uniform over the float64 bit patterns of "
          f"{format_domain(domains)} (seed {seed})")
    dropped = [f"{o} {nf + un}" for o, nf, un in zip(result.outputs, ref.non_finite,
                                                     ref.unsettled) if nf + un]
    print("reference: correctly rounded, from SymPy derivatives in mpmath interval "
          f"arithmetic (up to {ref.max_precision} bits)"
          + (f"; points without a finite reference: {', '.join(dropped)}" if dropped else ""))
    print()
    header = ["method"] + [f"{o}: bits" for o in result.outputs]
    rows = []
    for m in methods:
        summ = output_summaries(result, m)
        if summ is None:
            rows.append([METHOD_LABELS[m], f"n/a: {result.methods[m].unavailable}"])
            continue
        rows.append([METHOD_LABELS[m]] + [_cell(s) for s in summ])
    print(format_table(header, rows, set()))
    print()
    print(f"bits: average of log2(1 + ulps from the correctly rounded value): 0 exact, "
          f"53 no correct digit;\nNaN/inf where the reference is finite counts "
          f"{NON_FINITE_BITS:g} (and is counted).  symdiff: compiled;\nstable: after "
          f"symdiff.core.stabilize; interp.: the numpy interpreter; JAX: jit(grad) in float64")
    return 0


