"""Tests for symdiff.text.parser: grammar, numbers, programs, errors, depth, and
the printer round trip (parse(to_string(e)) is e)."""

from __future__ import annotations

import builtins
import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symdiff as sd
from symdiff import ParseError, parse, parse_program, to_string
from symdiff.core.node import const, symbol
from symdiff.core.ops import FUNCTIONS, OPS, VARIADIC
from symdiff.core.symbolic import apply
from symdiff.text import parser
from symdiff.text.functions import FUNCTIONS as TENSOR_FUNCTIONS

x, y, z, a, b, c = (symbol(n) for n in ("x", "y", "z", "a", "b", "c"))


def _depth(node) -> int:
    """Length of the first-argument chain below ``node`` (iterative)."""
    d = 0
    while node.args:
        node = node.args[0]
        d += 1
    return d


# ---------------------------------------------------------------------------
# Grammar: precedence and associativity, checked as node identity with the
# same expression built through the Python API.

GRAMMAR = [
    ("x*y", lambda: x * y),
    ("-x^2", lambda: -(x ** 2)),
    ("-x**2", lambda: -(x ** 2)),
    ("2^-x", lambda: 2 ** (-x)),
    ("x^-a^b", lambda: x ** (-(a ** b))),
    ("a^b^c", lambda: a ** (b ** c)),
    ("(a^b)^c", lambda: (a ** b) ** c),
    ("x**2", lambda: x ** 2),
    ("x ** y ^ z", lambda: x ** (y ** z)),
    ("a-b-c", lambda: (a - b) - c),
    ("a-(b-c)", lambda: a - (b - c)),
    ("a/b/c", lambda: (a / b) / c),
    ("a/(b/c)", lambda: a / (b / c)),
    ("a+b*c", lambda: a + b * c),
    ("(a+b)*c", lambda: (a + b) * c),
    ("a*b+c", lambda: a * b + c),
    ("-a*b", lambda: (-a) * b),
    ("a*-b", lambda: a * (-b)),
    ("a/-b", lambda: a / (-b)),
    ("-a/b", lambda: (-a) / b),
    ("a - -b", lambda: a - (-b)),
    ("-x*y^2", lambda: (-x) * (y ** 2)),
    ("2^-x*3", lambda: (2 ** (-x)) * 3),
    ("2^-x^y", lambda: 2 ** (-(x ** y))),
    ("-(a+b)", lambda: -(a + b)),
    ("+x", lambda: x),
    ("--x", lambda: x),
    ("+-+x", lambda: -x),
    ("a^+b", lambda: a ** b),
    ("((x))", lambda: x),
    ("sin(x)", lambda: sd.sin(x)),
    ("sin(x)^2", lambda: sd.sin(x) ** 2),
    ("-sin(x)^2", lambda: -(sd.sin(x) ** 2)),
    ("exp(-x^2/2)", lambda: sd.exp(-(x ** 2) / 2)),
    ("pow(x, 3)", lambda: x ** 3),
    ("max(x, y, z)", lambda: apply("max", x, y, z)),
    ("min(a, b)", lambda: apply("min", a, b)),
    ("eq(x, y) + step(x) + sign(y)",
     lambda: apply("eq", x, y) + apply("step", x) + apply("sign", y)),
    ("  x\t+  y  ", lambda: x + y),
    ("x + y # a comment", lambda: x + y),
    ("x_1 + _tmp2", lambda: symbol("x_1") + symbol("_tmp2")),
]


@pytest.mark.parametrize("text, build", GRAMMAR, ids=[t for t, _ in GRAMMAR])
def test_grammar_builds_the_api_node(text, build):
    assert parse(text) is build()


@pytest.mark.parametrize("text, point, expected", [
    ("2^3^2", {}, 512.0),                   # right-associative: 2^9
    ("-x^2", {"x": 3.0}, -9.0),             # not (-3)^2
    ("2^-x", {"x": 1.0}, 0.5),
    ("a-b-c", {"a": 10.0, "b": 3.0, "c": 2.0}, 5.0),
    ("a/b/c", {"a": 12.0, "b": 3.0, "c": 2.0}, 2.0),
    ("-x*y", {"x": 2.0, "y": 3.0}, -6.0),
    ("x^-a^b", {"x": 2.0, "a": 1.0, "b": 3.0}, 0.5),
    ("(-x)^2", {"x": 3.0}, 9.0),
])
def test_values(text, point, expected):
    e = parse(text)
    got = e.value if e.op == "const" else sd.evaluate(e, point)
    assert got == expected


