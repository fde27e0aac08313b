"""What the commands accept on the way in: expressions starting with '-'
(``--`` and the hint when it is missing), ``--at`` and ``--wrt`` naming
variables the expression as written has (even when simplification removed
them), ``--wrt`` naming a variable that occurs nowhere (an error), and
``symdiff functions``."""

from __future__ import annotations

import json

import pytest

from symdiff.cli.common import source_names
from symdiff.cli.main import main
from symdiff.text.parser import parse_program


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path / "cache"))


def _run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:         # argparse errors exit from inside parse_args
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


# -- expressions that start with '-' --------------------------------------------


def test_double_dash_before_a_negative_expression(capsys):
    code, out, err = _run(capsys, "diff", "--", "-x^2")
    assert (code, err) == (0, "")
    assert out == "f = -x^2\ndf/dx = -2*x\n"


def test_options_then_double_dash(capsys):
    code, out, _ = _run(capsys, "diff", "--at", "x=3", "--", "-x^2")
    assert code == 0 and out.endswith("at x=3.0:\n  f = -9.0\n  df/dx = -6.0\n")


@pytest.mark.parametrize("command", ["diff", "compile", "compare"])
@pytest.mark.parametrize("expr", ["-x^2", "-sin(x)", "-(x+y)", "-2*x"])
def test_missing_double_dash_gets_a_hint(capsys, command, expr):
    code, out, err = _run(capsys, command, expr)
    assert code == 2 and out == ""
    assert err.splitlines()[-2:] == [
        f"symdiff {command}: error: unrecognized arguments: {expr}",
        f"put -- before an expression that starts with '-', after any options: "
        f"symdiff {command} [options] -- '{expr}'"]


def test_unknown_option_gets_no_hint(capsys):
    code, _, err = _run(capsys, "diff", "x", "--bogus")
    assert code == 2
    assert err.splitlines()[-1] == "symdiff diff: error: unrecognized arguments: --bogus"


# -- variables of the expression as written ----------------------------------------


@pytest.mark.parametrize("text, names", [
    ("x^0 + y", ["x", "y"]),
    ("y = 3*x; y + z", ["x", "z"]),
    ("1e5*x + 2.5E-3 + e*pi", ["x"]),
    ("sin(t) + max(a, b)", ["t", "a", "b"]),
])
def test_source_names(text, names):
    assert source_names(text, parse_program(text)) == names


def test_at_accepts_a_variable_simplification_removed(capsys):
    # x^0 -> 1: x is gone from f, but the user wrote it (was: "x does not occur").
    code, out, err = _run(capsys, "diff", "x^0 + y", "--at", "x=1,y=2")
    assert (code, err) == (0, "")
    assert out == "f = 1 + y\ndf/dy = 1\n\nat x=1.0, y=2.0:\n  f = 3.0\n  df/dy = 1.0\n"


def test_compile_at_accepts_a_variable_simplification_removed(capsys):
    code, out, err = _run(capsys, "compile", "x^0 + y", "--at", "x=1,y=2")
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == ["at x=1.0, y=2.0:", "  f     = 3.0", "  df/dy = 1.0"]


def test_wrt_a_variable_simplification_removed_is_zero(capsys):
    code, out, _ = _run(capsys, "diff", "x^0 + y", "--wrt", "x,y", "--at", "x=1,y=2")
    assert code == 0
    assert "df/dx = 0\n" in out and "  df/dx = 0.0\n" in out


def test_at_still_refuses_names_that_occur_nowhere(capsys):
    code, out, err = _run(capsys, "diff", "x^0 + y", "--at", "x=1,y=2,q=3")
    assert (code, out, err) == (2, "", "error: --at: q does not occur in the expression\n")


@pytest.mark.parametrize("command", [["diff"], ["compile"],
                                     ["compare", "--at", "x=1,y=2,q=1"]])
def test_wrt_a_name_that_occurs_nowhere_is_an_error(capsys, command):
    # Was: "df/dq = 0", exit 0.
    code, out, err = _run(capsys, command[0], "x*y", *command[1:], "--wrt", "q")
    assert (code, out) == (2, "")
    assert err == ("error: --wrt: q does not occur in the expression; its variables are: "
                   "x, y\n")


def test_wrt_in_an_expression_without_variables(capsys):
    code, _, err = _run(capsys, "diff", "2*pi", "--wrt", "q")
    assert code == 2
    assert err == "error: --wrt: q does not occur in the expression; it has no variables\n"


def test_wrt_unknown_tensor_is_an_error(capsys):
    code, _, err = _run(capsys, "diff", "sum(X)", "--shape", "X=3", "--wrt", "Q")
    assert code == 2
    assert err == "error: --wrt: Q does not occur in the expression; its variables are: X\n"


def test_api_keeps_returning_zero_for_absent_variables():
    import symdiff as sd

    x, y, q = sd.symbols("x y q")
    assert sd.evaluate(sd.grad(x * y, [q]), {"x": 1.0, "y": 2.0, "q": 0.0}) == [0.0]


# -- symdiff functions -----------------------------------------------------------------


def test_functions_lists_every_callable(capsys):
    from symdiff.core.ops import FUNCTIONS
    from symdiff.text import functions

    code, out, _ = _run(capsys, "functions", "--format", "json")
    doc = json.loads(out)
    assert code == 0
    assert doc["scalar"] == sorted(FUNCTIONS) and doc["tensor"] == sorted(functions.FUNCTIONS)
    assert {"sin", "log1p", "hypot", "max"} <= set(doc["scalar"])
    code, out, _ = _run(capsys, "functions")
    lines = out.splitlines()
    assert lines[0] == "scalar functions (elementwise on tensors):"
    assert "  sin        1 argument" in lines
    assert "  max        2 or more arguments" in lines
