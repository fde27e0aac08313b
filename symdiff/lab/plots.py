"""Plots for ``symdiff compare``: gradient cost against n, the
finite-difference error against the step size, and the bits of error of f
and its partials across a domain (``--accuracy``).

matplotlib is an optional dependency: it is imported only when a plot is
drawn, and :class:`MatplotlibMissing` says how to get it.  Figures are drawn
on matplotlib's Agg canvas directly (no pyplot), so plotting never opens a
window, needs no display and leaves pyplot's global state alone.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MatplotlibMissing", "require_matplotlib", "plot_scaling", "plot_fd_sweep",
           "plot_accuracy"]


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


# One colour and marker per accuracy method.  Exact results pile up at 0
# bits: markers shrink from the first method to the last and are hollow,
# so every method stays visible where they overlap.
_ACCURACY_STYLE = {
    "compiled": ("tab:blue", "o"),
    "compiled_stable": ("tab:green", "s"),
    "interpreter": ("tab:cyan", "D"),
    "interpreter_stable": ("tab:olive", "P"),
    "jax": ("tab:red", "^"),
    "sympy": ("tab:purple", "v"),
}


def _accuracy_x(ax, values: np.ndarray) -> tuple[np.ndarray, str]:
    """Where to draw ``values`` on the x axis, and a note for its label.

    Values spanning few decades: a linear axis.  Positive values spanning
    many: a log axis.  Both signs over many decades: a signed log axis,
    ``sign(x) * (1 + log10|x| - lo)`` beyond the smallest decade ``lo``
    sampled and linear inside it.  It is computed here rather than with
    matplotlib's log and symlog scales, whose transforms overflow when the
    values come near 1e308 or span more than 308 decades (bit-pattern
    samples span 600).  A few decade
    ticks per side, not one per decade."""
    v = values[np.isfinite(values)]
    mags = np.abs(v[v != 0])
    if not mags.size:
        return values, ""
    lo = math.floor(math.log10(mags.min()))
    hi = math.ceil(math.log10(mags.max()))
    if hi - lo <= 3:
        return values, ""
    decades = sorted({int(round(e)) for e in np.linspace(lo, hi, 4 if (v < 0).any() else 6)})
    if (v > 0).all():
        # log10 by hand too: matplotlib's log axis overflows in its margins
        # near 1e308.
        with np.errstate(all="ignore"):
            placed = np.log10(values)
        ax.set_xticks(decades, [f"$10^{{{e}}}$" for e in decades])
        return placed, " (log scale)"
    with np.errstate(all="ignore"):
        a = np.abs(values)
        placed = np.where(a >= 10.0 ** lo, np.sign(values) * (1.0 + np.log10(a) - lo),
                          values / 10.0 ** lo)
    # +-10^lo would print on top of the 0 tick: the linear part is narrow.
    decades = [e for e in decades if e > lo] or [hi]
    neg, pos = (v < 0).any(), (v > 0).any()
    ticks, text = [0.0], ["0"]
    for e in decades:
        if pos:
            ticks.append(1.0 + e - lo)
            text.append(f"$10^{{{e}}}$")
        if neg:
            ticks.insert(0, -(1.0 + e - lo))
            text.insert(0, f"$-10^{{{e}}}$")
    ax.set_xticks(ticks, text)
    return placed, " (signed log scale)"


def plot_accuracy(result, path, expr_label: str = "", labels=None) -> None:
    """Draw a :func:`symdiff.lab.expr_accuracy.measure_expression` result:
    one panel for f and one per partial, bits of error (log2(1 + ulps))
    against the input (f against the first variable, each partial against
    its own variable), one marker colour per method, NaN/inf results at
    the top line; save to ``path``.  ``labels``: method -> legend text."""
    from matplotlib.lines import Line2D

    from symdiff.lab.bits import NON_FINITE_BITS
    from symdiff.lab.expr_accuracy import output_summaries

    outputs = result.outputs
    n = len(outputs)
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig = _figure(6.4 * cols, 4.2 * rows + 0.8)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    ran = [m for m, acc in result.methods.items() if acc.values is not None]
    sizes = np.linspace(46, 10, max(1, len(ran)))
    handles = []
    for method in ran:
        color, marker = _ACCURACY_STYLE.get(method, ("black", "o"))
        summ = output_summaries(result, method)
        mean_f = summ[0].mean
        mean_g = (sum(s.mean * s.points for s in summ[1:]) / max(1, sum(s.points
                                                                       for s in summ[1:])))
        text = (labels or {}).get(method, method)
        handles.append(Line2D([], [], linestyle="none", marker=marker, markersize=7,
                              markerfacecolor="none", color=color,
                              label=f"{text}: f {mean_f:.1f} bits, partials {mean_g:.1f}"))
    for j, (ax, name) in enumerate(zip(axes, outputs)):
        var = 0 if j == 0 else j - 1
        x, scale = _accuracy_x(ax, result.X[:, var])
        ref = result.reference.values[:, j]
        for k, method in enumerate(ran):
            acc = result.methods[method]
            color, marker = _ACCURACY_STYLE.get(method, ("black", "o"))
            keep = np.isfinite(ref)
            ax.scatter(x[keep], acc.bits[keep, j], s=float(sizes[k]), marker=marker,
                       facecolors="none", edgecolors=color, linewidths=0.9, alpha=0.8)
        dropped = int((~np.isfinite(ref)).sum())
        ax.axhline(NON_FINITE_BITS, color="grey", linestyle="--", linewidth=0.8)
        ax.set_ylim(-2, NON_FINITE_BITS + 3)
        # NaN/inf results sit on the top line, labelled on the axis.
        ticks = [0, 10, 20, 30, 40, 53, NON_FINITE_BITS]
        ax.set_yticks(ticks, [str(t) for t in ticks[:-1]] + ["NaN/inf"])
        ax.set_xlabel((result.names[var] if result.names else "input") + scale)
        ax.set_ylabel("bits of error")
        extra = f" ({dropped} points without a finite reference)" if dropped else ""
        ax.set_title(f"{name}{extra}", fontsize=10)
        ax.grid(True, alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    title = f"bits of error of {expr_label}" if expr_label else "bits of error"
    dom = ", ".join(f"{k}={iv}" for k, iv in result.domains.items())
    fig.suptitle(f"{title}\n{len(result.X)} points uniform over the float64 bit patterns "
                 f"of {dom}", fontsize=10)
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(3, max(1, len(handles))), fontsize=8.5, frameon=False)
    fig.savefig(path, bbox_inches="tight")
