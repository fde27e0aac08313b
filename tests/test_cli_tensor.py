"""`symdiff diff` on tensor programs: declarations by --shape or in the
program, the printed derivative program (exact text), --wrt, --hessian,
JSON and LaTeX, --at with .npy files, and errors (message, caret, exit
status 2, no traceback)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symdiff.cli.main import main

SHAPES = ["--shape", "X=m,64", "--shape", "Theta=64,10", "--shape", "y=m:int"]
LOSS = "mean(logsumexp(X @ Theta, axis=1) - sum(onehot(y, 10) * (X @ Theta), axis=1))"
PROGRAM = """\
# softmax regression
X : m x 64
Theta : 64 x 10
y : m int
Z = X @ Theta
Iy = onehot(y, 10)
loss = mean(logsumexp(Z, axis=1) - sum(Iy * Z, axis=1))
"""


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path, monkeypatch):
    """.npy inputs in a temporary working directory: X (5 x 64), Theta
    (64 x 10), labels y, a 2 x 2 matrix A and a vector x; and the program."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(7)
    data = {"X": rng.normal(size=(5, 64)), "T": 0.1 * rng.normal(size=(64, 10)),
            "y": rng.integers(0, 10, size=5), "A": np.array([[2.0, 1.0], [0.0, 3.0]]),
            "x": np.array([1.0, 2.0]), "yf": np.zeros(5)}
    for name, value in data.items():
        np.save(tmp_path / f"{name}.npy", value)
    (tmp_path / "softmax.sd").write_text(PROGRAM)
    (tmp_path / "notnpy.npy").write_text("not an array")
    return data


def test_shapes_from_options(capsys):
    code, out, err = run(capsys, "diff", LOSS, *SHAPES, "--wrt", "Theta")
    assert code == 0 and err == ""
    assert out == "\n".join([
        "t1 = X @ Theta                                           # m x 10",
        "t2 = onehot(y, 10)                                       # m x 10",
        "f = mean(logsumexp(t1, axis=1) - sum(t1 * t2, axis=1))   # scalar",
        "df/dTheta = X.T @ (softmax(t1, axis=1) - t2) / m         # 64 x 10",
    ]) + "\n"


def test_declarations_in_the_program_keep_its_names(capsys, files):
    code, out, _ = run(capsys, "diff", "-f", "softmax.sd", "--wrt", "Theta")
    assert code == 0
    assert out == "\n".join([
        "Z = X @ Theta                                          # m x 10",
        "Iy = onehot(y, 10)                                     # m x 10",
        "f = mean(logsumexp(Z, axis=1) - sum(Z * Iy, axis=1))   # scalar",
        "df/dTheta = X.T @ (softmax(Z, axis=1) - Iy) / m        # 64 x 10",
    ]) + "\n"


def test_every_float_tensor_by_default(capsys):
    # labels y are integers: never differentiated
    code, out, _ = run(capsys, "diff", LOSS, *SHAPES)
    assert code == 0
    assert out.splitlines()[-3:] == [
        "f = mean(logsumexp(t1, axis=1) - sum(t1 * t2, axis=1))   # scalar",
        "df/dTheta = X.T @ t3 / m                                 # 64 x 10",
        "df/dX = t3 @ Theta.T / m                                 # m x 64",
    ]


def test_no_cse_and_latex(capsys):
    code, out, _ = run(capsys, "diff", LOSS, *SHAPES, "--wrt", "Theta", "--no-cse")
    assert code == 0
    assert out.splitlines()[1] == \
        "df/dTheta = X.T @ (softmax(X @ Theta, axis=1) - onehot(y, 10)) / m"
    code, out, _ = run(capsys, "diff", LOSS, *SHAPES, "--wrt", "Theta", "--format", "latex")
    assert code == 0
    assert out.splitlines()[1] == (
        r"\frac{\partial f}{\partial \Theta} = \frac{X^\top \left(\operatorname{softmax}"
        r"\left(X \Theta\right) - I_{y}\right)}{m}")