def test_constant_expression_folds():
    assert parse("2^3^2") is const(512.0)
    assert parse("1/0") is const(math.inf)


# ---------------------------------------------------------------------------
# Numbers and named constants


@pytest.mark.parametrize("text, value", [
    ("3", 3.0), ("2.5", 2.5), (".5", 0.5), ("1e-3", 1e-3), ("1E2", 100.0),
    ("2.", 2.0), ("1.5e+3", 1500.0), ("0.1", 0.1), ("007", 7.0),
    ("-0", -0.0), ("-2.5", -2.5),
    ("1.7976931348623157e308", 1.7976931348623157e308),   # the largest double
    ("1.797693134862315807e308", 1.7976931348623157e308),  # rounds down to it
    ("5e-324", 5e-324), ("1e-400", 0.0),                  # underflow rounds to 0
    ("pi", math.pi), ("e", math.e), ("inf", math.inf), ("-inf", -math.inf),
])
def test_numbers(text, value):
    node = parse(text)
    assert node is const(value)
    assert math.copysign(1.0, node.value) == math.copysign(1.0, value)


def test_nan():
    node = parse("nan")
    assert node.op == "const" and math.isnan(node.value)
    assert parse("nan") is const(math.nan)


@given(st.floats(allow_nan=True, allow_infinity=True))
@settings(max_examples=200, deadline=None)
def test_float_repr_round_trip(value):
    assert parse(repr(value)) is const(value)


def test_shared_constant_nodes():
    assert parse("pi*x") is const(math.pi) * x
    assert parse("e^x") is const(math.e) ** x


# ---------------------------------------------------------------------------
# Programs


def test_shared_names_are_shared_nodes():
    e = parse("a = x*y; a + sin(a)")
    assert e is x * y + sd.sin(x * y)
    assert sd.count_ops(e) == 3                    # mul, sin, add


def test_parse_program_fields():
    text = "# model\nu = x*y\n\nv = sin(u) + u   # reuse\nv^2, u/v ;\n"
    prog = parse_program(text)
    u = x * y
    v = sd.sin(u) + u
    assert list(prog.definitions) == ["u", "v"]
    assert prog.definitions["u"] is u and prog.definitions["v"] is v
    assert prog.outputs[0] is v ** 2 and prog.outputs[1] is u / v
    assert prog.output_texts == ["v^2", "u/v"]
    assert len(prog.outputs) == 2


def test_multiple_outputs_return_a_list():
    assert parse("x, y^2, sin(x)") == [x, y ** 2, sd.sin(x)]
    assert parse("max(x, y), x") == [apply("max", x, y), x]
    assert isinstance(parse("x"), sd.Node)


def test_assignment_as_output():
    prog = parse_program("a = x + 1\ny = a*a")
    assert prog.outputs == [(x + 1) * (x + 1)]
    assert prog.output_texts == ["y"]
    assert list(prog.definitions) == ["a", "y"]
    assert parse("y = 2*x") is 2 * x


def test_statement_separators_and_newlines():
    assert parse("a = 1; b = a + x;; b*x") is (1 + x) * x
    assert parse("a = x\r\nb = a*2\r\nb") is x * 2
    assert parse("\n\n  x  \n\n# trailing comment\n") is x


def test_undefined_names_are_free_symbols():
    prog = parse_program("q = alpha*beta; q + gamma")
    assert prog.outputs[0] is symbol("alpha") * symbol("beta") + symbol("gamma")


def test_parsed_program_is_frozen():
    prog = parse_program("x")
    with pytest.raises(AttributeError):
        prog.outputs = []


# ---------------------------------------------------------------------------
# Errors: every class, with line, column (1-based) and caret length.

