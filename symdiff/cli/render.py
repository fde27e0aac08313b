"""What the ``symdiff`` subcommands share on the way out: number formats for
tables and JSON, and the aligned text table."""

from __future__ import annotations

import math

__all__ = ["json_number", "format_float", "format_point", "format_error", "format_seconds",
           "format_count", "format_table"]


def json_number(v):
    """A float for JSON, or None when ``v`` is None or not finite (JSON has
    no inf or NaN)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def format_float(v) -> str:
    """Every digit of the float64 ``v`` (its repr: ``809.707479218564``,
    ``inf``, ``nan``)."""
    return repr(float(v))


def format_point(point, number=format_float) -> str:
    """``x=2.0, z=3.0``: the point's names and values, each value written
    by ``number``."""
    return ", ".join(f"{k}={number(float(v))}" for k, v in point.items())


def format_error(e) -> str:
    """A relative error in two digits (``4.5e-08``), ``-`` for None."""
    if e is None:
        return "-"
    e = float(e)
    return f"{e:.1e}" if math.isfinite(e) else str(e)


def format_seconds(s) -> str:
    """A duration in three digits with a unit (``72.1 µs``, ``2.49 ms``,
    ``19.7 s``), ``-`` for None."""
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1.0:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def format_count(k) -> str:
    """A whole number, ``-`` for None."""
    return "-" if k is None else str(k)


def format_table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    """An aligned text table under a dashed rule; columns in ``right`` are
    right-aligned.  A row of two cells (name, message) writes the message
    across the other columns."""
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
    return "\n".join(lines)
