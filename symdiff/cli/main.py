"""The ``symdiff`` command line.

Subcommands: ``diff`` (print derivatives), ``compile`` (JIT-compile a
gradient, emit IR/assembly/objects/shared libraries), ``compare`` (compare
differentiation approaches), ``graph`` (draw the computation graph) and
``demo`` (the lectures' example end to end).

User errors (bad expressions, unknown variables, bad options) print a short
message on stderr and exit with status 2; no traceback is shown.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

__all__ = ["main", "UsageError"]

LECTURE_EXAMPLE = "exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)"


class UsageError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


# ---------------------------------------------------------------------------
# shared helpers


def _read_source(args) -> str:
    if getattr(args, "file", None):
        if args.expr is not None:
            raise UsageError("give either EXPR or -f FILE, not both")
        try:
            with open(args.file, encoding="utf-8") as fh:
                return fh.read()
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    if args.expr is None:
        raise UsageError("no expression given (EXPR or -f FILE)")
    return args.expr


def load_expression(args, *, single=True):
    """Parse the program given on the command line; returns (outputs, text)."""
    from symdiff.text.parser import parse_program

    text = _read_source(args)
    prog = parse_program(text)
    outs = list(prog.outputs)
    if single and len(outs) != 1:
        raise UsageError(f"expected one scalar output expression, got {len(outs)} "
                         "(separate statements with newlines or ';')")
    return outs, text


def parse_wrt(spec: str | None, outputs):
    """Variables to differentiate by: ``--wrt x,z`` or all free symbols."""
    from symdiff.core.graph import free_symbols
    from symdiff.core.node import symbol

    free = free_symbols(outputs)
    if not spec:
        return free
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise UsageError("--wrt needs at least one variable name")
    for n in names:
        if not n.isidentifier() or not n.isascii():
            raise UsageError(f"--wrt: {n!r} is not a variable name")
    if len(set(names)) != len(names):
        raise UsageError("--wrt: a variable is listed twice")
    return [symbol(n) for n in names]


def parse_point(spec: str | None, inputs) -> dict | None:
    """``--at x=2,z=3`` -> {"x": 2.0, "z": 3.0}; values may be constant
    expressions such as ``pi/4`` (parsed, never eval'd)."""
    if spec is None:
        return None
    from symdiff.text.parser import ParseError, parse

    point: dict = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name or not value.strip():
            raise UsageError(f"--at: expected NAME=VALUE, got {item!r}")
        if name in point:
            raise UsageError(f"--at: {name} is given twice")
        try:
            node = parse(value.strip())
        except ParseError as exc:
            raise UsageError(f"--at: bad value for {name}: {exc.message}") from None
        if getattr(node, "op", None) != "const":
            raise UsageError(f"--at: the value of {name} must be a number, got {value!r}")
        point[name] = float(node.payload)
    names = [s.payload for s in inputs]
    missing = [n for n in names if n not in point]
    if missing:
        raise UsageError(f"--at: no value given for {', '.join(missing)}")
    extra = [n for n in point if n not in names]
    if extra:
        raise UsageError(f"--at: {', '.join(extra)} does not occur in the expression")
    return point


def _json_number(v):
    v = float(v)
    return v if math.isfinite(v) else None


def _fmt(v: float) -> str:
    return repr(float(v))


# ---------------------------------------------------------------------------
# symdiff diff


def cmd_diff(args) -> int:
    """Print the derivatives of an expression (and values with --at)."""
    from symdiff.text import printers
    from symdiff.core.differentiate import grad, hessian
    from symdiff.numeric.interpreter import evaluate
    from symdiff.core.graph import free_symbols
    from symdiff.text.infix import to_string

    outs, _ = load_expression(args)
    f = outs[0]
    wrt = parse_wrt(args.wrt, outs)
    inputs = free_symbols(outs)
    missing = [s.payload for s in wrt if s not in inputs]
    g = grad(f, wrt)
    H = hessian(f, wrt) if args.hessian else None
    all_inputs = inputs + [s for s in wrt if s not in inputs]
    point = parse_point(args.at, all_inputs) if args.at is not None else None
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
        if H is not None:
            doc["second_derivatives"] = [[to_string(h) for h in row] for row in H]
        if values is not None:
            doc["value"] = _json_number(values["value"])
            doc["gradient"] = {n: _json_number(v) for n, v in zip(names, values["gradient"])}
            if H is not None:
                doc["hessian"] = [[_json_number(v) for v in row] for row in values["hessian"]]
        print(json.dumps(doc, indent=2))
        return 0

    if args.format == "latex":
        print(f"f = {printers.to_latex(f)}")
        for n, d in zip(names, g):
            print(f"\\frac{{\\partial f}}{{\\partial {printers.latex_symbol(n)}}} = "
                  f"{printers.to_latex(d)}")
        if H is not None:
            for i, ni in enumerate(names):
                for j, nj in enumerate(names[i:], start=i):
                    print(f"\\frac{{\\partial^2 f}}{{\\partial {printers.latex_symbol(ni)}"
                          f"\\,\\partial {printers.latex_symbol(nj)}}} = "
                          f"{printers.to_latex(H[i][j])}")
    else:
        labels = ["f"] + [f"df/d{n}" for n in names]
        exprs = [f, *g]
        if H is not None:
            for i, ni in enumerate(names):
                for j, nj in enumerate(names[i:], start=i):
                    labels.append(f"d2f/d{ni}d{nj}")
                    exprs.append(H[i][j])
        if args.no_cse:
            width = max(len(lb) for lb in labels)
            for lb, e in zip(labels, exprs):
                print(f"{lb.ljust(width)} = {to_string(e)}")
        else:
            print(printers.to_program(exprs, names=labels))
    if values is not None:
        print()
        at = ", ".join(f"{k}={_fmt(v)}" for k, v in point.items())
        print(f"at {at}:")
        print(f"  f = {_fmt(values['value'])}")
        for n, v in zip(names, values["gradient"]):
            print(f"  df/d{n} = {_fmt(v)}")
        if H is not None:
            print("  hessian:")
            for row in values["hessian"]:
                print("    [" + ", ".join(_fmt(v) for v in row) + "]")
    return 0


# ---------------------------------------------------------------------------
# argument parsing and dispatch


def _add_expr_args(p):
    p.add_argument("expr", nargs="?", help="the expression or program (statements "
                   "separated by ';' or newlines, last line is the output)")
    p.add_argument("-f", "--file", help="read the program from FILE")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``symdiff`` command."""
    parser = argparse.ArgumentParser(
        prog="symdiff",
        description="Symbolic differentiation with common-subexpression elimination, "
                    "compiled to native code through LLVM.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("diff", help="print derivative expressions (and values)")
    _add_expr_args(p)
    p.add_argument("--wrt", help="comma-separated variables (default: all, natural order)")
    p.add_argument("--at", help="evaluate at a point, e.g. x=2,z=3")
    p.add_argument("--hessian", action="store_true", help="also second derivatives")
    p.add_argument("--format", choices=["text", "json", "latex"], default="text")
    p.add_argument("--no-cse", action="store_true",
                   help="print each derivative as a plain expression")
    p.set_defaults(func=cmd_diff)

    from symdiff.cli import cache, compare, compile

    compile.register(sub)
    compare.register(sub)
    cache.register(sub)

    p = sub.add_parser("demo", help="the lectures' worked example, end to end")
    p.set_defaults(func=cmd_demo)
    return parser


def _version() -> str:
    from symdiff import __version__

    return f"symdiff {__version__}"


def cmd_demo(args) -> int:
    """Differentiate, compile and compare on the lectures' example."""
    from symdiff.cli import demo

    return demo.run()


def main(argv=None) -> int:
    """Entry point of the ``symdiff`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    from symdiff.text.parser import ParseError

    try:
        return int(args.func(args) or 0)
    except ParseError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OverflowError) as exc:
        # Anything else caused by the input (an unknown variable in the
        # inputs, a bad shape, ...) is reported the same way.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