ERRORS = [
    # text, line, column, length, message fragment
    ("", 1, 1, 1, "empty input: expected an expression"),
    ("  # only a comment\n\n", 1, 1, 1, "empty input"),
    ("x + sinn(x)", 1, 5, 4, "unknown function 'sinn'; did you mean 'sin', 'sinh' or 'sign'?"),
    ("foo(x)", 1, 1, 3, "unknown function 'foo'"),
    ("sin(x, y)", 1, 1, 9, "sin takes 1 argument, got 2"),
    ("sin()", 1, 1, 5, "sin takes 1 argument, got 0"),
    ("max(x)", 1, 1, 6, "max takes 2 or more arguments, got 1"),
    ("pow(x)", 1, 1, 6, "pow takes 2 arguments, got 1"),
    ("(x + 1", 1, 1, 1, "unclosed '('"),
    ("sin(x + (y)", 1, 4, 1, "unclosed '('"),
    ("y * (", 1, 5, 1, "unclosed '('"),
    ("x + 1)", 1, 6, 1, "unmatched ')'"),
    ("x $ y", 1, 3, 1, "unexpected character '$'"),
    ("x\u00b2", 1, 2, 1, "unexpected character '\u00b2' (U+00B2 SUPERSCRIPT TWO)"),
    ("x \u2212 y", 1, 3, 1, "use '-' instead"),
    ("x + ", 1, 3, 1, "expected an expression after '+'"),
    ("x * ", 1, 3, 1, "expected an expression after '*'"),
    ("x + * y", 1, 5, 1, "expected an expression after '+', found '*'"),
    ("* y", 1, 1, 1, "expected an expression, found '*'"),
    ("sin(x,)", 1, 7, 1, "expected an expression after ',', found ')'"),
    ("x, ", 1, 2, 1, "expected an expression after ','"),
    ("()", 1, 1, 2, "empty parentheses"),
    ("x = 1 = 2", 1, 7, 1, "only one '=' is allowed"),
    ("x + 1 = 2", 1, 7, 1, "left side of '=' must be a single name"),
    ("2 = x", 1, 3, 1, "must be a name, not a number"),
    ("= 3", 1, 1, 1, "missing name before '='"),
    ("x == y", 1, 4, 1, "'==' is not supported"),
    ("sin = 3", 1, 1, 3, "cannot assign to 'sin': it is a function"),
    ("pi = 3", 1, 1, 2, "cannot assign to 'pi': it is a constant"),
    ("inf = 3", 1, 1, 3, "cannot assign to 'inf'"),
    ("sin + 1", 1, 1, 3, "function 'sin' must be called"),
    ("x(2)", 1, 1, 1, "unknown function 'x'"),
    ("a = 2\na(3)", 2, 1, 1, "'a' is a variable defined on line 1, not a function"),
    ("pi(2)", 1, 1, 2, "'pi' is a constant, not a function"),
    ("2x", 1, 2, 1, "missing operator before 'x'"),
    ("x y", 1, 3, 1, "implicit multiplication is not supported"),
    ("2 (x)", 1, 3, 1, "missing operator before '('"),
    ("(x)(y)", 1, 4, 1, "missing operator before '('"),
    ("2 sin(x)", 1, 3, 3, "missing operator before 'sin'"),
    ("1.2.3", 1, 1, 5, "malformed number '1.2.3'"),
    ("1e+ 2", 1, 1, 3, "malformed number '1e+'"),
    ("x + 2e", 1, 5, 2, "malformed number '2e'"),
    # Overflowing literals are errors, not a silent inf (issue: edges #16).
    ("1e400", 1, 1, 5, "number '1e400' is too large for a double"),
    ("x + 2e308*y", 1, 5, 5, "number '2e308' is too large for a double"),
    ("1.797693134862315808e308", 1, 1, 24, "too large for a double"),   # rounds up to inf
    ("x*" + "9" * 400, 1, 3, 400, "'9999999999...9999999999' (400 characters) is too large"),
    ("sum([1, 1e999])", 1, 9, 5, "number '1e999' is too large for a double"),
    ("X : 99999999999999999999999 x 2\nsum(X)", 1, 5, 23,
     "integer 99999999999999999999999 is too large (the largest is 2^63 - 1"),
    ("X : 3 x 2\nsum(X, axis=-9223372036854775808)", 2, 14, 19, "integer 9223372036854775808"),
    ("(a, b)", 1, 3, 1, "',' inside parentheses"),
    ("a = x, y", 1, 6, 1, "an assignment takes a single expression"),
    ("x, y\nz", 1, 2, 1, "only in the last statement"),
    ("x + 1\ny", 1, 1, 5, "only the last statement can be an output"),
    ("a = x\nb = 1\na = 2\na", 3, 1, 1, "'a' is already defined on line 1"),
    ("c = a + b\nb = 2\nc", 1, 9, 1, "'b' is used before it is defined on line 2"),
    ("a = a + 1", 1, 5, 1, "'a' is used in its own definition"),
    ("a = x\n\n  b = a +* 2", 3, 10, 1, "expected an expression after '+', found '*'"),
    ("x; y = 1 $", 1, 1, 1, "only the last statement"),   # errors in statement order
]


