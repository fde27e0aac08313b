"""Plots for ``symdiff compare``: gradient cost against n, and the
finite-difference error against the step size.

matplotlib is an optional dependency: it is imported only when a plot is
drawn, and :class:`MatplotlibMissing` says how to get it.  Figures are drawn
on matplotlib's Agg canvas directly (no pyplot), so plotting never opens a
window, needs no display and leaves pyplot's global state alone.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MatplotlibMissing", "require_matplotlib", "plot_scaling", "plot_fd_sweep"]


class MatplotlibMissing(ImportError):
    """Raised when a plot is asked for and matplotlib is not installed."""


_HINT = "plotting needs matplotlib, which is not installed (pip install matplotlib)"


def require_matplotlib() -> None:
    """Raise :class:`MatplotlibMissing` unless matplotlib can be imported
    (call before a long measurement whose result is to be plotted)."""
    try:
        import matplotlib  # noqa: F401 - only checks that it is installed
    except ImportError:
        raise MatplotlibMissing(_HINT) from None


def _figure(width: float, height: float):
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


# One colour, marker and line style per approach, the same in both panels.
# Symbolic and reverse mode have almost the same operation counts (both
# about 3|f|): the wide solid line under a dashed one keeps both visible.
_STYLE = {
    "symbolic": ("tab:blue", "o", dict(linewidth=3.5, alpha=0.8)),
    "compiled": ("tab:cyan", "D", {}),
    "forward": ("tab:orange", "s", {}),
    "reverse": ("tab:green", "^", dict(linestyle="--")),
    "central_difference": ("tab:purple", "v", {}),
    "naive_symbolic": ("tab:red", "X", {}),
}


def _ok_points(rows, approach, attr):
    pts = [(r.n, getattr(r, attr)) for r in rows
           if r.approach == approach and r.status == "ok" and getattr(r, attr)]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_scaling(rows, path, model: str = "", timeout: float | None = None) -> None:
    """Draw :func:`symdiff.lab.scaling.scaling` results as two log-log panels,
    operations vs n and time vs n, one line per approach (same colour in
    both, one legend below them), and save to ``path`` (format from the
    extension, e.g. PNG).

    The compiled gradient runs the same CSE'd program as the symbolic one,
    so the symbolic line stands for both in the operations panel.  An
    approach that hit the time cap ends where it did, and its legend entry
    says so.
    """
    from matplotlib.lines import Line2D

    from symdiff.lab.scaling import APPROACH_LABELS

    fig = _figure(13, 5.6)
    ax_ops, ax_time = fig.subplots(1, 2)
    approaches = list(dict.fromkeys(r.approach for r in rows))
    stopped = {}
    for r in rows:
        if r.status == "timeout":
            stopped.setdefault(r.approach, f"over the {timeout:g} s cap at n={r.n}"
                               if timeout else f"timed out at n={r.n}")
        elif r.status == "failed":
            stopped.setdefault(r.approach, f"failed at n={r.n}")
    handles = []
    for approach in approaches:
        color, marker, extra = _STYLE.get(approach, ("black", "o", {}))
        style = dict(marker=marker, color=color, **extra)
        label = APPROACH_LABELS.get(approach, approach)
        if approach in stopped:
            label += f": {stopped[approach]}"
        handles.append(Line2D([], [], label=label, **style))
        ns, secs = _ok_points(rows, approach, "seconds")
        if ns:
            ax_time.loglog(ns, secs, **style)
        if approach != "compiled":
            ns, ops = _ok_points(rows, approach, "ops")
            if ns:
                ax_ops.loglog(ns, ops, **style)
    # |f| itself, the yardstick of every ratio.
    sizes = sorted({r.n: r.f_ops for r in rows}.items())
    if sizes:
        ax_ops.loglog([s[0] for s in sizes], [s[1] for s in sizes], ":", color="black")
        handles.append(Line2D([], [], linestyle=":", color="black",
                              label="|f| (operations of f itself)"))
    if timeout:
        ax_time.axhline(timeout, color="grey", linestyle="--", linewidth=1)
        handles.append(Line2D([], [], linestyle="--", color="grey", linewidth=1,
                              label=f"time cap ({timeout:g} s per measurement)"))
    name = f"{model}: " if model else ""
    ax_ops.set_title(f"{name}operations per gradient\n"
                     "(compiled runs the symbolic gradient's program: same count)", fontsize=10)
    ax_ops.set_xlabel("n")
    ax_ops.set_ylabel("operations")
    ax_time.set_title(f"{name}time\n(symbolic approaches: building the gradient once; "
                      "others: one gradient)", fontsize=10)
    ax_time.set_xlabel("n")
    ax_time.set_ylabel("seconds")
    for ax in (ax_ops, ax_time):
        ax.grid(True, which="major", alpha=0.4)
        ax.grid(True, which="minor", alpha=0.12)
    fig.tight_layout()
    # One legend for both panels, below them: inside, it would hide lines.
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
               fontsize=8.5, frameon=False)
    fig.savefig(path, bbox_inches="tight")


def plot_fd_sweep(sweep, path, expr_label: str = "") -> None:
    """Draw a :func:`symdiff.lab.fd_sweep.fd_sweep` result: relative error of
    forward and central differences against the step (log-log), with each
    method's default step marked, and save to ``path``.  Steps at which no
    error can be plotted (0, or NaN where x + h == x) are left out."""
    fig = _figure(8.5, 5.6)
    ax = fig.subplots()
    eps = float(np.finfo(np.float64).eps)
    styles = {"forward": ("tab:orange", "o", "forward difference  (f(x+h) - f(x)) / h"),
              "central": ("tab:blue", "s", "central difference  (f(x+h) - f(x-h)) / 2h")}
    for method, errs in (("forward", sweep.forward), ("central", sweep.central)):
        color, marker, label = styles[method]
        e = np.asarray(errs, dtype=float)
        shown = np.where(e > 0, e, np.nan)  # log axes cannot show 0
        ax.loglog(sweep.steps, shown, marker=marker, markersize=3.5, linewidth=1.2,
                  color=color, label=label)
        h = sweep.default_steps[method]
        err = sweep.default_errors[method]
        ax.axvline(h, color=color, linestyle=":", linewidth=1.2)
        if err > 0 and math.isfinite(err):
            ax.plot([h], [err], marker="*", markersize=16, color=color,
                    markeredgecolor="black", linestyle="none",
                    label=f"default {method} step h = {h:.2g}  (error {err:.1e})")
    ax.axhline(eps, color="grey", linestyle="--", linewidth=1,
               label=f"machine epsilon ({eps:.1e})")
    at = ", ".join(f"{k}={v:g}" for k, v in sweep.point.items())
    what = f"d/d{sweep.var}" + (f" of {expr_label}" if expr_label else "")
    ax.set_title(f"finite-difference error of {what}\nat {at}", fontsize=10)
    ax.set_xlabel("step h")
    ax.set_ylabel("relative error")
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", alpha=0.12)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
