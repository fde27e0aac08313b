"""``symdiff functions``: every function an expression may call, read from
the op table (scalar functions) and the tensor functions of
:mod:`symdiff.text.functions`, so the list is never out of date.  The
parser's unknown-function error points here."""

from __future__ import annotations

__all__ = ["register", "cmd_functions", "function_names"]


def function_names() -> dict[str, list[str]]:
    """``{"scalar": [...], "tensor": [...]}``: the names expressions can
    call, sorted (``max`` is in both: elementwise of several arguments, a
    reduction of one tensor)."""
    from symdiff.core.ops import FUNCTIONS
    from symdiff.text import functions

    return {"scalar": sorted(FUNCTIONS), "tensor": sorted(functions.FUNCTIONS)}


def _arity(name: str) -> str:
    from symdiff.core.ops import FUNCTIONS

    n = FUNCTIONS[name].arity
    return "2 or more arguments" if n < 0 else f"{n} argument{'s' if n != 1 else ''}"


def cmd_functions(args) -> int:
    """Print the callable functions, as text or JSON."""
    names = function_names()
    if args.format == "json":
        from symdiff.cli.common import print_json

        print_json(names)
        return 0
    width = max(len(n) for n in names["scalar"])
    print("scalar functions (elementwise on tensors):")
    for n in names["scalar"]:
        print(f"  {n.ljust(width)}  {_arity(n)}")
    print("tensor functions: " + ", ".join(names["tensor"]))
    print("constants: pi, e")
    return 0


def register(sub) -> None:
    """Add the ``functions`` subcommand to the CLI's subparsers ``sub``."""
    p = sub.add_parser("functions", help="list the functions expressions can call")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_functions)
