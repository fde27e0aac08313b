"""``symdiff diff``: print the derivatives of an expression (as a CSE'd
program, plain expressions, JSON or LaTeX), and their values with ``--at``.
Programs that declare tensors go to :mod:`symdiff.cli.diff_tensor`."""

from __future__ import annotations

from symdiff.cli.common import (
    add_expr_args,
    add_shape_args,
    derivative_outputs,
    gradient_inputs,
    is_tensor_program,
    load_program,
    parse_point,
    parse_wrt,
    print_json,
    source_names,
)
from symdiff.cli.render import (
    format_float,
    format_point,
    json_number,
    print_expressions,
    print_latex_derivatives,
)
from symdiff.cli.stable import (
    print_rewrites,
    refuse_tensor_stable,
    rewrite_json,
    stabilize_derivatives,
    stabilize_expressions,
)

__all__ = ["register", "cmd_diff"]


def register(sub) -> None:
    """Add the ``diff`` subcommand to the CLI's subparsers ``sub``."""
    p = sub.add_parser("diff", help="print derivative expressions (and values)")
    add_expr_args(p)
    add_shape_args(p)
    p.add_argument("--wrt", help="comma-separated variables (default: all, natural order)")
    p.add_argument("--at", help="evaluate at a point, e.g. x=2,z=3; tensors from .npy files: "
                                "X=X.npy,Theta=T.npy")
    p.add_argument("--hessian", action="store_true",
                   help="also second derivatives (tensors: of vector variables)")
    p.add_argument("--format", choices=["text", "json", "latex"], default="text")
    p.add_argument("--no-cse", action="store_true",
                   help="print each derivative as a plain expression")
    p.add_argument("--stable", action="store_true",
                   help="rewrite f, then its derivatives, into numerically stable forms "
                        "(log(1+exp(x)) -> softplus(x), ...) and list the rewrites")
    p.set_defaults(func=cmd_diff)


def cmd_diff(args) -> int:
    """Print the derivatives of an expression (and values with --at)."""
    from symdiff.core.differentiate import grad, hessian
    from symdiff.core.graph import free_symbols
    from symdiff.numeric.interpreter import evaluate
    from symdiff.text.infix import to_string
    from symdiff.text.program import to_program

    prog, text = load_program(args)
    names = source_names(text, prog)
    if args.stable and is_tensor_program(prog):
        refuse_tensor_stable()
    if is_tensor_program(prog):
        from symdiff.cli.diff_tensor import diff_tensors

        return diff_tensors(args, prog, names)
    outs = list(prog.outputs)
    f = outs[0]
    wrt = parse_wrt(args.wrt, outs, names=names)
    inputs = free_symbols(outs)
    missing = [s.payload for s in wrt if s not in inputs]
    rewrites = []
    if args.stable:
        f, rewrites = stabilize_expressions(f)
    g = grad(f, wrt)
    H = hessian(f, wrt) if args.hessian else None
    if args.stable:
        g, H, more = stabilize_derivatives(g, H)
        rewrites += more
    point = parse_point(args.at, gradient_inputs(outs, wrt), names=names)
    names = [s.payload for s in wrt]

    values = None
    if point is not None:
        flat = [f, *g] + ([h for row in H for h in row] if H is not None else [])
        vals = evaluate(flat, point, inputs=list(point))
        values = {"value": vals[0], "gradient": vals[1:1 + len(g)]}
        if H is not None:
            n = len(wrt)
            hv = vals[1 + len(g):]
            values["hessian"] = [hv[i * n:(i + 1) * n] for i in range(n)]

    if args.format == "json":
        doc: dict = {"inputs": [s.payload for s in inputs],
                     "derivatives": {n: to_string(d) for n, d in zip(names, g)}}
        if missing:
            doc["note"] = f"f does not depend on {', '.join(missing)}"
        if args.stable:
            doc["f"] = to_string(f)
            doc["rewrites"] = [rewrite_json(r) for r in rewrites]
        if H is not None:
            doc["second_derivatives"] = [[to_string(h) for h in row] for row in H]
        if values is not None:
            doc["value"] = json_number(values["value"])
            doc["gradient"] = {n: json_number(v) for n, v in zip(names, values["gradient"])}
            if H is not None:
                doc["hessian"] = [[json_number(v) for v in row] for row in values["hessian"]]
        print_json(doc)
        return 0

    if args.stable:
        print_rewrites(rewrites)
    if args.format == "latex":
        print_latex_derivatives(f, wrt, g, H)
    else:
        exprs, labels = derivative_outputs(f, wrt, g, H)
        if args.no_cse:
            print_expressions(labels, exprs)
        else:
            print(to_program(exprs, names=labels))
    if values is not None:
        print()
        print(f"at {format_point(point)}:")
        print(f"  f = {format_float(values['value'])}")
        for n, v in zip(names, values["gradient"]):
            print(f"  df/d{n} = {format_float(v)}")
        if H is not None:
            print("  hessian:")
            for row in values["hessian"]:
                print("    [" + ", ".join(format_float(v) for v in row) + "]")
    return 0