@pytest.mark.parametrize("text, line, column, length, fragment", ERRORS,
                         ids=[repr(t) for t, *_ in ERRORS])
def test_errors(text, line, column, length, fragment):
    with pytest.raises(ParseError) as info:
        parse(text)
    err = info.value
    assert fragment in err.message
    assert (err.line, err.column, err.length) == (line, column, length)
    assert err.source_line == text.replace("\r", "").split("\n")[line - 1]
    assert isinstance(err, ValueError)


def test_unknown_function_suggests_close_names_and_the_full_list():
    with pytest.raises(ParseError) as info:
        parse("sinn(x)")
    assert info.value.message == ("unknown function 'sinn'; did you mean 'sin', 'sinh' or "
                                  "'sign'? (symdiff functions lists them all)")
    with pytest.raises(ParseError) as info:
        parse("logsumexpp(x, y)")
    assert info.value.message == ("unknown function 'logsumexpp'; did you mean 'logsumexp'? "
                                  "(symdiff functions lists them all)")
    with pytest.raises(ParseError) as info:
        parse("qq(2)")
    assert info.value.message == ("unknown function 'qq'; to multiply, write qq*(...) "
                                  "(symdiff functions lists them all)")
    # every callable name is a suggestion candidate: the op table and tensor functions
    assert {"sin", "logsumexp", "softmax"} <= set(FUNCTIONS) | set(TENSOR_FUNCTIONS)


def test_error_display():
    with pytest.raises(ParseError) as info:
        parse("x + sinn(x)")
    text = str(info.value)
    assert text.startswith("error: unknown function 'sinn'; did you mean 'sin', 'sinh' or 'sign'?")
    assert text.splitlines()[1:] == [
        "  --> line 1, column 5",
        "  |",
        "1 | x + sinn(x)",
        "  |     ^^^^",
    ]


def test_error_display_multidigit_line_and_tabs():
    text = "\n".join(f"v{i} = x*{i}" for i in range(11)) + "\n\tv10 + $"
    with pytest.raises(ParseError) as info:
        parse(text)
    err = info.value
    assert (err.line, err.column) == (12, 8)
    assert str(err).splitlines()[1:] == [
        "   --> line 12, column 8",
        "   |",
        "12 |  v10 + $",
        "   |        ^",
    ]


def test_error_display_long_line_is_windowed():
    text = "+".join(["x"] * 5000) + " $ + x"
    with pytest.raises(ParseError) as info:
        parse(text)
    err = info.value
    assert err.column == 2 * 5000 + 1
    lines = str(err).splitlines()
    assert all(len(line) < 130 for line in lines)
    src, caret = lines[3], lines[4]
    assert src[caret.index("^")] == "$"


def test_parse_error_pickles():
    with pytest.raises(ParseError) as info:
        parse("x +")
    err = pickle.loads(pickle.dumps(info.value))
    assert (err.message, err.line, err.column, err.source_line, err.length) == (
        info.value.message, 1, 3, "x +", 1)


def test_non_string_input():
    with pytest.raises(TypeError):
        parse(b"x + 1")


def test_user_text_never_reaches_eval(monkeypatch):
    import sympy

    def forbidden(*args, **kwargs):
        raise AssertionError("user text reached eval/exec/sympify")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sympy, "sympify", forbidden)
    assert parse("a = x^2; a + 1e3") is x ** 2 + 1000
    for text in ["__import__('os').system('true')", "x.__class__", "lambda: 1", "[x]"]:
        with pytest.raises(ParseError):
            parse(text)


@given(st.text(alphabet="xy12.e+-*/^(),;=# \nsin_$\u00b2", max_size=40))
@settings(max_examples=300, deadline=None)
def test_garbage_raises_only_parse_error(text):
    try:
        result = parse(text)
    except ParseError as err:
        lines = text.replace("\r", "").split("\n")
        assert 1 <= err.line <= len(lines)
        assert err.source_line == lines[err.line - 1]
        assert 1 <= err.column <= len(err.source_line) + 1
        assert err.length >= 1
        str(err)
    else:
        assert isinstance(result, (sd.Node, list))


