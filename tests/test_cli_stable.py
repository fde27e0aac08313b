"""``--stable`` on ``symdiff diff`` and ``symdiff compile``: the rewritten f and
derivatives are printed with the rewrites, and their values stay finite where
the naive formulas overflow (d/dx log(1 + exp(x)) at x = 800 is NaN in JAX,
PyTorch and SymPy)."""

from __future__ import annotations

import json

from symdiff.cli.main import main

SOFTPLUS_TIMES_Y = "log(1+exp(x))*y"


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_diff_stable_lists_rewrites_and_stays_finite(capsys):
    code, out, _ = _run(capsys, ["diff", SOFTPLUS_TIMES_Y, "--at", "x=800,y=2"])
    assert code == 0 and "df/dx = nan" in out and "f = inf" in out
    code, out, _ = _run(capsys, ["diff", SOFTPLUS_TIMES_Y, "--stable", "--at", "x=800,y=2"])
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("# ") and "log(1 + exp(x)) -> " in lines[0]
    assert "df/dx = y*sigmoid(x)" in lines
    assert lines[-3:] == ["  f = 1600.0", "  df/dx = 2.0", "  df/dy = 800.0"]


def test_diff_stable_json_carries_the_rewrites(capsys):
    code, out, _ = _run(capsys, ["diff", "exp(x) - 1", "--stable", "--format", "json"])
    assert code == 0
    doc = json.loads(out)
    assert doc["f"] == "expm1(x)"
    assert doc["derivatives"] == {"x": "exp(x)"}
    assert [r["rule"] for r in doc["rewrites"]] == ["expm1"]
    assert doc["rewrites"][0]["before"] == "exp(x) - 1"


def test_diff_stable_with_nothing_to_rewrite(capsys):
    code, out, _ = _run(capsys, ["diff", "x*y", "--stable"])
    assert code == 0
    assert out.splitlines()[0] == "# --stable: nothing to rewrite"


def test_compile_stable_prints_and_runs_the_stable_program(capsys):
    code, out, _ = _run(capsys, ["compile", SOFTPLUS_TIMES_Y, "--stable", "--at", "x=800,y=2"])
    assert code == 0
    assert "df/dx = y*sigmoid(x)" in out.splitlines()
    assert out.splitlines()[-3:] == ["  f     = 1600.0", "  df/dx = 2.0", "  df/dy = 800.0"]
    code, out, _ = _run(capsys, ["compile", SOFTPLUS_TIMES_Y, "--at", "x=800,y=2"])
    assert "  df/dx = nan" in out.splitlines()


def test_compile_stable_hessian_and_json(capsys):
    code, out, _ = _run(capsys, ["compile", "log(1+exp(x))", "--stable", "--hessian",
                                 "--at", "x=698", "--format", "json"])
    assert code == 0
    doc = json.loads(out)
    assert doc["rewrites"] and doc["values"]["f"] == 698.0
    assert doc["values"]["df/dx"] == 1.0
    # sigmoid'(698) = e^-698 / (1 + e^-698)^2 = 7.28537030991516089e-304 (mpmath), not 0
    assert abs(doc["values"]["d2f/dxdx"] / 7.28537030991516089e-304 - 1) < 4e-16


def test_stable_on_a_tensor_program_is_a_clear_error(capsys):
    for cmd in ("diff", "compile"):
        code, out, err = _run(capsys, [cmd, "sum(log(1+exp(X)))", "--shape", "X=3", "--stable"])
        assert code == 2 and out == ""
        assert err.strip() == ("error: --stable: the command line rewrites scalar programs "
                               "only; for a tensor program use sd.stabilize or "
                               "sd.compile(..., stable=True)")