def test_quadratic_with_hessian_and_values(capsys, files):
    code, out, err = run(capsys, "diff", "x @ (A @ x)", "--shape", "A=n,n", "--shape", "x=n",
                         "--wrt", "x", "--hessian", "--at", "A=A.npy,x=x.npy")
    assert code == 0 and err == ""
    assert out == "\n".join([
        "t1 = A + A.T      # n x n",
        "f = x @ (A @ x)   # scalar",
        "df/dx = t1 @ x    # n",
        "d2f/dxdx = t1     # n x n",
        "",
        "at A=A.npy (2 x 2), x=x.npy (2):",
        "  f = 16.0",
        "  df/dx = 2 array",
        "    [ 6. 13.]",
        "  d2f/dxdx = 2 x 2 array",
        "    [[4. 1.]",
        "     [1. 6.]]",
    ]) + "\n"


def test_hessian_of_a_scalar_and_a_vector(capsys, files):
    code, out, _ = run(capsys, "diff", "lam * x @ x", "--shape", "x=n", "--hessian",
                       "--at", "x=x.npy,lam=2")
    assert code == 0
    assert out.splitlines()[:8] == [
        "t1 = x @ x               # scalar",
        "t2 = 2*lam               # scalar",
        "f = lam*t1               # scalar",
        "df/dlam = t1             # scalar",
        "df/dx = x * t2           # n",
        "d2f/dlamdlam = 0         # scalar",
        "d2f/dlamdx = 2 * x       # n",
        "d2f/dxdx = eye(n) * t2   # n x n",
    ]
    assert out.splitlines()[9:] == [
        "at lam=2.0, x=x.npy (2):",
        "  f = 10.0",
        "  df/dlam = 5.0",
        "  df/dx = 2 array",
        "    [4. 8.]",
        "  d2f/dlamdlam = 0.0",
        "  d2f/dlamdx = 2 array",
        "    [2. 4.]",
        "  d2f/dxdx = 2 x 2 array",
        "    [[4. 0.]",
        "     [0. 4.]]",
    ]


def test_least_squares_latex_hessian(capsys):
    code, out, _ = run(capsys, "diff", "0.5 * sum((A @ x - b)^2)", "--shape", "A=k,n",
                       "--shape", "x=n", "--shape", "b=k", "--wrt", "x", "--hessian",
                       "--format", "latex")
    assert code == 0
    assert out.splitlines() == [
        r"f = 0.5 \operatorname{sum}\left(\left(A x - b\right)^{2}\right)",
        r"\frac{\partial f}{\partial x} = A^\top \left(A x - b\right)",
        r"\frac{\partial^2 f}{\partial x\,\partial x} = A^\top A",
    ]


def test_values_match_the_closed_form(capsys, files):
    code, out, _ = run(capsys, "diff", "-f", "softmax.sd", "--wrt", "Theta",
                       "--at", "X=X.npy,Theta=T.npy,y=y.npy", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    X, T, y = files["X"], files["T"], files["y"]
    Z = X @ T
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    want_g = X.T @ (P - np.eye(10)[y]) / len(y)
    want_f = np.mean(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(5), y])
    assert doc["value"] == pytest.approx(want_f, rel=1e-12)
    np.testing.assert_allclose(doc["gradient"]["Theta"], want_g, rtol=1e-10, atol=1e-15)
    assert doc["inputs"] == ["Theta", "X", "y"]
    assert doc["shapes"] == {"Theta": [64, 10], "X": ["m", 64], "y": ["m"]}
    assert doc["derivatives"] == {"Theta": "X.T @ (softmax(Z, axis=1) - Iy) / m"
                                  .replace("Z", "X @ Theta").replace("Iy", "onehot(y, 10)")}
    assert doc["program"].splitlines()[-1] == \
        "df/dTheta = X.T @ (softmax(Z, axis=1) - Iy) / m        # 64 x 10"


def test_text_values_are_summarized(capsys, files):
    code, out, _ = run(capsys, "diff", "-f", "softmax.sd", "--wrt", "Theta",
                       "--at", "X=X.npy,Theta=T.npy,y=y.npy")
    assert code == 0
    lines = out.splitlines()
    at = lines.index("at Theta=T.npy (64 x 10), X=X.npy (5 x 64), y=y.npy (5):")
    assert lines[at + 1].startswith("  f = 2.")
    assert lines[at + 2] == "  df/dTheta = 64 x 10 array"
    body = lines[at + 3:]
    assert len(body) == 7 and body[3].strip() == "..."     # 3 rows, ..., 3 rows
    assert all("..." in row for row in body)                # and 3 + 3 columns


