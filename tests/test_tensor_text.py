"""Printing and parsing of tensor expressions: the lectures' four targets as
exact text (to_string, to_program, to_latex), composites, every structural
op and leaf through the printer and back, declarations and tensor syntax
in the parser with their errors, random tensor expressions round-tripping,
and deep tensor graphs through every printer at the default recursion
limit."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symdiff as sd
from symdiff import ParseError, parse, parse_program, to_latex, to_program, to_string
from symdiff.core import symbolic as S
from symdiff.core.graph import as_outputs, free_symbols, reachable
from symdiff.core.node import array_const, dim, eye
from symdiff.core.ops import TENSOR_OPS
from symdiff.text.composites import COMPOSITES, View

X = sd.tensor("X", ("m", 64))
Theta = sd.tensor("Theta", (64, 10))
y = sd.tensor("y", ("m",), dtype=int)
W1 = sd.tensor("W1", (64, 32))
W2 = sd.tensor("W2", (32, 10))
A = sd.tensor("A", ("n", "n"))
x = sd.tensor("x", ("n",))
B = sd.tensor("A", ("k", "n"))      # least squares: A is k x n there
b = sd.tensor("b", ("k",))


def softmax_loss(Z):
    Iy = sd.onehot(y, 10)
    return sd.mean(sd.logsumexp(Z, axis=1) - sd.sum(Iy * Z, axis=1))


def declared(e) -> list:
    """The symbols and dimensions of ``e``: what parsing its text needs."""
    return free_symbols(e) + [n for n in reachable(as_outputs(e)) if n.op == "dim"]


def round_trips(e) -> bool:
    """parse(to_string(e)) is e, with e's symbols declared."""
    return parse(to_string(e), symbols=declared(e)) is e


# ---------------------------------------------------------------------------
# The four targets, exact


def test_softmax_regression_gradient():
    Z = X @ Theta
    loss = softmax_loss(Z)
    g = sd.grad(loss, Theta)
    assert to_string(g) == "X.T @ (softmax(X @ Theta, axis=1) - onehot(y, 10)) / m"
    assert to_string(loss) == \
        "mean(logsumexp(X @ Theta, axis=1) - sum(X @ Theta * onehot(y, 10), axis=1))"
    assert to_program([loss, g], names=["f", "df/dTheta"]) == "\n".join([
        "t1 = X @ Theta                                           # m x 10",
        "t2 = onehot(y, 10)                                       # m x 10",
        "f = mean(logsumexp(t1, axis=1) - sum(t1 * t2, axis=1))   # scalar",
        "df/dTheta = X.T @ (softmax(t1, axis=1) - t2) / m         # 64 x 10",
    ])
    # the program's own names for shared values
    Iy = sd.onehot(y, 10)
    assert to_program([loss, g], names=["f", "df/dTheta"], temps={Z: "Z", Iy: "Iy"}) == \
        "\n".join([
            "Z = X @ Theta                                          # m x 10",
            "Iy = onehot(y, 10)                                     # m x 10",
            "f = mean(logsumexp(Z, axis=1) - sum(Z * Iy, axis=1))   # scalar",
            "df/dTheta = X.T @ (softmax(Z, axis=1) - Iy) / m        # 64 x 10",
        ])
    assert to_latex(g) == (r"\frac{X^\top \left(\operatorname{softmax}\left(X \Theta\right)"
                           r" - I_{y}\right)}{m}")
    assert round_trips(g) and round_trips(loss)


def test_softmax_regression_one_product_each_way():
    loss = softmax_loss(X @ Theta)
    text = to_program([loss, sd.grad(loss, Theta)])
    assert text.count("@") == 2        # X @ Theta, X.T @ (...)


