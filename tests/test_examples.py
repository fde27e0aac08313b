"""The example scripts in examples/: each runs (small configurations) and
gets the right answer, not just exit status 0.

The examples need the ``examples`` extra (scikit-learn, scipy); tests of
those that use them are skipped where the extra is not installed, so the
core suite still passes without it.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symdiff as sd

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = ["lecture_derivatives", "softmax_regression", "mlp_backprop", "mnist_mlp",
           "optimize_rosenbrock", "fit_model", "dask_rows"]
LAST_LINE = re.compile(r"^test accuracy: 0\.\d{3}$")


@pytest.fixture(scope="module", autouse=True)
def _cache_dir(tmp_path_factory):
    """A private compile cache for the module: no test reads or fills the
    user's cache, and kernels compiled by one test are reused by the next."""
    path = tmp_path_factory.mktemp("symdiff-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("SYMDIFF_CACHE_DIR", str(path))
    yield path
    mp.undo()


def load(name: str):
    """Import examples/<name>.py as a module (the scripts are not a
    package), leaving sys.path as it was."""
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module


def load_common():
    """examples/_common.py, imported under its own name as the scripts do
    (its dataclass needs a registered module), leaving sys.path as it was."""
    saved = list(sys.path)
    try:
        sys.path.insert(0, str(EXAMPLES))
        import _common
    finally:
        sys.path[:] = saved
    return _common


def last_line(text: str) -> str:
    """The last non-empty line of ``text``."""
    return [line for line in text.splitlines() if line.strip()][-1]


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_has_header_and_help(name):
    """Every script starts with a docstring saying what it shows, runs as a
    program (``--help`` exits 0 and lists --quick) and then reports its wall
    time (to stderr, see _common.report_wall_time)."""
    source = (EXAMPLES / f"{name}.py").read_text()
    assert source.startswith('"""'), f"{name}.py has no header docstring"
    assert 'if __name__ == "__main__":\n    main()\n    report_wall_time()\n' in source
    proc = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout


def test_lecture_derivatives(tmp_path, capsys):
    """The three ways agree with the lecture's closed forms; the running
    example is drawn; the product example shows n(n-2) against ~3n."""
    mod = load("lecture_derivatives")
    res = mod.main(["--quick", "--outdir", str(tmp_path)])
    out = capsys.readouterr().out

    # The lecture's closed forms, by every exact method and approximately
    # by finite differences.
    lec = res["lecture"]
    l2 = math.log(2)
    exact = [3 * math.exp(6) + 3 / l2 - 3 / l2 ** 2 + math.cos(l2) / 12 - math.sin(l2) / 12,
             2 * math.exp(6) + 2 / l2 - math.sin(l2) / 18]
    np.testing.assert_allclose(lec["closed_form"], exact, rtol=1e-15)
    np.testing.assert_allclose(lec["symbolic"], exact, rtol=1e-13)
    np.testing.assert_allclose(lec["reverse"], exact, rtol=1e-13)
    np.testing.assert_allclose(lec["central_difference"], exact, rtol=1e-8)
    np.testing.assert_allclose(lec["forward_difference"], exact, rtol=1e-6)
    for row in lec["methods"]:
        assert row.ok, row.error
        if row.name in ("symbolic", "compiled", "forward", "reverse", "complex_step"):
            assert row.max_rel_error < 1e-13, row
        else:
            assert row.max_rel_error < 1e-6, row
    assert "1208.381215126" in out and "809.707479218" in out

    # Running example: symbolic and tape agree with the closed form; the
    # graph and tape drawings exist.
    run = res["running"]
    np.testing.assert_allclose(run["symbolic"], [run["closed_form"]] * 2, rtol=1e-13)
    np.testing.assert_allclose(run["reverse"], [run["closed_form"]] * 2, rtol=1e-13)
    dot = (tmp_path / "running_example_graph.dot").read_text()
    assert dot.startswith("digraph") and "log" in dot and "exp" in dot
    assert (tmp_path / "running_example_tape.dot").read_text().startswith("digraph")
    if shutil.which("dot"):
        png = (tmp_path / "running_example_graph.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert (tmp_path / "running_example_tape.svg").exists()

    # The n(n-1) example: naive SymPy needs n(n-2) multiplications (n
    # products of n-1 factors), symdiff's shared gradient about 3n.
    ops = {(r.approach, r.n): r.ops for r in res["product"]}
    assert ops["naive_symbolic", 5] == 5 * 3 and ops["naive_symbolic", 10] == 10 * 8
    assert ops["symbolic", 10] <= 3 * 10 and ops["symbolic", 10] < ops["naive_symbolic", 10]


def test_lecture_derivatives_renders_through_dot(tmp_path, capsys, fake_dot, monkeypatch):
    """render() runs dot once per image format on the DOT text (a stand-in
    dot from tests/conftest.py: Graphviz is not installed in CI), and a
    failing dot leaves the DOT file and says so."""
    mod = load("lecture_derivatives")
    x = sd.symbol("x")
    text = sd.to_dot([x * sd.sin(x)], names=["f"])
    stem = str(tmp_path / "g")
    assert mod.render(text, stem) == [f"{stem}.dot", f"{stem}.png", f"{stem}.svg"]
    assert (tmp_path / "g.dot").read_text() == text
    assert [c["argv"] for c in fake_dot.calls()] == [["-Tpng", "-o", f"{stem}.png"],
                                                     ["-Tsvg", "-o", f"{stem}.svg"]]
    assert all(c["stdin"] == text for c in fake_dot.calls())
    assert (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in (tmp_path / "g.svg").read_bytes()
    monkeypatch.setenv("FAKE_DOT_FAIL", "1")
    bad = str(tmp_path / "bad")
    assert mod.render(text, bad) == [f"{bad}.dot"]
    out = capsys.readouterr().out
    assert f"(Graphviz failed on {bad}.png: Error: <stdin>: syntax error" in out
    assert f"(Graphviz failed on {bad}.svg: " in out


def test_softmax_regression(capsys, _cache_dir):
    """Default run: symdiff prints X^T (softmax - I_y) / m, the compiled
    gradient equals the closed form, the accuracy floor holds, last line."""
    pytest.importorskip("sklearn")
    mod = load("softmax_regression")
    res = mod.main([])   # the default configuration: 20 epochs, about a second
    out = capsys.readouterr().out
    assert list(_cache_dir.glob("*.sdobj")), "the kernel went to the user's cache"
    # The printed gradient is the lectures' matrix expression, not scalars:
    # a product with X transposed (spelled by whichever printer is current).
    dtheta = [line for line in res["program"].splitlines() if line.startswith("dTheta")]
    assert len(dtheta) == 1 and re.search(r"transpose\(X\)|X\.T|X\^T", dtheta[0]), dtheta
    assert "onehot" in res["program"] or "I_y" in res["program"]
    assert res["closed_form_diff"] < 1e-14          # measured 1.4e-16
    assert res["test_accuracy"] >= 0.95             # measured 0.962 (seed 0)
    assert res["losses"][-1] < 0.5 * res["losses"][0]   # measured 0.151 vs 0.981
    assert LAST_LINE.match(last_line(out))
    assert last_line(out) == f"test accuracy: {res['test_accuracy']:.3f}"


def test_softmax_regression_one_kernel_for_every_m():
    """The compiled gradient equals the lectures' X^T (Z - I_y) / m and the
    numpy interpreter at m = 1, 50 and the whole training set, from one
    compiled kernel."""
    pytest.importorskip("sklearn")
    mod = load("softmax_regression")
    Xtr, _, ytr, _ = load_common().digits_split()
    X, Theta, y, loss, grad = mod.build()
    fn = sd.compile([loss, grad], [X, Theta, y])
    rng = np.random.default_rng(5)
    Tv = rng.normal(0.0, 0.3, (64, 10))
    for m in (1, 50, len(Xtr)):
        idx = rng.choice(len(Xtr), m, replace=False)
        L, G = fn(Xtr[idx], Tv, ytr[idx])
        np.testing.assert_allclose(G, mod.closed_form_gradient(Xtr[idx], Tv, ytr[idx]),
                                   rtol=1e-12, atol=1e-15)
        L_ref, G_ref = sd.evaluate([loss, grad], {"X": Xtr[idx], "Theta": Tv, "y": ytr[idx]})
        np.testing.assert_allclose(G, G_ref, rtol=1e-12, atol=1e-15)
        assert L == pytest.approx(float(L_ref), rel=1e-13)


def _numpy_mlp_backprop(params: dict, X, y, activation: str):
    """The two-layer network's mean loss gradients by the lectures' backprop,
    written here in numpy independently of symdiff and of the example:
    G2 = (softmax(Z) - I_y) / m, G1 = act'(H) * (G2 W2^T) with H = X W1 + b1,
    dW = (input)^T G, db = column sums of G."""
    H = X @ params["W1"] + params["b1"]
    A = np.tanh(H) if activation == "tanh" else np.maximum(H, 0.0)
    Z = A @ params["W2"] + params["b2"]
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    G2 = (E / E.sum(axis=1, keepdims=True) - np.eye(Z.shape[1])[y]) / len(X)
    dact = 1.0 - A * A if activation == "tanh" else (H > 0.0).astype(float)
    G1 = dact * (G2 @ params["W2"].T)
    return {"W1": X.T @ G1, "b1": G1.sum(axis=0), "W2": A.T @ G2, "b2": G2.sum(axis=0)}


def _check_mlp_against_numpy_backprop(mod, activation: str) -> None:
    """The example's compiled gradient (its network, its kernel inputs)
    equals the hand-written numpy backprop on 50 digits at random weights
    and biases, to rounding."""
    net, grads = mod.build(activation)
    fn = sd.compile([net.loss, *grads], net.inputs)
    Xtr, _, ytr, _ = load_common().digits_split()
    rng = np.random.default_rng(11)
    params = {n: rng.normal(0.0, 0.3, s) for n, s in net.shapes.items()}
    X, y = Xtr[:50], ytr[:50]
    _, *got = fn(X, y, *(params[n] for n in mod.NAMES))
    want = _numpy_mlp_backprop(params, X, y, activation)
    for name, g in zip(mod.NAMES, got):
        scale = np.max(np.abs(want[name]))
        assert np.max(np.abs(g - want[name])) <= 1e-13 * scale, name


def test_mlp_backprop(capsys):
    """Quick run: the printed backprop program has the lectures' matrix
    steps; the hand-written numpy backprop, tape, scalar expansion and
    central differences agree with the compiled gradient; accuracy floor;
    last line.  The tape and the expansion share symdiff's scalar
    derivative rules; the numpy backprop (the example's and this test's
    own) and central differences do not."""
    pytest.importorskip("sklearn")
    mod = load("mlp_backprop")
    res = mod.main(["--quick"])
    out = capsys.readouterr().out
    lines = {line.split(" = ")[0]: line for line in res["program"].splitlines()}
    assert set(lines) >= {"loss", "dW1", "db1", "dW2", "db2"}
    assert re.search(r"transpose\(X\)|X\.T|X\^T", lines["dW1"])
    assert "tanh" in res["program"]
    d = res["diffs"]
    assert d["numpy_backprop"] < 1e-13            # measured 1.3e-16
    assert d["tape"] < 1e-14                      # measured 2.8e-16
    assert d["expansion"] < 1e-14                 # measured 2.8e-16
    assert d["central_difference"] < 1e-8         # measured 2e-10
    assert res["test_accuracy"] >= 0.94           # measured 0.956 after 8 epochs (seed 0)
    assert res["losses"][-1] < 0.2 * res["losses"][0]
    assert last_line(out) == f"test accuracy: {res['test_accuracy']:.3f}"
    _check_mlp_against_numpy_backprop(mod, "tanh")


def test_mlp_backprop_relu(capsys):
    """The relu network passes the same checks (relu'(0) = 0 on every side)."""
    pytest.importorskip("sklearn")
    mod = load("mlp_backprop")
    res = mod.main(["--quick", "--activation", "relu"])
    assert "relu" in res["program"]
    assert res["diffs"]["numpy_backprop"] < 1e-13
    assert res["diffs"]["tape"] < 1e-14 and res["diffs"]["expansion"] < 1e-14
    assert res["diffs"]["central_difference"] < 1e-8
    assert res["test_accuracy"] >= 0.94           # measured 0.956 after 8 epochs (seed 0)
    _check_mlp_against_numpy_backprop(mod, "relu")


def test_mnist_mlp(capsys):
    """Quick run of the large case: the compiled gradient equals the
    hand-written backprop, the loss falls, the speed table is printed."""
    res = load("mnist_mlp").main(["--quick"])
    out = capsys.readouterr().out
    assert res["backprop_diff"] < 1e-13           # measured 3.9e-16
    losses = res["losses"]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2]
    assert losses[-1] < 0.7                       # measured 0.580 (from log 10 = 2.30)
    assert res["test_accuracy"] >= 0.78           # measured 0.820 after 3 epochs on 6,000
    assert set(res["speed"]) == {256, 6000}
    assert "samples/s" in out and "numpy / symdiff" in out
    assert last_line(out) == f"test accuracy: {res['test_accuracy']:.3f}"


def test_common_helpers():
    """Shared helpers: the synthetic images are reproducible pixels in
    [0, 1] with every class present; minibatches cover every sample once."""
    common = load_common()
    a = common.synthetic_images(300, 50, seed=3)
    b = common.synthetic_images(300, 50, seed=3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    X_train, X_test, y_train, y_test = a
    assert X_train.shape == (300, 784) and X_test.shape == (50, 784)
    assert X_train.min() >= 0.0 and X_train.max() <= 1.0
    assert y_train.dtype == np.int64 and set(y_train) == set(range(10))
    batches = list(common.minibatches(10, 4, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches)) == list(range(10))
    assert common.max_rel_diff([1.0, 2.0], [1.0, 2.5]) == 0.2


def test_optimize_rosenbrock():
    """Gradient and Hessian equal SciPy's; the exact-derivative methods
    reach the minimiser; finite differences cost many more f calls."""
    pytest.importorskip("scipy")
    from scipy.optimize import rosen_der, rosen_hess

    mod = load("optimize_rosenbrock")
    res = mod.main(["--quick"])
    assert max(res["check"]["f"], res["check"]["grad"], res["check"]["hess"]) < 1e-13

    # Independently of main(): symdiff vs SciPy's hand-written derivatives
    # at another random point.
    n = res["n"]
    rb = mod.rosenbrock_objective(n)
    x = np.random.default_rng(42).uniform(-2, 2, n)
    np.testing.assert_allclose(rb.jac(x), rosen_der(x), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(rb.hess(x), rosen_hess(x), rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(rb.hess(x), rb.hess(x).T)    # mirrored triangle

    by = {r["label"]: r for r in res["results"]}
    for label, r in by.items():
        if "symdiff" in label:
            assert r["f"] < 1e-8, (label, r["f"])
            np.testing.assert_allclose(r["x"], np.ones(n), atol=1e-4)
    fd = by["BFGS, finite-difference gradient"]
    exact = by["BFGS, symdiff gradient"]
    assert fd["nfev"] > 10 * exact["nfev"]        # n + 1 evaluations per gradient


def test_fit_model():
    """The fit recovers the true parameters within their standard errors
    and agrees with the finite-difference fit."""
    pytest.importorskip("scipy")
    res = load("fit_model").main(["--quick"])
    p, se, true = res["params"], res["std_errors"], res["true"]
    assert np.all(np.abs(p - true) < 4 * se), (p, se)
    np.testing.assert_allclose(p, true, rtol=0.05, atol=0.02)
    assert res["jacobian_check"] < 1e-6
    runs = res["runs"]
    assert runs["symdiff"]["status"] > 0
    assert math.isclose(runs["symdiff"]["cost"], runs["2-point"]["cost"], rel_tol=1e-6)
    # One kernel call per point for symdiff; finite differences need 5 more per Jacobian.
    assert runs["2-point"]["kernel_calls"] > runs["symdiff"]["kernel_calls"]


def test_softmax_script_as_a_program(tmp_path):
    """Run as a script, the example exits 0 and ends with the accuracy line
    on stdout and its total wall time on stderr."""
    pytest.importorskip("sklearn")
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, str(EXAMPLES / "softmax_regression.py"), "--quick"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert LAST_LINE.match(last_line(proc.stdout))
    assert re.fullmatch(r"wall time \d+\.\d s", last_line(proc.stderr)), proc.stderr


def _dask_rows_report(out: str) -> dict:
    rows = dict(re.findall(r"^(mean f|mean df/dx|mean df/dz|max \|grad f\|)\s+(\S+)$", out, re.M))
    return {k: float(v) for k, v in rows.items()}


@pytest.mark.parametrize("scheduler", ["threads", pytest.param("distributed",
                                                               marks=pytest.mark.slow)])
def test_dask_rows(capsys, scheduler):
    """10^6 rows in 10 chunks: the chunk recomputed in-process has the
    cluster's bits, the workers loaded the shipped object code, and the
    means are those of f and its gradient over the sampled box."""
    pytest.importorskip("dask.array", reason="dask is not installed (pip install -e '.[dask]')")
    if scheduler == "distributed":
        pytest.importorskip("distributed", reason="dask.distributed is not installed")
    assert load("dask_rows").main(["--quick", "--scheduler", scheduler]) == 0
    out = capsys.readouterr().out
    assert "first chunk, dask vs in-process: identical bits" in out
    if scheduler == "distributed":
        assert "object code on the workers came from: shipped" in out
    got = _dask_rows_report(out)
    # f and its partials on x in [1.5, 3), z in [0.5, 2): the means of 10^6
    # uniform samples are within 1% of the box averages (by quadrature).
    assert got["mean f"] == pytest.approx(36.7775, rel=0.01)
    assert got["mean df/dx"] == pytest.approx(52.9929, rel=0.01)
    assert got["mean df/dz"] == pytest.approx(85.6717, rel=0.01)
    assert 1400 < got["max |grad f|"] < 1460