# ---------------------------------------------------------------------------
# Depth and size: no recursion, one reduction per operator.

N = 100_000


def test_5000_nested_parentheses(default_recursion_limit):
    with default_recursion_limit():
        assert parse("(" * 5000 + "x" + ")" * 5000) is x
        assert parse("(" * 5000 + "x + 1" + ")" * 5000 + "*2") is (x + 1) * 2
        with pytest.raises(ParseError) as info:
            parse("(" * 5000 + "x" + ")" * 4999)
    assert info.value.column == 1           # the outermost '(' is the unclosed one


@pytest.fixture
def apply_calls(monkeypatch):
    """Count the nodes the parser builds: one apply() per operator or call
    means each is reduced once (no backtracking, no re-parsing)."""
    calls = [0]
    real = parser.apply

    def counted(name, *args):
        calls[0] += 1
        return real(name, *args)

    monkeypatch.setattr(parser, "apply", counted)
    return calls


@pytest.mark.slow
def test_100000_deep_nested_calls(default_recursion_limit, apply_calls):
    text = "sin(" * N + "x" + ")" * N
    with default_recursion_limit():
        e = parse(text)
    assert e.op == "sin" and _depth(e) == N
    assert apply_calls[0] == N


@pytest.mark.slow
def test_100000_term_sum(default_recursion_limit, apply_calls):
    text = "+".join(["x"] * N)
    with default_recursion_limit():
        e = parse(text)
    assert e.op == "add" and sd.count_ops(e) == N - 1
    assert apply_calls[0] == N - 1


@pytest.mark.slow
def test_deep_unary_minus_and_power_chains(default_recursion_limit):
    with default_recursion_limit():
        assert parse("-" * (N + 1) + "x") is -x
        e = parse("^".join(["x"] * 20000))
        assert e.op == "pow" and e.args[0] is x and e.args[1].op == "pow"
        # The printer is iterative too: a deep chain round-trips.
        assert parse(to_string(e)) is e


def test_deep_program_of_assignments(default_recursion_limit):
    lines = ["a0 = x"] + [f"a{i} = sin(a{i - 1}) + x" for i in range(1, 5000)] + ["a4999"]
    with default_recursion_limit():
        prog = parse_program("\n".join(lines))
    assert len(prog.definitions) == 5000
    assert sd.count_ops(prog.outputs) == 2 * 4999


# ---------------------------------------------------------------------------
# Round trip through the printer for random expressions from the op table.

_LEAF_CONSTANTS = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, -2.5, 3.0, 1e20, 1e-300, 1e16,
                   math.pi, math.e, math.inf, -math.inf, math.nan, 1 / 3]


def _apply_op(name):
    op = OPS[name]
    n = op.arity

    def build(children):
        if n == VARIADIC:
            return st.lists(children, min_size=2, max_size=4).map(
                lambda args: apply(name, *args))
        return st.tuples(*([children] * n)).map(lambda args: apply(name, *args))

    return build


_leaves = st.one_of(
    st.sampled_from(["x", "y", "z", "alpha", "x_1"]).map(symbol),
    st.sampled_from(_LEAF_CONSTANTS).map(const),
    st.floats(allow_nan=False, width=64).map(const),
)
_exprs = st.recursive(
    _leaves,
    lambda children: st.one_of([_apply_op(name)(children) for name in OPS]),
    max_leaves=25,
)


@given(_exprs)
@settings(max_examples=300, deadline=None)
def test_round_trip_through_printer(e):
    text = to_string(e)
    assert parse(text) is e, text


@given(st.lists(_exprs, min_size=1, max_size=4))
@settings(max_examples=60, deadline=None)
def test_round_trip_program_with_shared_names(outputs):
    # Name each output, then reference the names: the result is the same
    # nodes, whatever the expressions print as.
    lines = [f"t{i} = {to_string(e)}" for i, e in enumerate(outputs)]
    lines.append(", ".join(f"t{i}" for i in range(len(outputs))))
    prog = parse_program("\n".join(lines))
    assert all(p is e for p, e in zip(prog.outputs, outputs))
    assert prog.output_texts == [f"t{i}" for i in range(len(outputs))]