def test_two_layer_network_backprop_recursion():
    Z1 = sd.tanh(X @ W1)
    loss = softmax_loss(Z1 @ W2)
    dW1, dW2 = sd.grad(loss, [W1, W2])
    assert to_program([loss, dW1, dW2], names=["f", "dW1", "dW2"]) == "\n".join([
        "t1 = X @ W1                                              # m x 32",
        "t2 = tanh(t1)                                            # m x 32",
        "t3 = t2 @ W2                                             # m x 10",
        "t4 = onehot(y, 10)                                       # m x 10",
        "t5 = softmax(t3, axis=1) - t4                            # m x 10",
        "t6 = cosh(t1)                                            # m x 32",
        "f = mean(logsumexp(t3, axis=1) - sum(t4 * t3, axis=1))   # scalar",
        "dW1 = X.T @ (t5 @ W2.T / m / t6 / t6)                    # 64 x 32",
        "dW2 = t2.T @ t5 / m                                      # 32 x 10",
    ])
    # G2 = t3 (up to 1/m), G1 = (G2 W2^T) / cosh(X W1)^2 (tanh' = 1/cosh^2,
    # divided twice: cosh^2 overflows from |x| = 355); each product once
    assert to_program([dW1, dW2], names=["dW1", "dW2"]) == "\n".join([
        "t1 = X @ W1                                     # m x 32",
        "t2 = tanh(t1)                                   # m x 32",
        "t3 = softmax(t2 @ W2, axis=1) - onehot(y, 10)   # m x 10",
        "t4 = cosh(t1)                                   # m x 32",
        "dW1 = X.T @ (t3 @ W2.T / m / t4 / t4)           # 64 x 32",
        "dW2 = t2.T @ t3 / m                             # 32 x 10",
    ])
    assert to_latex(dW2) == (
        r"\frac{\tanh\left(X W_{1}\right)^\top \left(\operatorname{softmax}\left("
        r"\tanh\left(X W_{1}\right) W_{2}\right) - I_{y}\right)}{m}")
    assert to_latex(dW1) == (
        r"X^\top \frac{\frac{\frac{\left(\operatorname{softmax}\left(\tanh\left(X W_{1}"
        r"\right) W_{2}\right) - I_{y}\right) W_{2}^\top}{m}}{\cosh\left(X W_{1}\right)}}"
        r"{\cosh\left(X W_{1}\right)}")
    assert round_trips(dW1) and round_trips(dW2)


def test_quadratic_form():
    f = x @ (A @ x)
    g, H = sd.grad(f, x), sd.hessian(f, x)
    assert (to_string(f), to_string(g), to_string(H)) == \
        ("x @ (A @ x)", "(A + A.T) @ x", "A + A.T")
    assert to_program([f, g, H], names=["f", "g", "H"]) == "\n".join([
        "t1 = A + A.T      # n x n",
        "f = x @ (A @ x)   # scalar",
        "g = t1 @ x        # n",
        "H = t1            # n x n",
    ])
    assert to_latex([f, g, H]) == [r"x^\top \left(A x\right)",
                                   r"\left(A + A^\top\right) x", r"A + A^\top"]
    assert all(round_trips(e) for e in (f, g, H))


def test_least_squares():
    f = 0.5 * sd.sum((B @ x - b) ** 2)
    g, H = sd.grad(f, x), sd.hessian(f, x)
    assert (to_string(g), to_string(H)) == ("A.T @ (A @ x - b)", "A.T @ A")
    # A.T is shared by g and H but printed in place: a view, no work
    assert to_program([f, g, H], names=["f", "g", "H"]) == "\n".join([
        "t1 = A @ x - b      # k",
        "f = 0.5*sum(t1^2)   # scalar",
        "g = A.T @ t1        # n",
        "H = A.T @ A         # n x n",
    ])
    assert to_latex([f, g, H]) == [
        r"0.5 \operatorname{sum}\left(\left(A x - b\right)^{2}\right)",
        r"A^\top \left(A x - b\right)", r"A^\top A"]
    assert all(round_trips(e) for e in (f, g, H))


# ---------------------------------------------------------------------------
# Composites


def test_composites_print_as_their_call_and_hide_their_internals():
    Z = X @ Theta
    assert to_string(sd.softmax(Z, axis=1)) == "softmax(X @ Theta, axis=1)"
    assert to_string(sd.softmax(x)) == "softmax(x, axis=0)"
    assert to_string(sd.logsumexp(Z, axis=1, keepdims=True)) == \
        "logsumexp(X @ Theta, axis=1, keepdims=True)"
    assert to_string(sd.logsumexp(x)) == "logsumexp(x)"
    assert to_string(sd.mean(X)) == "mean(X)"
    assert to_string(sd.mean(X, axis=0, keepdims=True)) == "mean(X, axis=0, keepdims=True)"
    assert to_string(sd.mean(sd.tensor("U", (2, 3, 4)), axis=(0, 2))) == \
        "mean(U, axis=(0, 2))"
    # LaTeX leaves out keywords equal to the builder's defaults
    assert to_latex(sd.softmax(Z, axis=1)) == r"\operatorname{softmax}\left(X \Theta\right)"
    assert to_latex(sd.softmax(Z, axis=0)) == \
        r"\operatorname{softmax}\left(X \Theta, \mathrm{axis}=0\right)"
    # the shift, exponentials and sums get no temporaries ...
    text = to_program([sd.softmax(Z, axis=1), sd.logsumexp(Z, axis=1)])
    assert text == "\n".join(["t1 = X @ Theta                 # m x 10",
                              "out0 = softmax(t1, axis=1)     # m x 10",
                              "out1 = logsumexp(t1, axis=1)   # m"])
    assert sorted(c.build.__name__ for c in COMPOSITES) == ["logsumexp", "mean", "softmax"]


