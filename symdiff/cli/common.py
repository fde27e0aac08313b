"""What the ``symdiff`` subcommands share on the way in: the user-error
exception, the EXPR / ``-f FILE`` arguments and reading them, and the
``--wrt`` and ``--at`` option parsers."""

from __future__ import annotations

__all__ = ["UsageError", "add_expr_args", "read_source", "load_expression", "parse_wrt",
           "parse_point", "gradient_inputs"]


class UsageError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def add_expr_args(parser) -> None:
    """Add the positional EXPR and the ``-f FILE`` option to a subcommand's
    argparse ``parser``."""
    parser.add_argument("expr", nargs="?", help="the expression or program (statements "
                        "separated by ';' or newlines, last line is the output)")
    parser.add_argument("-f", "--file", help="read the program from FILE")


def read_source(args) -> str:
    """The program text: ``args.expr``, or the contents of ``args.file``
    (exactly one of the two)."""
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
    """Parse the program given on the command line; returns (outputs, text).
    With ``single`` (the default) exactly one output is required."""
    from symdiff.text.parser import parse_program

    text = read_source(args)
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
    expressions such as ``pi/4`` (parsed, never eval'd).  Every symbol of
    ``inputs`` needs a value and no other name may be given."""
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


def gradient_inputs(outputs, wrt) -> list:
    """The inputs of a gradient program: the free symbols of ``outputs`` in
    natural order, then each ``wrt`` symbol they do not contain (its
    derivative is 0, but it still needs a value)."""
    from symdiff.core.graph import free_symbols

    inputs = free_symbols(outputs)
    return inputs + [s for s in wrt if s not in inputs]
