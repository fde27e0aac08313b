"""The ``symdiff`` command: argparse construction and dispatch.

Subcommands, one module each: ``diff`` (print derivatives), ``compile``
(JIT-compile a gradient, emit IR/assembly/objects/shared libraries),
``compare`` (compare differentiation approaches), ``graph`` (draw the
computation graph) and ``demo`` (the lectures' example end to end).  Each
module adds its parser with ``register(sub)``; shared input handling lives
in :mod:`symdiff.cli.common`, shared output in :mod:`symdiff.cli.render`.

User errors (bad expressions, unknown variables, bad options) print a short
message on stderr and exit with status 2; no traceback is shown.
"""

from __future__ import annotations

import argparse
import sys

from symdiff.cli.common import UsageError

__all__ = ["main", "build_parser"]


def _version() -> str:
    from symdiff import __version__

    return f"symdiff {__version__}"


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``symdiff`` command."""
    # Importing symdiff.cli is not cheap: it imports the symdiff package,
    # that is numpy and the symbolic core (about 0.15 s).  What this adds
    # is small, because the subcommand modules import only what their
    # parsers need (names, not the lab or the compiler) and the rest when
    # their command runs.
    from symdiff.cli import cache, compare, compile, demo, diff, graph

    parser = argparse.ArgumentParser(
        prog="symdiff",
        description="Symbolic differentiation with common-subexpression elimination, "
                    "compiled to native code through LLVM.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # The subcommands, in the order `symdiff --help` lists them.  A new one
    # is a module with register(sub), imported above and registered here.
    diff.register(sub)
    compile.register(sub)
    compare.register(sub)
    graph.register(sub)
    demo.register(sub)
    cache.register(sub)
    return parser


def _is_parse_error(exc: Exception) -> bool:
    """Whether ``exc`` is a :class:`symdiff.text.parser.ParseError` (a
    ValueError).  Only a command that parsed something can raise one, and
    it has imported the parser then: commands that parse nothing (``cache``)
    do not import it just to ask."""
    parser = sys.modules.get("symdiff.text.parser")
    return parser is not None and isinstance(exc, parser.ParseError)


def main(argv=None) -> int:
    """Entry point of the ``symdiff`` console script: run the subcommand in
    ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OverflowError) as exc:
        if _is_parse_error(exc):
            print(str(exc), file=sys.stderr)     # its message, line and caret
            return 2
        # Anything else caused by the input (an unknown variable in the
        # inputs, a bad shape, ...) is reported the same way.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