def test_composite_internals_show_where_something_else_uses_them():
    Z = X @ Theta
    c = sd.stop_gradient(sd.max(Z, axis=1, keepdims=True))
    s = sd.sum(sd.exp(Z - c), axis=1, keepdims=True)
    # (a line too long to align with the others keeps its comment close)
    assert to_program([sd.softmax(Z, axis=1), s]) == "\n".join([
        "t1 = X @ Theta               # m x 10",
        "out0 = softmax(t1, axis=1)   # m x 10",
        "out1 = sum(exp(t1 - stop_gradient(max(t1, axis=1, keepdims=True))), axis=1, "
        "keepdims=True)   # m x 1",
    ])


def test_look_alikes_are_not_composites():
    # exp(x)/sum(exp(x)) without the shift is not sd.softmax: it prints as is
    e = sd.exp(x)
    assert to_string(e / sd.sum(e)) == "exp(x) / sum(exp(x))"
    # a sum divided by something else than the count is not a mean
    assert to_string(sd.sum(X, axis=0) / 2) == "sum(X, axis=0) / 2"
    assert View().match(sd.sum(X, axis=0) / dim("m")) is not None


# ---------------------------------------------------------------------------
# Every structural op and leaf, printed and parsed back

C = sd.tensor("C", (3, 4))
v = sd.tensor("v", (3,))

STRUCTURAL = [
    # (expression, text, LaTeX)
    (C @ C.T, "C @ C.T", r"C C^\top"),
    (v @ v, "v @ v", r"v^\top v"),
    (sd.transpose(sd.tensor("U", (2, 3, 4)), (1, 0, 2)), "transpose(U, axes=(1, 0, 2))",
     r"\operatorname{transpose}\left(U, \mathrm{axes}=\left(1, 0, 2\right)\right)"),
    (sd.sum(C, axis=1), "sum(C, axis=1)", r"\operatorname{sum}\left(C, \mathrm{axis}=1\right)"),
    (sd.sum(C, keepdims=True), "sum(C, keepdims=True)",
     r"\operatorname{sum}\left(C, \mathrm{keepdims}=\mathrm{True}\right)"),
    (sd.max(C, axis=0, keepdims=True), "max(C, axis=0, keepdims=True)",
     r"\operatorname{max}\left(C, \mathrm{axis}=0, \mathrm{keepdims}=\mathrm{True}\right)"),
    (sd.reshape(v, (3, 1)), "reshape(v, (3, 1))",
     r"\operatorname{reshape}\left(v, \left(3, 1\right)\right)"),
    (sd.broadcast_to(v, (2, 3)), "broadcast_to(v, (2, 3))",
     r"\operatorname{broadcast\_to}\left(v, \left(2, 3\right)\right)"),
    (C[0, 1:3], "C[0, 1:3]", r"C_{0, 1:3}"),
    (C[:, ::2], "C[:, ::2]", r"C_{:, ::2}"),
    (C[-1], "C[-1]", r"C_{-1}"),
    (S.unindex(v, (1, (None, None, None)), (2, 3)), "unindex(v, [1, :], (2, 3))",
     r"\operatorname{unindex}\left(v, \left[1, :\right], \left(2, 3\right)\right)"),
    (sd.onehot(y, 10), "onehot(y, 10)", r"I_{y}"),
    (sd.stop_gradient(C), "stop_gradient(C)", r"\operatorname{stop\_gradient}\left(C\right)"),
]


def test_every_structural_op_has_a_row():
    # A new structural op fails here until it has a row above.
    assert {e.op for e, _, _ in STRUCTURAL} == set(TENSOR_OPS)


