"""Built-in example models, shared by the CLI, benchmarks, examples and tests.

Each builder returns ``(f, params)``: a scalar expression and the ordered
list of symbols it is differentiated by.
"""

from __future__ import annotations

import numpy as np

import symdiff as sd
from symdiff.core import builders as B
from symdiff.core.node import Node, symbol
from symdiff.lab.names import LECTURE_EXAMPLE, SCALING_MODEL_NAMES
from symdiff.text.parser import parse

__all__ = ["corpus", "LECTURE_EXAMPLE", "RUNNING_EXAMPLE", "lecture_example", "running_example",
           "prod", "rosenbrock", "tanh_chain", "softmax_regression_loss", "mlp_loss",
           "SCALING_MODELS", "SCALING_MODEL_DESCRIPTIONS"]

# LECTURE_EXAMPLE (y = e^{xz} + xz/ln x + sin(ln x)/(xz), differentiated at
# x = 2, z = 3 in the lectures) lives in symdiff.lab.names, for the command
# line; it is re-exported here.

#: f(x, y) = log(1 + e^{-(x+y)}) (x + y), the lectures' running example.
RUNNING_EXAMPLE = "log(1 + exp(-(x + y)))*(x + y)"


def lecture_example():
    """The lectures' y = e^{xz} + xz/ln x + sin(ln x)/(xz) and [x, z]."""
    f = parse(LECTURE_EXAMPLE)
    return f, [symbol("x"), symbol("z")]


def running_example():
    """The lectures' f(x, y) = log(1 + e^{-(x+y)})(x + y) and [x, y]."""
    f = parse(RUNNING_EXAMPLE)
    return f, [symbol("x"), symbol("y")]


def prod(n: int):
    """x1 * x2 * ... * xn as a left-to-right chain: the example whose naive
    symbolic gradient costs n(n-1) multiplications."""
    xs = [symbol(f"x{i}") for i in range(1, n + 1)]
    p: Node = xs[0]
    for v in xs[1:]:
        p = p * v
    return p, xs


