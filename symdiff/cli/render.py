"""What the ``symdiff`` subcommands share on the way out: number formats for
tables and JSON, the aligned text table, the derivatives as LaTeX or plain
expressions, and the terminal progress bar that draws the progress the lab
reports through a callback."""

from __future__ import annotations

import math
import sys

__all__ = ["json_number", "json_value", "format_float", "format_value", "format_point",
           "format_error", "format_seconds", "format_count", "format_table",
           "print_latex_derivatives", "print_expressions", "ProgressBar"]

# Arrays with more entries than this print summarized (their first and
# last rows and columns, numpy style).
_ARRAY_THRESHOLD = 24


def json_number(v):
    """A float for JSON, or None when ``v`` is None or not finite (JSON has
    no inf or NaN)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def json_value(v):
    """A float, or nested lists of floats for an array, for JSON (None for
    entries that are not finite)."""
    import numpy as np

    arr = np.asarray(v, dtype=np.float64)
    if arr.ndim == 0:
        return json_number(float(arr))
    if arr.size == 0:
        return arr.tolist()
    flat = [json_number(x) for x in arr.ravel().tolist()]
    for n in reversed(arr.shape[1:]):
        flat = [flat[i:i + n] for i in range(0, len(flat), n)]
    return flat


def format_value(v, indent: str = "    ") -> str:
    """A value for the terminal: every digit of a scalar (as
    :func:`format_float`); an array's shape, then its entries on the
    following lines (``indent``-ed), summarized numpy style when it has
    more than a couple of dozen entries."""
    import numpy as np

    arr = np.asarray(v)
    if arr.ndim == 0:
        return format_float(arr)
    from symdiff.core.shapes import format_shape

    text = np.array2string(arr, precision=8, floatmode="maxprec", suppress_small=False,
                           threshold=_ARRAY_THRESHOLD, edgeitems=3, max_line_width=88)
    body = "\n".join(indent + line for line in text.splitlines())
    return f"{format_shape(arr.shape)} array\n{body}"


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


def print_latex_derivatives(f, wrt, g, H=None) -> None:
    """Print f, its gradient ``g`` with respect to the symbols ``wrt`` and
    the upper triangle of the second derivatives ``H`` (if any) as LaTeX
    equations, one a line (``\\frac{\\partial f}{\\partial x} = ...``)."""
    from symdiff.text.latex import latex_symbol, to_latex

    names = [latex_symbol(s.payload) for s in wrt]
    print(f"f = {to_latex(f)}")
    for n, d in zip(names, g):
        print(f"\\frac{{\\partial f}}{{\\partial {n}}} = {to_latex(d)}")
    if H is not None:
        for i, ni in enumerate(names):
            for j in range(i, len(names)):
                print(f"\\frac{{\\partial^2 f}}{{\\partial {ni}\\,\\partial {names[j]}}} = "
                      f"{to_latex(H[i][j])}")


def print_expressions(labels, exprs) -> None:
    """Print ``label = expression`` lines, the ``=`` aligned, each
    expression written out in full (``--no-cse``)."""
    from symdiff.text.infix import to_string

    width = max(len(lb) for lb in labels)
    for lb, e in zip(labels, exprs):
        print(f"{lb.ljust(width)} = {to_string(e)}")


class ProgressBar:
    """Progress of a long run on a terminal: a tqdm bar when tqdm is
    installed, else a one-line counter rewritten on ``stream`` (default
    stderr); nothing when disabled (by default: when the stream is not a
    terminal, so logs and pipes stay clean).

    The bar is the lab's progress callback: call it as ``bar(done, total,
    label)`` (see :data:`symdiff.lab.scaling.ProgressCallback`), and close it
    (or use it in a ``with`` block) to remove it when the run is over.
    """

    def __init__(self, desc: str = "", enabled: bool | None = None, stream=None):
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.desc = desc
        self._bar = None       # the tqdm bar, made at the first call
        self._plain = False    # tqdm is missing: draw the counter line instead
        self._width = 0        # length of the counter line now on screen

    def __call__(self, done: int, total: int, label: str) -> None:
        """Show that ``done`` of ``total`` tasks are finished and the task
        ``label`` is running."""
        if not self.enabled:
            return
        if self._bar is None and not self._plain:
            self._bar = self._make_tqdm(total)
            self._plain = self._bar is None
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
            self._bar.set_postfix_str(label, refresh=True)
            return
        text = f"{self.desc} [{done}/{total}] {label}"
        pad = " " * max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write("\r" + text + pad)
        self.stream.flush()

    def _make_tqdm(self, total: int):
        """A tqdm bar of ``total`` tasks, or None when tqdm is not installed."""
        try:
            import tqdm
        except ImportError:
            return None
        # No monitor thread: measurements fork child processes, and a
        # thread holding a lock at fork time could stall a child.
        tqdm.tqdm.monitor_interval = 0
        return tqdm.tqdm(total=total, desc=self.desc, file=self.stream, leave=False,
                         unit="run")

    def close(self) -> None:
        """Remove the progress display."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        elif self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False
