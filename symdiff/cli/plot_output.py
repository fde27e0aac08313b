"""``--plot FILE`` of the compare views: checked before the measurement
(:func:`check_plot_target`), drawn into a temporary file and then written
(:func:`draw_plot`), so a failed write names the file and loses nothing."""

from __future__ import annotations

import os

from symdiff.cli.common import UsageError, check_output_path, write_output

__all__ = ["check_plot_target", "draw_plot"]


def check_plot_target(args) -> None:
    """Fail before a long measurement if the plot ``args.plot`` cannot be
    drawn: no matplotlib, a format it does not write, or a path that
    cannot be written (:func:`check_output_path`; never the input file)."""
    from symdiff.lab.plots import MatplotlibMissing, require_matplotlib

    path = args.plot
    try:
        require_matplotlib()
    except MatplotlibMissing as exc:
        raise UsageError(f"--plot: {exc}; leave out --plot to get the numbers as a table") \
            from None
    check_output_path(path, "--plot", [args.file] if args.file else [])
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext:
        from matplotlib.figure import Figure

        formats = Figure().canvas.get_supported_filetypes()
        if ext not in formats:
            raise UsageError(f"--plot {path}: matplotlib cannot write .{ext} files; use one "
                             f"of {', '.join('.' + f for f in sorted(formats))}")


def draw_plot(plot_fn, data, args, **kw) -> None:
    """Draw ``data`` with ``plot_fn(data, path, **kw)`` into ``args.plot``:
    into a temporary file first, then written (a failed write, a full disk,
    is an error naming the file, never a silent loss)."""
    import tempfile

    path = args.plot
    ext = os.path.splitext(path)[1] or ".png"
    with tempfile.TemporaryDirectory(prefix="symdiff-plot-") as tmp:
        staged = os.path.join(tmp, "plot" + ext)
        plot_fn(data, staged, **kw)
        with open(staged, "rb") as fh:
            picture = fh.read()
    write_output(path, picture, "--plot", [args.file] if args.file else [])