def test_wrt_a_declared_tensor_the_loss_does_not_use(capsys):
    code, out, _ = run(capsys, "diff", "sum(X)", "--shape", "X=2,3", "--shape", "W=3",
                       "--wrt", "X,W")
    assert code == 0
    assert out.splitlines() == [
        "f = sum(X)                        # scalar",
        "df/dX = broadcast_to(1, (2, 3))   # 2 x 3",
        "df/dW = broadcast_to(0, (3,))     # 3",
        "# f does not depend on W",
    ]


def test_graph_takes_shapes(capsys):
    code, out, _ = run(capsys, "graph", LOSS, *SHAPES, "--grad", "--wrt", "Theta")
    assert code == 0
    assert 'label="softmax(axis=1)\\nm x 10"' in out
    assert 'label="Theta\\n64 x 10"' in out


@pytest.mark.parametrize("argv, lines", [
    (["diff", "X : m x 64\nX @ X"], [
        "error: matmul: shapes (m, 64) and (m, 64) do not match: 64 (axis 1 of the left) "
        "!= m (axis 0 of the right)",
        "  --> line 2, column 3",
        "  |",
        "2 | X @ X",
        "  |   ^",
    ]),
    (["diff", "sum(X @ W)", "--shape", "X=m,64", "--shape", "W=32,10"], [
        "error: matmul: shapes (m, 64) and (32, 10) do not match: 64 (axis 1 of the left) "
        "!= 32 (axis 0 of the right)",
        "  --> line 1, column 7",
        "  |",
        "1 | sum(X @ W)",
        "  |       ^",
    ]),
    (["diff", "X @ W", "--shape", "X=m,3", "--shape", "W=3,2"],
     ["error: symdiff diff differentiates a scalar, but the output has shape m x 2 (reduce "
      "it, e.g. with sum(...) or mean(...))"]),
    (["diff", "-f", "softmax.sd", "--wrt", "y"],
     ["error: cannot differentiate with respect to 'y': it is an integer tensor (labels)"]),
    (["diff", "x @ (A @ x)", "--shape", "A=n,n", "--shape", "x=n", "--hessian"],
     ["error: --hessian needs vector or scalar variables; A has shape n x n (choose others "
      "with --wrt)"]),
    (["diff", "sum(x)", "--shape", "x=m,,2"],
     ["error: --shape x=m,,2: '' is not a dimension (an integer or a name)"]),
    (["diff", "sum(x)", "--shape", "x=m:int8"],
     ["error: --shape x=m:int8: the type after ':' must be int or float, got 'int8'"]),
    (["diff", "sum(x)", "--shape", "x"],
     ["error: --shape: expected NAME=DIMS such as X=m,64 or y=m:int, got 'x'"]),
    (["diff", "sum(x)", "--shape", "x=3", "--shape", "x=4"],
     ["error: --shape: x is declared twice"]),
    (["diff", "sum(x)", "--shape", "sum=3"],
     ["error: --shape sum=3: 'sum' cannot be a symbol name: it is reserved for the function "
      "sum"]),
    (["diff", "-f", "softmax.sd", "--shape", "X=m,32"], [
        "error: 'X' is already declared as m x 32 before the program text",
        "  --> line 2, column 1",
        "  |",
        "2 | X : m x 64",
        "  | ^^^^^^^^^^",
    ]),
    (["diff", "-f", "softmax.sd", "--at", "X=X.npy,Theta=missing.npy,y=y.npy"],
     ["error: --at: cannot read missing.npy: No such file or directory"]),
    (["diff", "-f", "softmax.sd", "--at", "X=X.npy,Theta=notnpy.npy,y=y.npy"], None),
    (["diff", "-f", "softmax.sd", "--at", "X=X.npy,Theta=T.npy,y=yf.npy"],
     ["error: --at: y holds integer labels, but yf.npy holds float64 values"]),
    (["diff", "-f", "softmax.sd", "--at", "X=X.npy,Theta=2,y=y.npy"],
     ["error: --at: Theta is a 64 x 10 tensor; give its values in a .npy file "
      "(Theta=Theta.npy)"]),
    (["diff", "-f", "softmax.sd", "--at", "X=T.npy,Theta=T.npy,y=y.npy"],
     ["error: input X: expected shape (m, 64), got (64, 10) (axis 1: 10 != 64)"]),
    (["diff", "-f", "softmax.sd", "--at", "X=X.npy,Theta=T.npy"],
     ["error: --at: no value given for y"]),
])
def test_errors_exit_2(capsys, files, argv, lines):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert "Traceback" not in err
    if lines is None:
        assert err.startswith("error: --at: notnpy.npy is not a readable .npy file")
    else:
        assert err.splitlines() == lines


