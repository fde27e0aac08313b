"""The parser and the printers read operators from the op table: the
operator tables of symdiff.text.operators, a new infix op picked up with no
change to symdiff/text, and no per-op knowledge left in symdiff/text."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import symdiff as sd
from symdiff.core.node import symbol
from symdiff.core.ops import ALL_OPS, OPS, PREC_ADD, PREC_MUL, PREC_NEG, PREC_POW, Libm, OpDef
from symdiff.core.symbolic import apply
from symdiff.text import operators

TEXT = Path(sd.__file__).parent / "text"
a, b, c, x = (symbol(n) for n in "abcx")


def test_operators_of_the_table():
    ops = operators.OPERATORS
    assert {s: (o.op, o.precedence, o.right_assoc) for s, o in ops.binary.items()} == {
        "+": ("add", PREC_ADD, False), "-": ("sub", PREC_ADD, False),
        "*": ("mul", PREC_MUL, False), "/": ("div", PREC_MUL, False),
        "^": ("pow", PREC_POW, True), "**": ("pow", PREC_POW, True),
        "@": ("matmul", PREC_MUL, False),   # like Python: with * and /, left-assoc
    }
    assert {s: (o.op, o.precedence) for s, o in ops.prefix.items()} == {"-": ("neg", PREC_NEG)}
    assert ops.tokens[0] == "**"                      # longest spelling first
    # printers write the infix spelling, never an alias
    assert ops.by_op["pow"][0] == "^" and ops.by_op["neg"][0] == "-"
    # 2^-x: a prefix operator may follow ^ bare (it binds tighter than *)
    assert ops.binary["^"].prefix_need == PREC_MUL


def _op(name, arity, **kw):
    return OpDef(name, arity, np.negative if arity == 1 else np.fmod, None, Libm(name), **kw)


@pytest.mark.parametrize("extra, message", [
    (_op("mod", 2, infix="mod"), "must be punctuation"),
    (_op("mod", 2, infix="%", aliases=("( ",)), "must be punctuation"),
    (_op("mod", 2, infix="*", precedence=PREC_MUL), "spelled the same by 'mul' and 'mod'"),
    (_op("mod", 2, infix="%", precedence=PREC_MUL, right_assoc=True), "left- and right-"),
    (_op("mod", -1, infix="%"), "takes 2 or more arguments"),
])
def test_tables_the_grammar_cannot_read_are_rejected(extra, message):
    with pytest.raises(ValueError, match=message):
        operators.from_table({**ALL_OPS, extra.name: extra})


@pytest.fixture
def extended_table(monkeypatch):
    """The op table plus a binary ``%`` (alias ``//``) at the precedence of
    ``*`` and a prefix ``~``, for the duration of one test."""
    mod = _op("mod", 2, infix="%", aliases=("//",), precedence=PREC_MUL,
              latex=r"{0} \bmod {1}", function=False, domain=("real", "nonzero"))
    lnot = _op("lnot", 1, infix="~", precedence=PREC_NEG, latex=r"\lnot {0}", function=False)
    for table in (OPS, ALL_OPS):
        monkeypatch.setitem(table, "mod", mod)
        monkeypatch.setitem(table, "lnot", lnot)
    monkeypatch.setattr(operators, "OPERATORS", operators.from_table(ALL_OPS))


@pytest.mark.parametrize("text, printed, build", [
    ("a % b", "a%b", lambda: apply("mod", a, b)),
    ("a // b", "a%b", lambda: apply("mod", a, b)),
    ("a % b * c", "c*(a%b)", lambda: apply("mul", apply("mod", a, b), c)),
    ("a * b % c", "a*b%c", lambda: apply("mod", apply("mul", a, b), c)),
    ("a % b % c", "a%b%c", lambda: apply("mod", apply("mod", a, b), c)),
    ("a % (b % c)", "a%(b%c)", lambda: apply("mod", a, apply("mod", b, c))),
    ("a + b % -c", "a + b%-c", lambda: apply("add", a, apply("mod", b, apply("neg", c)))),
    ("~a * b", "b*~a", lambda: apply("mul", apply("lnot", a), b)),
    ("~a ^ 2", "~a^2", lambda: apply("lnot", apply("pow", a, 2.0))),
    ("(~a) ^ 2", "(~a)^2", lambda: apply("pow", apply("lnot", a), 2.0)),
    ("2 ^ ~x", "2^~x", lambda: apply("pow", 2.0, apply("lnot", x))),
    ("-~x", "-~x", lambda: apply("neg", apply("lnot", x))),
])
def test_a_new_infix_op_is_parsed_and_printed(extended_table, text, printed, build):
    e = build()
    assert sd.parse(text) is e
    assert sd.to_string(e) == printed
    assert sd.parse(printed) is e


def test_a_new_infix_op_in_latex_and_dot(extended_table):
    mod = apply("mod", a + b, c)
    assert sd.to_latex(mod) == r"\left(a + b\right) \bmod c"
    assert sd.to_latex(apply("lnot", x)) == r"\lnot x"
    # % does not commute: the box numbers its operands (#1 % #2, edges #1
    # and #2); both are outputs, so their boxes also carry the output's name
    assert "label=<#1 % #2<BR/>" in sd.to_dot(mod)
    assert "label=<~<BR/>" in sd.to_dot(apply("lnot", x))


def _strings_outside_docstrings(path: Path):
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node.lineno, node.value


# The SymPy translations are per-op by nature: sympy_interop.py maps ops to
# SymPy, and sympy_functions.py defines the SymPy functions for the stable
# primitives SymPy lacks (sigmoid, softplus, log1p, ...).
_PER_OP_MODULES = {"sympy_interop.py", "sympy_functions.py"}


@pytest.mark.parametrize("path", sorted(p.name for p in TEXT.glob("*.py")
                                        if p.name not in _PER_OP_MODULES))
def test_no_op_is_named_in_the_text_modules(path):
    # Every per-op fact the parser and printers need comes from the table;
    # the SymPy modules are the exception (their translations are per-op).
    named = [(line, s) for line, s in _strings_outside_docstrings(TEXT / path) if s in OPS]
    assert named == []
