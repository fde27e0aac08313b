"""The ``symdiff`` command line: one module per subcommand."""

from symdiff.cli.main import main

__all__ = ["main"]
