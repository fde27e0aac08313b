"""to_string and to_latex of every op (tests/op_specs.py), to_program (CSE'd
program text), to_latex and to_dot."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_specs import OP_SPECS

import symdiff as sd
from symdiff.core.graph import reachable
from symdiff.core.node import const, make
from symdiff.core.ops import OPS
from symdiff.core.symbolic import apply
from symdiff.text.parser import parse_program

x, y, z = sd.symbols("x y z")


@pytest.fixture(scope="module")
def lecture_outputs(lecture):
    """The lecture example f and its gradient [df/dx, df/dz]."""
    return [lecture.f, *sd.grad(lecture.f, [x, z])]


def split_program(text):
    """[(lhs, rhs)] of a printed program."""
    return [tuple(line.split(" = ", 1)) for line in text.splitlines()]


def eval_program(text, point):
    """Evaluate printed program text independently of symdiff's parser: the
    right-hand sides are infix with '^' for powers, which is Python once '^'
    becomes '**' (same precedence and right associativity)."""
    env = {name: op.numpy for name, op in OPS.items() if op.infix is None}
    env.update(inf=math.inf, nan=math.nan, **point)
    results = {}
    for lhs, rhs in split_program(text):
        results[lhs] = env[lhs] = eval(rhs.replace("^", "**"), {"__builtins__": {}}, env)
    return results


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.name)
def test_every_op_prints_and_parses_back(spec):
    args = (x, y, z)[:spec.nargs]
    e = make(spec.name, args)
    assert sd.to_string(e) == spec.text
    assert sd.parse(spec.text) is apply(spec.name, *args)


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.name)
def test_every_op_in_latex(spec):
    assert sd.to_latex(make(spec.name, (x, y, z)[:spec.nargs])) == spec.latex


def test_public_printers_live_in_their_modules():
    from symdiff.text import dot, latex, program

    assert sd.to_program is program.to_program
    assert sd.to_latex is latex.to_latex and sd.to_dot is dot.to_dot


# ---------------------------------------------------------------------------
# to_program


def test_program_small_case_exact():
    assert sd.to_program(x * y + sd.sin(x * y)) == \
        f"t1 = {x * y}\nout0 = t1 + sin(t1)"


def test_program_output_used_elsewhere_is_a_temporary():
    # d exp(x)/dx is exp(x) itself: one temporary, two outputs naming it.
    f = sd.exp(x)
    text = sd.to_program([f, *sd.grad(f, [x])], names=["f", "df/dx"])
    assert text == "t1 = exp(x)\nf = t1\ndf/dx = t1"


def test_program_repeated_argument_and_leaves():
    s = sd.sin(x)
    assert sd.to_program(s * s) == "t1 = sin(x)\nout0 = t1*t1"
    # leaves and single-use nodes never get a temporary
    assert sd.to_program([x, const(0.0), x + 1]) == "out0 = x\nout1 = 0\nout2 = 1 + x"


def test_program_lecture_example(lecture_outputs):
    outs = lecture_outputs
    text = sd.to_program(outs, names=["f", "df/dx", "df/dz"])
    lines = split_program(text)
    temps = [lhs for lhs, _ in lines if re.fullmatch(r"t\d+", lhs)]
    # temporaries are numbered in order, then the three outputs follow
    assert temps == [f"t{k}" for k in range(1, len(temps) + 1)]
    assert [lhs for lhs, _ in lines[len(temps):]] == ["f", "df/dx", "df/dz"]
    temp_rhs = {r for lhs, r in lines if lhs in temps}
    assert str(x * z) in temp_rhs and "log(x)" in temp_rhs   # x*z, log(x) shared
    # every temporary is used at least twice afterwards (else it would be inlined)
    body = "\n".join(r for _, r in lines)
    for t in temps:
        assert len(re.findall(rf"\b{t}\b", body)) >= 2, t
    # exactly the shared operations got temporaries: count them independently
    counts = {}
    for n in reachable(outs):
        for a in n.args:
            counts[a] = counts.get(a, 0) + 1
    for o in outs:
        counts[o] = counts.get(o, 0) + 1
    assert len(temps) == sum(1 for n, c in counts.items() if n.args and c > 1)
    # no operation is printed twice: the program has one op per distinct node
    n_ops = sum(body.count(s) for s in ("exp(", "log(", "sin(", "cos("))
    assert n_ops == sum(1 for n in reachable(outs) if n.op in ("exp", "log", "sin", "cos"))


@settings(max_examples=25, deadline=None)
@given(st.floats(0.2, 3.0), st.floats(-3.0, 3.0).filter(lambda v: abs(v) > 0.1))
def test_program_evaluates_like_the_expressions(lecture_outputs, xv, zv):
    outs = lecture_outputs
    text = sd.to_program(outs, names=["f", "dfdx", "dfdz"])
    with np.errstate(all="ignore"):   # x = 1 gives log(x) = 0: inf and nan
        got = eval_program(text, {"x": xv, "z": zv})
    want = sd.evaluate(outs, {"x": xv, "z": zv})
    np.testing.assert_allclose([got["f"], got["dfdx"], got["dfdz"]], want,
                               rtol=1e-13, atol=0)


def test_program_reparses_to_the_same_nodes(lecture_outputs):
    outs = lecture_outputs
    names = ["f", "dfdx", "dfdz"]
    parsed = parse_program(sd.to_program(outs, names=names))
    for name, node in zip(names, outs):
        assert parsed.definitions[name] is node


def test_program_options():
    # explicit inputs: an unused input is fine, a missing one is an error
    assert sd.to_program(x + 1, inputs=[x, y]) == "out0 = 1 + x"
    with pytest.raises(ValueError):
        sd.to_program(x + y, inputs=[x])
    with pytest.raises(ValueError):
        sd.to_program([x, y], names=["only_one"])
    # a user symbol named t1 pushes temporaries to another prefix
    t1 = sd.symbol("t1")
    s = sd.sin(t1)
    assert sd.to_program(s * s) == "tmp1 = sin(t1)\nout0 = tmp1*tmp1"


@pytest.mark.slow
def test_program_deep_chain(sin_chain, default_recursion_limit):
    with default_recursion_limit():
        text = sd.to_program(sin_chain, names=["f"])
    assert text.startswith("f = sin(sin(") and text.endswith("(x" + ")" * 100_000)
    assert text.count("sin(") == 100_000


# ---------------------------------------------------------------------------
# to_latex


@pytest.mark.parametrize("expr, want", [
    (x / y, r"\frac{x}{y}"),
    (x ** 2, "x^{2}"),
    (sd.exp(make("mul", (x, z))), "e^{x z}"),
    (2 * x, "2 x"),
    (make("mul", (x, const(2.0))), r"x \cdot 2"),
    (make("mul", (const(2.0), const(3.0))), r"2 \cdot 3"),
    (make("pow", (make("add", (x, y)), const(2.0))), r"\left(x + y\right)^{2}"),
    (make("sub", (x, make("add", (y, z)))), r"x - \left(y + z\right)"),
    (make("add", (x, make("add", (y, z)))), "x + y + z"),
    (make("add", (x, make("neg", (y,)))), r"x + \left(-y\right)"),
    (make("mul", (make("neg", (x,)), y)), "-x y"),
    (make("mul", (x, make("neg", (y,)))), r"x \left(-y\right)"),
    (-(x / y), r"-\frac{x}{y}"),
    (sd.exp(x) ** 2, r"\left(e^{x}\right)^{2}"),
    (make("pow", (make("div", (x, y)), z)), r"\left(\frac{x}{y}\right)^{z}"),
    (sd.sqrt(x), r"\sqrt{x}"),
    (sd.sqrt(x) ** 2, r"\sqrt{x}^{2}"),
    (sd.abs(x), r"\left|x\right|"),
    (sd.sigmoid(x), r"\sigma\left(x\right)"),
    (sd.log(x), r"\ln\left(x\right)"),
    (sd.relu(x), r"\operatorname{relu}\left(x\right)"),
    (make("max", (x, y, z)), r"\max\left(x, y, z\right)"),
    (make("eq", (x, y)), r"\left[x = y\right]"),
    (sd.symbol("x12"), "x_{12}"),
    (sd.symbol("W3_4"), "W_{3,4}"),
    (sd.symbol("alpha"), r"\alpha"),
    (sd.symbol("theta1"), r"\theta_{1}"),
    (sd.symbol("x_max"), r"x_{\mathrm{max}}"),
    (sd.symbol("rate"), r"\mathrm{rate}"),
    (make("mul", (const(1e-10), x)), "10^{-10} x"),
    (make("mul", (x, const(2.5e-7))), r"x \cdot 2.5 \cdot 10^{-7}"),
    (make("mul", (sd.pi, x)), r"\pi x"),
    (make("pow", (const(-2.0), x)), r"\left(-2\right)^{x}"),
    (x ** -y, "x^{-y}"),
])
def test_latex_exact(expr, want):
    assert sd.to_latex(expr) == want


def _balanced_braces(text):
    depth = 0
    for ch in text.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0 and text.count(r"\left") == text.count(r"\right")


@pytest.mark.slow
def test_latex_deep_chain(sin_chain, default_recursion_limit):
    with default_recursion_limit():
        text = sd.to_latex(sin_chain)
    assert text.count(r"\sin\left(") == 100_000 and _balanced_braces(text)


# ---------------------------------------------------------------------------
# to_dot


def _dot_counts(text):
    nodes = re.findall(r"^  (n\d+) \[", text, re.M)
    edges = re.findall(r"^  n\d+ -> n\d+", text, re.M)
    return nodes, edges


def _dot_names(text):
    """The value names drawn inside the boxes, in order."""
    return re.findall(r'<FONT POINT-SIZE="10" COLOR="#[0-9a-f]+">([^<]*)</FONT>', text)


def test_dot_small_graph():
    f = sd.exp(x) * y
    g = sd.grad(f, [x, y])                 # [exp(x)*y, exp(x)]: both already in f
    text = sd.to_dot(f, names=["f"], derivative_outputs=g,
                     derivative_names=["df/dx", "df/dy"])
    nodes, edges = _dot_counts(text)
    assert len(nodes) == 4 and len(edges) == 3        # x, y, exp, *
    assert text.startswith("digraph symdiff {") and text.rstrip().endswith("}")
    assert _dot_names(text) == ["df/dy", "f, df/dx"]  # f and df/dx are one node
    assert "xlabel" not in text                       # no name sits on an edge
    assert text.count("peripheries=2") == 2
    assert text.count("shape=ellipse") == 2           # the inputs
    assert "#fde3d9" not in text                      # no derivative-only node


def test_dot_lecture_example_styles(lecture_outputs):
    f, *g = lecture_outputs
    text = sd.to_dot(f, names=["f"], derivative_outputs=g)
    nodes, edges = _dot_counts(text)
    everything = reachable([f, *g])
    assert len(nodes) == len(everything)
    assert len(edges) == sum(len(n.args) for n in everything)
    deriv_ops = [n for n in everything - reachable([f]) if n.args]
    assert deriv_ops
    assert text.count('fillcolor="#fde3d9"') == len(deriv_ops)
    assert text.count("shape=box") == sum(1 for n in everything if n.args)
    assert text.count("shape=plaintext") == sum(1 for n in everything if n.op == "const")
    names = _dot_names(text)
    assert "dout0" in names and "dout1" in names
    # the shared operations carry the names the program text gives them
    program = sd.to_program([f, *g], names=["f", "dout0", "dout1"])
    temps = re.findall(r"^(t\d+) = ", program, re.M)
    assert temps and [n for n in names if re.fullmatch(r"t\d+", n)] == temps
    # edges go from argument to user: the output node only has incoming edges
    out_id = re.search(r'^  (n\d+) \[label=<\+<BR/><FONT[^>]*>f</FONT>>', text, re.M).group(1)
    assert not re.search(rf"^  {out_id} ->", text, re.M)


def test_dot_names_temporaries_as_the_program_does():
    f = sd.parse("log(1+exp(-(x+y)))*(x+y)")
    g = sd.grad(f)
    text = sd.to_dot(f, names=["f"], derivative_outputs=g, derivative_names=["df/dx", "df/dy"])
    # to_program: t1 = x + y, t2 = exp(-t1), t3 = 1 + t2, t4 = log(t3), t5 = df/dx = df/dy
    assert sorted(_dot_names(text)) == ["df/dx, df/dy", "f", "t1", "t2", "t3", "t4"]
    assert "t5" not in text and "t6" not in text


def test_dot_shows_operand_order():
    a, b = sd.symbols("a b")
    text = sd.to_dot([a - b / a], names=["f"])
    # The quotient b / a: its first operand is the input b (edge #1), its
    # second the input a (edge #2).  Operands are numbered, not lettered, so
    # the user's own a and b cannot be mistaken for them.
    assert re.search(r"label=<#1 - #2<BR/>", text) and re.search(r'label="#1 / #2"', text)
    ids = dict((lab, nid) for nid, lab in re.findall(r'^  (n\d+) \[label="?<?([^"<]+)', text, re.M))
    edges = re.findall(r'^  (n\d+) -> (n\d+) \[label="(#[12])"', text, re.M)
    quotient, difference = ids["#1 / #2"], ids["#1 - #2"]
    assert (ids["b"], quotient, "#1") in edges and (ids["a"], quotient, "#2") in edges
    assert (ids["a"], difference, "#1") in edges and (quotient, difference, "#2") in edges
    assert "ordering=in;" in text
    # commutative operations are left alone
    assert not re.search(r'-> n\d+ \[label=', sd.to_dot([a * b + a]))


def test_dot_is_stable(lecture_outputs):
    outs = lecture_outputs
    first = sd.to_dot(outs, names=["f", "df/dx", "df/dz"])
    # building unrelated nodes in between must not change the text
    junk = [sd.cos(sd.symbol(f"unrelated{k}")) for k in range(50)]
    assert sd.to_dot(outs, names=["f", "df/dx", "df/dz"]) == first
    assert len(junk) == 50
    # names may also list the outputs followed by the derivative outputs
    f, *g = outs
    a = sd.to_dot(f, names=["f", "gx", "gz"], derivative_outputs=g)
    b = sd.to_dot(f, names=["f"], derivative_outputs=g, derivative_names=["gx", "gz"])
    assert a == b


def test_dot_escapes_and_const_output():
    text = sd.to_dot([const(0.0), x], names=['say "hi" <&>', "x"])
    assert "say &quot;hi&quot; &lt;&amp;&gt;" in text
    assert "shape=box" in text                       # a constant output gets a border


@pytest.mark.slow
def test_dot_deep_chain(sin_chain, default_recursion_limit):
    with default_recursion_limit():
        text = sd.to_dot(sin_chain)
    nodes, edges = _dot_counts(text)
    assert len(nodes) == 100_001 and len(edges) == 100_000
