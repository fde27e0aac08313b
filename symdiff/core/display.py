"""Rich display of expressions in Jupyter (IPython's ``_repr_*_`` hooks).

``Node._repr_latex_`` and :class:`ExprList` (what ``grad``, ``jacobian``
and ``hessian`` return for lists) render through the LaTeX printer;
``Node._repr_svg_`` draws the computation graph with Graphviz ``dot`` when
it is on PATH.  The printers live in :mod:`symdiff.text`, a layer above
core: they are imported here only when a notebook asks for a rendering
(tests/test_layout.py lists this as an allowed upward import).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

__all__ = ["ExprList", "latex_of", "svg_of", "DOT_TIMEOUT_SECONDS"]

#: How long ``dot -Tsvg`` may run before the SVG rendering is given up
#: (IPython then falls back to the LaTeX or text form).
DOT_TIMEOUT_SECONDS = 10.0
# Graphs bigger than this are not drawn inline (dot's layout time grows
# quickly and a notebook cell would stall); the text forms still show.
MAX_SVG_NODES = 400


def _latex_body(item) -> str:
    from symdiff.core.node import Node
    from symdiff.text.latex import to_latex

    if isinstance(item, Node):
        return to_latex(item)
    if isinstance(item, (list, tuple)):
        rows = list(item)
        if rows and all(isinstance(r, (list, tuple)) for r in rows):
            body = r" \\ ".join(" & ".join(_latex_body(e) for e in r) for r in rows)
        else:
            body = r" \\ ".join(_latex_body(e) for e in rows)
        return r"\begin{bmatrix} " + body + r" \end{bmatrix}"
    return to_latex(item)


def latex_of(item) -> str:
    """``$...$`` LaTeX of an expression, or of a (nested) list of them as a
    column / matrix, for Jupyter."""
    return f"${_latex_body(item)}$"


def svg_of(node) -> str | None:
    """SVG of the computation graph of ``node`` by Graphviz ``dot``, or
    None when ``dot`` is not on PATH, fails, times out, or the graph is too
    big to draw inline."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    from symdiff.core.graph import toposort
    from symdiff.text.dot import to_dot

    if len(toposort([node])) > MAX_SVG_NODES:
        return None
    with tempfile.TemporaryDirectory(prefix="symdiff-svg-") as tmp:
        path = os.path.join(tmp, "graph.svg")
        try:
            done = subprocess.run([exe, "-Tsvg", "-o", path], input=to_dot([node]).encode(),
                                  capture_output=True, timeout=DOT_TIMEOUT_SECONDS,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0 or not os.path.exists(path):
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()


class ExprList(list):
    """A list of expressions (a gradient; rows of a Jacobian or Hessian) that
    Jupyter shows as LaTeX.  Otherwise a plain list: equal to lists with the
    same entries, pickles, slices to plain lists."""

    __slots__ = ()

    def _repr_latex_(self) -> str:
        return latex_of(self)
