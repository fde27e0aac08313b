"""The `symdiff diff` and `symdiff compile` commands: output contracts and
error handling."""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from symdiff.cli.main import main

LECTURE = "exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)"
LN2 = math.log(2)
DX = 3 * math.exp(6) + 3 / LN2 - 3 / LN2 ** 2 + math.cos(LN2) / 12 - math.sin(LN2) / 12
DZ = 2 * math.exp(6) + 2 / LN2 - math.sin(LN2) / 18


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path / "cache"))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_diff_json_contract(capsys):
    code, out, err = run(capsys, "diff", LECTURE, "--at", "x=2,z=3", "--format", "json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["inputs"] == ["x", "z"]
    assert set(doc["derivatives"]) == {"x", "z"}
    assert all(isinstance(v, str) for v in doc["derivatives"].values())
    assert doc["gradient"]["x"] == pytest.approx(DX, rel=1e-14)
    assert doc["gradient"]["z"] == pytest.approx(DZ, rel=1e-14)
    assert doc["value"] == pytest.approx(math.exp(6) + 6 / LN2 + math.sin(LN2) / 6, rel=1e-14)
    assert "hessian" not in doc


def test_diff_json_hessian(capsys):
    code, out, _ = run(capsys, "diff", "x^3*y + y^2", "--at", "x=2,y=5",
                       "--hessian", "--format", "json")
    doc = json.loads(out)
    assert code == 0
    assert doc["hessian"] == [[60.0, 12.0], [12.0, 2.0]]
    assert doc["gradient"] == {"x": 60.0, "y": 18.0}


def test_diff_json_without_point_has_no_values(capsys):
    code, out, _ = run(capsys, "diff", "x*y", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["derivatives"] == {"x": "y", "y": "x"}
    assert "value" not in doc and "gradient" not in doc


def test_diff_text_cse_and_plain(capsys):
    code, out, _ = run(capsys, "diff", "x*y + sin(x*y)")
    assert code == 0
    assert out.splitlines()[0] == "t1 = x*y"
    code, out, _ = run(capsys, "diff", "x^2*sin(x)", "--no-cse")
    lines = out.splitlines()
    assert lines[0].split("=", 1)[1].strip() == "x^2*sin(x)"
    assert "x^2*cos(x)" in lines[1]


def test_diff_wrt_and_values(capsys):
    code, out, _ = run(capsys, "diff", LECTURE, "--wrt", "z", "--at", "x=2,z=3")
    assert code == 0
    assert "df/dz" in out and "df/dx" not in out
    assert repr(DZ)[:12] in out


def test_diff_latex(capsys):
    code, out, _ = run(capsys, "diff", "x/y", "--format", "latex")
    assert code == 0
    assert out.splitlines()[0] == r"f = \frac{x}{y}"


def test_diff_from_file(tmp_path, capsys):
    p = tmp_path / "f.sd"
    p.write_text("a = x*z\nb = log(x)\ny = exp(a) + a/b + sin(b)/a\n")
    code, out, _ = run(capsys, "diff", "-f", str(p), "--at", "x=2,z=3", "--format", "json")
    assert code == 0
    assert json.loads(out)["gradient"]["x"] == pytest.approx(DX, rel=1e-14)


@pytest.mark.parametrize("argv, needle", [
    (["diff", "x +* y"], "line 1, column"),
    (["diff", "sinn(x)"], "unknown function 'sinn'"),
    (["diff", "(x + 1"], "unclosed"),
    (["diff", ""], "empty input"),
    (["diff", "x*y", "--at", "x=1"], "no value given for y"),
    (["diff", "x*y", "--at", "x=1,y=foo(2)"], "bad value for y"),
    (["diff", "x*y", "--at", "x=1,y"], "expected NAME=VALUE"),
    (["diff", "x*y", "--wrt", "x,,1q"], "not a variable name"),
    (["diff", "x, y"], "one scalar output"),
    (["diff", "-f", "/nonexistent/file"], "cannot read"),
    (["compile", "x*y", "--name", "1bad"], "C identifier"),
])
def test_bad_input_exit_2_no_traceback(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 12


@pytest.mark.parametrize("command", ["diff", "compile"])
def test_tensor_valued_output_without_declarations_is_explained(capsys, command):
    # No declaration, but the output is a vector: both commands route it to
    # their tensor path, which says why (not grad's internal message).
    code, out, err = run(capsys, command, "x*[1,2]")
    assert code == 2 and out == ""
    assert err == (f"error: symdiff {command} differentiates a scalar, but the output has "
                   "shape 2 (reduce it, e.g. with sum(...) or mean(...))\n")


def test_parse_error_shows_caret(capsys):
    code, _, err = run(capsys, "diff", "x + sinn(x)")
    assert code == 2
    lines = err.splitlines()
    caret = [ln for ln in lines if ln.strip().startswith("|") and "^" in ln][0]
    src = [ln for ln in lines if ln.startswith("1 |")][0]
    assert src.index("sinn") == caret.index("^")


def test_console_script_exit_status():
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    r = subprocess.run([sys.executable, "-m", "symdiff.cli", "diff", "x*"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "^" in r.stderr


def test_compile_runs_at_point(capsys):
    code, out, _ = run(capsys, "compile", LECTURE, "--at", "x=2,z=3")
    assert code == 0
    vals = {ln.split("=")[0].strip(): float(ln.split("=")[1]) for ln in out.splitlines()
            if ln.startswith("  ")}
    assert vals["df/dx"] == pytest.approx(DX, rel=1e-14)
    assert vals["df/dz"] == pytest.approx(DZ, rel=1e-14)


def test_compile_emit_llvm_and_asm(capsys, tmp_path):
    code, out, _ = run(capsys, "compile", "x^2*y", "--emit", "llvm")
    assert code == 0 and "define" in out and "fmul double" in out
    target = tmp_path / "k.s"
    code, _, _ = run(capsys, "compile", "x^2*y", "--emit", "asm", "-o", str(target))
    assert code == 0 and target.read_text().count("\n") > 10


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="needs a C compiler")
def test_compile_shared_library_called_from_c(capsys, tmp_path):
    lib = tmp_path / "liblecture.so"
    code, _, _ = run(capsys, "compile", LECTURE, "--emit", "shared", "-o", str(lib),
                     "--name", "lecture")
    assert code == 0 and lib.exists()
    header = tmp_path / "lecture.h"
    assert "void lecture(const double *in, double *out);" in header.read_text()
    src = tmp_path / "main.c"
    src.write_text('#include <stdio.h>\n#include "lecture.h"\n'
                   "int main(void) { double in[2] = {2.0, 3.0}, out[3];\n"
                   "  lecture(in, out);\n"
                   '  printf("%.17g %.17g %.17g\\n", out[0], out[1], out[2]);\n'
                   "  double X[4] = {2.0, 3.0, 2.0, 3.0}, Y[6];\n"
                   "  lecture_batch(X, 2, 1, Y, 2);\n"
                   '  printf("%.17g\\n", Y[4]);\n  return 0; }\n')
    exe = tmp_path / "main"
    cc = shutil.which("cc") or shutil.which("gcc")
    subprocess.run([cc, str(src), "-o", str(exe), f"-L{tmp_path}", "-llecture",
                    f"-Wl,-rpath,{tmp_path}"], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    f, dx, dz = (float(v) for v in out.split()[:3])
    assert dx == pytest.approx(DX, rel=1e-14) and dz == pytest.approx(DZ, rel=1e-14)
    assert float(out.split()[3]) == pytest.approx(DX, rel=1e-14)