@pytest.mark.parametrize("expr, text, latex", STRUCTURAL, ids=[t for _, t, _ in STRUCTURAL])
def test_structural_ops_print_and_parse_back(expr, text, latex):
    assert to_string(expr) == text
    assert to_latex(expr) == latex
    assert round_trips(expr)


@pytest.mark.parametrize("expr, text, latex", [
    (dim("m"), "m", "m"),
    (eye("n"), "eye(n)", "I"),
    (eye(3) + C @ C.T, "eye(3) + C @ C.T", r"I + C C^\top"),
    (array_const([[1.0, -2.5], [0.0, 4.0]]), "[[1, -2.5], [0, 4]]",
     r"\begin{bmatrix}1 & -2.5 \\ 0 & 4\end{bmatrix}"),
    (array_const([1.0, 2.0]) * v[0:2], "[1, 2] * v[0:2]",
     r"\begin{bmatrix}1 \\ 2\end{bmatrix} \odot v_{0:2}"),
    (X / dim("m"), "X / m", r"\frac{X}{m}"),
])
def test_leaves(expr, text, latex):
    assert to_string(expr) == text
    assert to_latex(expr) == latex
    assert round_trips(expr)


def test_large_constant_arrays_are_named():
    big = array_const(np.arange(20.0).reshape(4, 5))
    e = sd.tensor("D", (4, 5)) * big
    assert to_string(e) == "C1 * D"
    assert to_program([e, big]) == "\n".join([
        "# C1: constant array, 4 x 5",
        "out0 = C1 * D   # 4 x 5",
        "out1 = C1       # 4 x 5",
    ])
    assert to_latex(e) == r"C_{1} \odot D"
    # read back with the name bound
    assert parse("C1 * D", symbols={"D": sd.tensor("D", (4, 5)), "C1": big}) is e
    # a symbol called C1 moves the names to another prefix
    c1 = sd.tensor("C1", (4, 5))
    assert to_string(c1 + big) == "const1 + C1"


def test_spacing():
    s = sd.symbol("s")
    # tensor-valued arithmetic is spaced; scalar arithmetic stays tight
    assert to_string(2 * (C * C) - C / 3) == "2 * (C * C) - C / 3"
    assert to_string(s * sd.sum(C)) == "s*sum(C)"


# ---------------------------------------------------------------------------
# Parsing tensor programs

DECL = "X : m x 64\nTheta : 64 x 10\ny : m int\n"


def test_declarations_make_tensor_symbols():
    prog = parse_program(DECL + "Z = X @ Theta\nsum(Z)")
    assert prog.declarations == {"X": X, "Theta": Theta, "y": y}
    assert prog.outputs == [sd.sum(X @ Theta)]
    assert parse("s : scalar; k : int; 2*s") is 2 * sd.symbol("s")
    assert parse("P : 3x4; P") is sd.tensor("P", (3, 4))
    assert parse("P : 3 x4 float; P") is sd.tensor("P", (3, 4))
    # a dimension name reads as that dimension's size
    assert parse(DECL + "sum(X, axis=0) / m") is sd.mean(X, axis=0)


@pytest.mark.parametrize("text, build", [
    ("X @ Theta", lambda: X @ Theta),
    ("2 * X @ Theta", lambda: (2 * X) @ Theta),
    ("X @ Theta * 2", lambda: (X @ Theta) * 2),
    ("-X.T", lambda: -X.T),
    ("X.T.T", lambda: X),
    ("(X @ Theta).T", lambda: (X @ Theta).T),
    ("X[0]", lambda: X[0]),
    ("X[0, :]", lambda: X[0]),
    ("X[:, 1:3][0]", lambda: X[:, 1:3][0]),
    ("X.T[1, -1]", lambda: X.T[1, -1]),
    ("exp(X)^2", lambda: sd.exp(X) ** 2),
    ("sum(X, axis=1, keepdims=True)", lambda: sd.sum(X, axis=1, keepdims=True)),
    ("max(X, axis=(0, 1))", lambda: sd.max(X)),
    ("max(X)", lambda: sd.max(X)),
    ("max(X, X)", lambda: S.apply("max", X, X)),
    ("max(X, 1)", lambda: S.apply("max", X, 1.0)),
    ("mean(X @ Theta, axis=0)", lambda: sd.mean(X @ Theta, axis=0)),
    ("softmax(X)", lambda: sd.softmax(X)),
    ("logsumexp(X, axis=1)", lambda: sd.logsumexp(X, axis=1)),
    ("onehot(y, k=10)", lambda: sd.onehot(y, 10)),
    ("transpose(X)", lambda: X.T),
    ("reshape(X, (m, 64, 1))", lambda: sd.reshape(X, ("m", 64, 1))),
    ("broadcast_to(Theta[0], (m, 10))", lambda: sd.broadcast_to(Theta[0], ("m", 10))),
    ("stop_gradient(X)", lambda: sd.stop_gradient(X)),
    ("X @ eye(64)", lambda: X),
    ("Theta + [1, -2.5, inf, 0] @ [[1, 0], [0, 1], [2, 2], [1, 1]] @ Theta[0:2]",
     lambda: Theta + (array_const([1, -2.5, np.inf, 0])
                  @ array_const([[1, 0], [0, 1], [2, 2], [1, 1]])) @ Theta[0:2]),
])
def test_tensor_syntax_builds_the_api_node(text, build):
    assert parse(DECL + text) is build()