# ---------------------------------------------------------------------------
# symdiff compile on tensor programs


SMALL = ["--shape", "X=m,4", "--shape", "Theta=4,3", "--shape", "y=m:int"]
SMALL_LOSS = "mean(logsumexp(X @ Theta, axis=1) - sum(onehot(y, 3) * (X @ Theta), axis=1))"


def _npy_inputs(tmp_path):
    rng = np.random.default_rng(5)
    v = {"X": rng.normal(size=(6, 4)), "Theta": rng.normal(size=(4, 3)),
         "y": rng.integers(0, 3, size=6)}
    for k, a in v.items():
        np.save(tmp_path / f"{k}.npy", a)
    return v


def test_compile_runs_a_tensor_gradient_from_npy_files(capsys, tmp_path):
    import symdiff as sd

    v = _npy_inputs(tmp_path)
    at = ",".join(f"{k}={tmp_path / k}.npy" for k in v)
    code, out, err = run(capsys, "compile", SMALL_LOSS, *SMALL, "--wrt", "Theta", "--at", at)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("compiled symdiff_fn: inputs Theta: 4 x 3, X: m x 4, y: m; "
                               "2 outputs, ")
    assert lines[1] == "at Theta, X, y:"
    X, T, y = (sd.tensor("X", ("m", 4)), sd.tensor("Theta", (4, 3)),
               sd.tensor("y", ("m",), dtype=int))
    Z = X @ T
    loss = sd.mean(sd.logsumexp(Z, axis=1) - sd.sum(sd.onehot(y, 3) * Z, axis=1))
    ref = sd.evaluate([loss, sd.grad(loss, T)], v)
    assert lines[2] == f"  f = {float(ref[0])!r}"
    assert lines[3] == "  df/dTheta = 4 x 3 array"
    got = np.array([[float(t) for t in ln.strip(" []").split()] for ln in lines[4:8]])
    np.testing.assert_allclose(got, ref[1], rtol=0, atol=1e-8)   # printed with 8 decimals


def test_compile_emits_a_tensor_c_header(capsys):
    code, out, _ = run(capsys, "compile", SMALL_LOSS, *SMALL, "--wrt", "Theta",
                       "--emit", "c-header", "--name", "sr")
    assert code == 0
    assert "int sr(const double *Theta,\n    const double *X,\n    const int64_t *y,\n" \
           "    double *out0,\n    double *out1,\n    int64_t m);" in out
    assert " *   out1 (df/dTheta): 4 x 3" in out and " *   y: m (integer labels)" in out


def test_compile_writes_a_tensor_shared_library(capsys, tmp_path):
    import shutil

    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) on this machine")
    lib = tmp_path / "libsr.so"
    code, _, err = run(capsys, "compile", SMALL_LOSS, *SMALL, "--wrt", "Theta",
                       "--emit", "shared", "-o", str(lib), "--name", "sr")
    assert code == 0 and lib.exists() and (tmp_path / "sr.h").exists()
    assert err.strip() == f"wrote {lib} and {tmp_path / 'sr.h'}"


@pytest.mark.parametrize("extra, message", [
    (["--hessian"], "error: --hessian of a tensor program: use symdiff diff --hessian, or "
                    "sd.hessian in Python"),
    (["--fast-math"], "error: --fast-math applies to scalar programs only"),
])
def test_compile_tensor_errors_exit_2(capsys, extra, message):
    code, _, err = run(capsys, "compile", SMALL_LOSS, *SMALL, "--wrt", "Theta", *extra)
    assert code == 2 and err.splitlines()[0] == message


def test_compile_tensor_bad_npy_shape_exits_2(capsys, tmp_path):
    v = _npy_inputs(tmp_path)
    np.save(tmp_path / "Theta.npy", np.zeros((3, 3)))
    at = ",".join(f"{k}={tmp_path / k}.npy" for k in v)
    code, _, err = run(capsys, "compile", SMALL_LOSS, *SMALL, "--wrt", "Theta", "--at", at)
    assert code == 2 and "Traceback" not in err
    assert "Theta" in err and "(4, 3)" in err
