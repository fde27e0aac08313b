"""Jupyter display hooks: LaTeX for expressions and derivative lists, SVG
of the graph through Graphviz, and dir(symdiff) listing the lazy names."""

from __future__ import annotations

import pickle
import subprocess

import pytest

import symdiff as sd
from symdiff.core import display

x, z = sd.symbols("x z")


def test_node_latex():
    assert (x ** 2 / z)._repr_latex_() == r"$\frac{x^{2}}{z}$"
    assert sd.sin(x)._repr_latex_() == r"$\sin\left(x\right)$"
    X = sd.tensor("X", ("m", 3))
    w = sd.tensor("w", (3,))
    assert (X @ w)._repr_latex_() == "$X w$"


def test_gradient_list_latex_and_list_behaviour():
    f = x ** 2 * z
    g = sd.grad(f)
    assert g._repr_latex_() == (r"$\begin{bmatrix} " + sd.to_latex(g[0]) + r" \\ "
                                + sd.to_latex(g[1]) + r" \end{bmatrix}$")
    # still a list: equality, slicing, pickling
    assert g == [z * (2 * x), x ** 2]
    assert isinstance(g, list) and g[:1] == [g[0]]
    back = pickle.loads(pickle.dumps(g))
    assert back == g and back[0] is g[0]
    H = sd.hessian(f)
    assert H._repr_latex_() == r"$\begin{bmatrix} 2 z & 2 x \\ 2 x & 0 \end{bmatrix}$"
    J = sd.jacobian([f, sd.sin(x)], [x, z])
    assert J._repr_latex_().startswith(r"$\begin{bmatrix}")


def test_svg_with_graphviz(fake_dot):
    svg = sd.exp(x * z)._repr_svg_()
    assert svg is not None and "<svg" in svg
    (call,) = fake_dot.calls()
    assert call["argv"][0] == "-Tsvg" and "digraph" in call["stdin"]


def test_svg_is_none_without_graphviz_or_when_dot_fails(fake_dot, monkeypatch):
    monkeypatch.setenv("FAKE_DOT_FAIL", "1")
    assert sd.exp(x)._repr_svg_() is None
    monkeypatch.setenv("PATH", "")
    assert sd.exp(x)._repr_svg_() is None


def test_svg_gives_up_after_the_timeout(fake_dot, monkeypatch):
    def slow(*args, **kwargs):
        assert kwargs["timeout"] == display.DOT_TIMEOUT_SECONDS
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    monkeypatch.setattr(display.subprocess, "run", slow)
    assert sd.exp(x)._repr_svg_() is None


def test_big_graphs_are_not_drawn(fake_dot):
    e = x
    for _ in range(display.MAX_SVG_NODES + 1):
        e = sd.sin(e)
    assert e._repr_svg_() is None
    assert fake_dot.calls() == []


@pytest.mark.parametrize("name", ["compile", "parse", "to_sympy", "Scalar", "value_and_grad",
                                  "Objective", "LeastSquares", "stabilize", "exp", "grad"])
def test_dir_lists_lazy_names(name):
    """Regression: dir(sd) (and tab completion) missed the lazily loaded names."""
    assert name in dir(sd)