ERRORS = [
    # text, line, column, caret length, message fragment
    (DECL + "X @ X", 4, 3, 1,
     "matmul: shapes (m, 64) and (m, 64) do not match: 64 (axis 1 of the left) != m"),
    (DECL + "X + Theta", 4, 3, 1, "add: shapes (m, 64) and (64, 10) do not broadcast"),
    (DECL + "exp(y)", 4, 1, 6, "exp: 'y' is an integer tensor (labels)"),
    (DECL + "sum(X, axis=2)", 4, 1, 14, "sum: axis 2 is out of range"),
    (DECL + "sum(X, 1)", 4, 1, 9, "give axis, keepdims by keyword, e.g. sum(x, axis=1)"),
    (DECL + "sum(X, axes=1)", 4, 8, 4, "sum has no parameter 'axes' (parameters: axis, keepdims)"),
    (DECL + "sum(X, axis=1, axis=0)", 4, 16, 4, "sum: axis is given twice"),
    (DECL + "sum(X, keepdims=1)", 4, 1, 18, "keepdims must be True or False"),
    (DECL + "sum(X, axis=1.5)", 4, 13, 3, "expected an integer, True, False, None"),
    (DECL + "onehot(y, k=3, 4)", 4, 16, 1, "must be a keyword argument too"),
    (DECL + "onehot(y)", 4, 1, 9, "onehot needs k, e.g. onehot(x, k)"),
    (DECL + "onehot(y, 10 + 1)", 4, 14, 1, "parameters are literals"),
    (DECL + "max(X, X, axis=0)", 4, 1, 17, "max of 2 arguments is elementwise"),
    (DECL + "sin(X, axis=0)", 4, 8, 4, "sin takes no keyword arguments"),
    (DECL + "X.U", 4, 3, 1, "expected 'T' after '.'"),
    (DECL + "X.", 4, 2, 1, "expected 'T' after '.'"),
    (DECL + "X[0, 1:3, 2]", 4, 2, 11, "index: 3 indices for shape"),
    (DECL + "X[0", 4, 2, 1, "unclosed '['"),
    (DECL + "X[]", 4, 2, 1, "empty index"),
    (DECL + "X[::0]", 4, 5, 1, "a slice step cannot be 0"),
    (DECL + "X[x]", 4, 3, 1, "expected an integer index or slice bound, found 'x'"),
    (DECL + "X : 3", 4, 1, 5, "'X' is already declared as m x 64 on line 1"),
    (DECL + "Z = X\nW : 3", 5, 1, 5, "declarations must come before"),
    (DECL + "m = 3\nm", 4, 1, 1, "cannot assign to 'm': it is a dimension of X"),
    (DECL + "X = 3\nX", 4, 1, 1, "cannot assign to 'X': it is declared as m x 64 on line 1"),
    (DECL + "X(2)", 4, 1, 1, "'X' is a tensor, not a function"),
    (DECL + "X : 3 xx 4", 4, 7, 2, "expected 'x' between dimensions, found 'xx'"),
    ("X : m x\nX", 1, 7, 1, "expected a dimension after 'x'"),
    ("X :\nX", 1, 3, 1, "expected a shape after ':'"),
    ("m : 3\nX : m x 2\nX", 2, 1, 9, "dimension 'm' of X is also declared as 3 on line 1"),
    ("X : e x 2\nX", 1, 5, 1, "'e' cannot be a dimension name: it is a constant"),
    ("sum : 3\nsum", 1, 1, 3, "cannot declare 'sum': it is a function"),
    (DECL, 3, 1, 9, "expected an expression after the declarations"),
    ("[[1, 2], [3]]", 1, 1, 13, "the rows of a list literal must all have the same length"),
    ("[1, x]", 1, 5, 1, "a list literal holds numbers only, found 'x'"),
    ("[1, 2", 1, 1, 1, "unclosed '['"),
    ("x + 1]", 1, 6, 1, "unmatched ']'"),
    ("x[0]", 1, 2, 3, "index: a scalar cannot be indexed"),
    ("x : 3\nx : 3\nx", 2, 1, 5, "'x' is already declared as 3 on line 1"),
    ("X : 3 x 3\nX : 3 x 3\nX", 2, 1, 9, "already declared"),
    ("a : 2; a + 1 : 3", 1, 14, 1, "':' belongs in declarations"),
    ("1:3", 1, 2, 1, "':' belongs in declarations (X : m x 64) and slices (X[1:3]) only"),
    ("eye()", 1, 1, 5, "eye needs n, e.g. eye(n)"),
    ("sum()", 1, 1, 5, "sum takes 1 expression argument, got 0"),
    ("sum(x, )", 1, 8, 1, "expected an expression after ','"),
    ("softmax(x, axis=0", 1, 8, 1, "unclosed '('"),
]