def rosenbrock(n: int):
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 over n variables."""
    xs = [symbol(f"x{i}") for i in range(1, n + 1)]
    terms = [100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(n - 1)]
    return B.sum(terms), xs


def tanh_chain(n: int):
    """tanh(tanh(...tanh(x))) n levels deep: a deep, narrow graph."""
    x = symbol("x")
    f: Node = x
    for _ in range(n):
        f = B.function("tanh")(f)
    return f, [x]


def _sample(n_features: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, n_features).round(3)


def softmax_regression_loss(n_classes: int = 10, n_features: int = 64, label: int = 3,
                            x: np.ndarray | None = None):
    """Cross-entropy of a linear softmax classifier on one sample:
    -h_y + log sum_j exp(h_j) with h = W x + b (W: classes x features)."""
    W = B.matrix("W", n_classes, n_features)
    b = B.vector("b", n_classes)
    x = _sample(n_features) if x is None else np.asarray(x, dtype=float)
    h = B.dot(W, x) + b
    loss = B.function("log")(B.sum(B.function("exp")(h))) - h[label]
    return loss, list(W.ravel()) + list(b)


def mlp_loss(sizes=(64, 32, 10), label: int = 3, x: np.ndarray | None = None,
             activation: str = "tanh"):
    """Cross-entropy of an MLP (tanh hidden layers, softmax output) on one
    sample.  The default 64-32-10 network has 2,410 parameters."""
    x = _sample(sizes[0]) if x is None else np.asarray(x, dtype=float)
    act = B.function(activation)
    params: list = []
    a = x
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        W = B.matrix(f"W{layer}_", n_out, n_in)
        b = B.vector(f"b{layer}_", n_out)
        params += list(W.ravel()) + list(b)
        h = B.dot(W, a) + b
        a = act(h) if layer < len(sizes) - 1 else h
    loss = B.function("log")(B.sum(B.function("exp")(a))) - a[label]
    return loss, params


def _mlp_by_size(n: int):
    # Scaling family for `symdiff compare --scaling mlp`: a 1-hidden-layer
    # network with n inputs, 8 hidden units and 4 classes.
    return mlp_loss((n, 8, 4), label=1)


#: name -> builder(n) for `symdiff compare --scaling`.
SCALING_MODELS = {
    "prod": prod,
    "rosenbrock": rosenbrock,
    "chain": tanh_chain,
    "mlp": _mlp_by_size,
}
if tuple(SCALING_MODELS) != SCALING_MODEL_NAMES:
    raise AssertionError("symdiff.lab.names.SCALING_MODEL_NAMES must list the keys of "
                         "SCALING_MODELS, in order")

#: name -> one-line description of the SCALING_MODELS entry (table headers).
SCALING_MODEL_DESCRIPTIONS = {
    "prod": "f = x1*x2*...*xn",
    "rosenbrock": "f = sum 100(x[i+1] - x[i]^2)^2 + (1 - x[i])^2",
    "chain": "f = tanh(tanh(...tanh(x))), n levels, 1 input",
    "mlp": "cross-entropy of an n-8-4 tanh MLP, 9n+44 parameters",
}


def corpus() -> list:
    """Test and benchmark problems: ``(name, expression, point)`` triples with
    well-scaled points (every coordinate O(1), away from kinks, ties and
    domain boundaries), covering every smooth op of the table, shared
    subexpressions, deep compositions and the lectures' worked examples."""
    x, y, z, w = sd.symbols("x y z w")
    u = x * y + z                        # shared subexpression
    deep = x
    for _ in range(25):                  # a 25-level composition
        deep = sd.sin(deep) * 0.9 + 0.1 * y
    cases = [
        ("lecture_y", sd.exp(x * z) + x * z / sd.log(x) + sd.sin(sd.log(x)) / (x * z),
         {"x": 2.0, "z": 3.0}),
        ("lecture_f", sd.log(1 + sd.exp(-(x + y))) * (x + y), {"x": 0.5, "y": 1.25}),
        ("polynomial", x ** 3 * y - 2 * x * y ** 2 + y ** 4, {"x": 1.3, "y": -0.7}),
        ("rational", (x * y + 1) / (x ** 2 + y ** 2 + 1), {"x": 0.8, "y": -1.1}),
        ("trig", sd.sin(x) * sd.cos(y) + sd.tan(x * y / 4), {"x": 0.9, "y": 1.2}),
        ("hyperbolic", sd.tanh(x) * sd.sinh(y) / sd.cosh(x - y), {"x": 0.4, "y": -0.6}),
        ("inverse_trig", sd.asin(x / 2) + sd.acos(y / 3) + sd.atan(x * y),
         {"x": 0.7, "y": -1.4}),
        ("exp_log", sd.log1p(x ** 2) + sd.expm1(y / 2) - sd.sqrt(x ** 2 + y ** 2 + 1),
         {"x": 1.1, "y": 0.3}),
        ("logsumexp", sd.log(sd.exp(x) + sd.exp(y) + sd.exp(z)) - y,
         {"x": 0.2, "y": -0.5, "z": 1.0}),
        ("general_pow", x ** y + y ** (x / 2), {"x": 1.7, "y": 0.6}),
        ("shared", u * sd.sin(u) + sd.exp(-u ** 2), {"x": 0.6, "y": 0.7, "z": -0.3}),
        ("deep", deep, {"x": 0.8, "y": 0.5}),
        ("product", x * y * z * w * (x + w) * (y - z), {"x": 1.2, "y": 0.9, "z": -0.8, "w": 1.1}),
        ("logistic", sd.sigmoid(0.3 + 1.5 * x - 2 * y) * sd.softplus(z - x),
         {"x": 0.4, "y": 0.1, "z": 0.9}),
        ("nonsmooth", sd.relu(x - y) + sd.abs(y * z) + sd.max(x, y, z) - sd.min(x * y, z),
         {"x": 1.3, "y": -0.4, "z": 0.7}),
    ]
    return cases
