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
import os
import re
import sys
import warnings

from symdiff.cli.common import UsageError

__all__ = ["main", "build_parser", "ArgumentParser"]

# An argument argparse took for an option that reads as an expression:
# "-x^2", "-2*x", "-(x+y)", "-sin(x)" (anything after the '-' that an
# option name could not contain).
_EXPRESSION_LIKE = re.compile(r"-[A-Za-z0-9_.(]+.*[-+*/^()., ]|-\d|-\(|-\.")


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one more hint: when the error is about an argument
    that starts with '-' and reads as an expression (``symdiff diff
    "-x^2"``), it says to put ``--`` before it."""

    def error(self, message):
        """Print the usage and ``message`` (with the hint, if any) on
        stderr and exit with status 2."""
        words = [w for w in re.findall(r"(?<![\w'])-\S+", message)
                 if _EXPRESSION_LIKE.match(w)]
        if words:
            message += (f"\nput -- before an expression that starts with '-', after any "
                        f"options: {self.prog} [options] -- '{words[0]}'")
        super().error(message)


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
    from symdiff.cli import cache, compare, compile, demo, diff, functions, graph

    parser = ArgumentParser(
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
    functions.register(sub)
    # name -> subcommand parser: main() reports stray arguments through the
    # subcommand's parser, so its usage and hint name the subcommand.
    parser.subcommand_parsers = sub.choices
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
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = parser.subcommand_parsers.get(getattr(args, "command", None), parser)
        sub.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():
            # The compiler's own warnings (an untrusted cache directory, a
            # hostile cache entry) read like the CLI's errors, not like
            # Python's "file:line: Category: ..." lines.
            warnings.showwarning = _show_warning
            status = int(args.func(args) or 0)
        sys.stdout.flush()       # a full disk is reported here, not at exit
        return status
    except UsageError as exc:
        return _error(str(exc))
    except (ValueError, TypeError, OverflowError) as exc:
        if _is_parse_error(exc):
            print(str(exc), file=sys.stderr)     # its message, line and caret
            return 2
        # Anything else caused by the input (an unknown variable in the
        # inputs, a bad shape, ...) is reported the same way.
        return _error(str(exc))
    except MemoryError:
        return _error("out of memory (try smaller sizes or a smaller expression)")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except OSError as exc:
        # A file the command reads or writes (the checks before writing
        # catch most cases; this is the last line, e.g. stdout on a full disk).
        where = exc.filename if exc.filename is not None else "standard output"
        if exc.filename is None:
            _silence_stdout()
        return _error(f"cannot write {where}: {exc.strerror or exc}")


def _error(message: str) -> int:
    """Print ``error: message`` on stderr; the exit status of user errors."""
    print(f"error: {message}", file=sys.stderr)
    return 2


_PYTHON_SHOWWARNING = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # symdiff's own warnings read like the CLI's messages; others (from
    # numpy, a plotting library, ...) keep Python's format.
    if category.__module__.split(".")[0] in ("compiler", "symdiff"):
        print(f"warning: {message}", file=sys.stderr)
    else:
        _PYTHON_SHOWWARNING(message, category, filename, lineno, file, line)


def _silence_stdout() -> None:
    # stdout is broken (closed pipe, full disk): point it at /dev/null so
    # the interpreter's flush at exit does not print a traceback.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