@pytest.mark.parametrize("text, line, column, length, fragment", ERRORS,
                         ids=[repr(t.split("\n")[-1]) for t, *_ in ERRORS])
def test_errors(text, line, column, length, fragment):
    with pytest.raises(ParseError) as info:
        parse(text)
    err = info.value
    assert fragment in err.message
    assert (err.line, err.column, err.length) == (line, column, length)
    assert err.source_line == text.split("\n")[line - 1]


def test_shape_error_display():
    with pytest.raises(ParseError) as info:
        parse("X : m x 64\ny = X @ X")
    assert str(info.value).splitlines() == [
        "error: matmul: shapes (m, 64) and (m, 64) do not match: 64 (axis 1 of the left) "
        "!= m (axis 0 of the right)",
        "  --> line 2, column 7",
        "  |",
        "2 | y = X @ X",
        "  |       ^",
    ]


def test_symbols_argument():
    assert parse("X @ Theta", symbols=[X, Theta]) is X @ Theta
    assert parse("X.T @ X / m", symbols={"X": X}) is X.T @ X / dim("m")
    # a declaration may repeat the given one exactly, not change it
    assert parse("X : m x 64; X", symbols=[X]) is X
    with pytest.raises(ParseError, match="already declared as m x 64 before the program text"):
        parse("X : m x 32; X", symbols=[X])
    with pytest.raises(TypeError):
        parse("x", symbols=[2 * sd.symbol("x")])
    with pytest.raises(ValueError, match="reserved"):
        parse("x", symbols={"sum": X})


def test_parsed_program_text_reparses():
    # to_program's text is a program: comments are ignored, names are bound
    Z1 = sd.tanh(X @ W1)
    loss = softmax_loss(Z1 @ W2)
    outs = [loss, *sd.grad(loss, [W1, W2])]
    text = to_program(outs, names=["f", "dW1", "dW2"])
    prog = parse_program(text, symbols=free_symbols(outs))
    assert [prog.definitions[n] for n in ("f", "dW1", "dW2")] == outs


def test_user_text_never_reaches_eval(monkeypatch):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("user text reached eval/exec")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert parse(DECL + "sum(X[0, 1:3] * [1, 2], axis=0)") is \
        sd.sum(X[0, 1:3] * array_const([1, 2]), axis=0)
    for text in ["X.__class__", "sum(X, axis=__import__)", "X[__import__('os')]",
                 "reshape(X, (m, exec))"]:
        with pytest.raises(ParseError):
            parse(DECL + text)


# ---------------------------------------------------------------------------
# Random tensor expressions: printed, parsed back, printed in LaTeX


_P = sd.tensor("P", ("n", 3))
_Q = sd.tensor("Q", (3, "n"))
_u = sd.tensor("u", (3,))
_s = sd.symbol("s")
_labels = sd.tensor("lab", ("n",), dtype=int)


def _try(build, *args):
    # Random operands often do not fit the operation (shapes that do not
    # broadcast or multiply, an axis out of range, a scalar indexed): that
    # ShapeError is expected and the operand is kept instead.  Any other
    # error is a bug and fails the test.
    try:
        return build(*args)
    except sd.ShapeError:
        return args[0]


_UNARY = [
    lambda a: sd.exp(a), lambda a: sd.tanh(a), lambda a: -a, lambda a: a.T,
    lambda a: a[0], lambda a: a[..., 1:], lambda a: sd.sum(a, axis=-1),
    lambda a: sd.sum(a, axis=0, keepdims=True), lambda a: sd.max(a, axis=-1),
    lambda a: sd.softmax(a, axis=-1), lambda a: sd.logsumexp(a, axis=0),
    lambda a: sd.mean(a), lambda a: sd.stop_gradient(a), lambda a: a ** 2,
    lambda a: sd.reshape(a, a.shape + (1,)),
]
_BINARY = [
    lambda a, c: a + c, lambda a, c: a - c, lambda a, c: a * c, lambda a, c: a / c,
    lambda a, c: a @ c, lambda a, c: c @ a, lambda a, c: sd.max(a, c),
]
_leaves = st.sampled_from([_P, _Q, _u, _s, dim("n"), sd.onehot(_labels, 3), eye(3),
                           array_const([[1.0, -2.0, 0.5]]), sd.const(2.0), sd.const(-1.5)])
_tensor_exprs = st.recursive(
    _leaves,
    lambda kids: st.one_of(
        st.tuples(st.sampled_from(_UNARY), kids).map(lambda t: _try(t[0], t[1])),
        st.tuples(st.sampled_from(_BINARY), kids, kids).map(lambda t: _try(*t)),
    ),
    max_leaves=12,
)


@given(_tensor_exprs)
@settings(max_examples=300, deadline=None)
def test_random_tensor_expressions_round_trip(e):
    text = to_string(e)
    assert parse(text, symbols=declared(e)) is e, text
    latex = to_latex(e)
    assert latex.count(r"\left") == latex.count(r"\right")


@given(st.lists(_tensor_exprs, min_size=1, max_size=3))
@settings(max_examples=60, deadline=None)
def test_random_tensor_programs_round_trip(outs):
    text = to_program(outs)
    prog = parse_program(text, symbols=declared(outs))
    assert [prog.definitions[f"out{k}"] for k in range(len(outs))] == outs, text
    if any(o.shape for o in outs):
        assert all(re.search(r"   # [^#]+$", line) for line in text.splitlines())


# ---------------------------------------------------------------------------
# Deep and wide tensor graphs through every printer


@pytest.mark.slow
def test_deep_tensor_chain(default_recursion_limit):
    M = sd.tensor("M", (3, 3))
    e = M
    for k in range(100_000):
        e = sd.tanh(e).T if k % 100 else M @ e
    with default_recursion_limit():
        text = to_string(e)
        assert parse(text, symbols=[M]) is e
        program = to_program(e, names=["f"])
        latex = to_latex(e)
        dot = sd.to_dot(e)
    assert text.startswith("tanh(tanh(") and text.count(").T") == 99_000
    assert text.count("M @ ") == 1000
    assert program.startswith("f = tanh(") and program.endswith("# 3 x 3")
    assert latex.count(r"^\top") == 99_000
    # 99,000 transposes; the last one, the output, also carries its name
    assert dot.count('label=".T\\n3 x 3"') == 98_999
    assert dot.count('label=<.T<BR/>3 x 3<BR/>') == 1


def test_wide_tensor_sum():
    terms = [sd.tensor(f"T{k}", ("m", 3)) for k in range(2000)]
    e = terms[0]
    for t in terms[1:]:
        e = e + t.T.T * 2
    assert round_trips(e)
    assert to_program(e).count("\n") == 0


def test_reserved_names_are_the_text_functions():
    # A symbol may not be called like a tensor function, or it would print
    # as a call: core's reserved list and text's function table agree.
    from symdiff.core.ops import TENSOR_FUNCTION_NAMES
    from symdiff.text.functions import FUNCTIONS as TEXT_FUNCTIONS

    assert TENSOR_FUNCTION_NAMES == set(TEXT_FUNCTIONS)
    for name in TENSOR_FUNCTION_NAMES:
        with pytest.raises(ValueError, match="reserved for the function"):
            sd.symbol(name)
