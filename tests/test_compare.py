"""symdiff.lab: every gradient method against the reference, op and
evaluation counts, the scaling measurements and their progress reports, the
finite-difference sweep, the timer, and the plots."""

import importlib.machinery
import importlib.util
import json
import math
import subprocess
import sys
import time

import numpy as np
import pytest

import symdiff as sd
from symdiff.lab.fd_sweep import fd_sweep
from symdiff.lab.methods import EXACT_METHODS, METHODS, compare_methods, reference
from symdiff.lab.scaling import SCALING_APPROACHES, scaling
from symdiff.lab.timing import time_call
from symdiff.numeric.finite_diff import EPS
from symdiff.numeric.forward import forward_op_count
from symdiff.numeric.reverse import reverse_op_count

x, y, z = sd.symbols("x y z")
LECTURE = sd.exp(x * z) + x * z / sd.log(x) + sd.sin(sd.log(x)) / (x * z)
POINT = {"x": 2.0, "z": 3.0}
L2 = math.log(2)
# The lectures' closed form of the gradient at x = 2, z = 3.
EXACT = [3 * math.exp(6) + 3 / L2 - 3 / L2 ** 2 + math.cos(L2) / 12 - math.sin(L2) / 12,
         2 * math.exp(6) + 2 / L2 - math.sin(L2) / 18]

TOLERANCE = {"symbolic": 1e-12, "compiled": 1e-12, "forward": 1e-12, "reverse": 1e-12,
             "forward_difference": 1e-5, "central_difference": 1e-6,
             "complex_step": 1e-13, "richardson": 1e-9}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def lecture_rows():
    return compare_methods(LECTURE, POINT, repeat=1)


def test_reference_of_lecture_example():
    ref = reference(LECTURE, POINT)
    assert ref.names == ["x", "z"]
    assert float(ref.value) == pytest.approx(412.19145728412116, rel=1e-15)
    assert [float(v) for v in ref.gradient] == pytest.approx(EXACT, rel=1e-14)


def test_every_method_agrees_with_reference(lecture_rows):
    assert [r.name for r in lecture_rows] == list(METHODS)
    for r in lecture_rows:
        assert r.error is None, (r.name, r.error)
        assert r.gradient.shape == (2,)
        assert r.max_rel_error <= TOLERANCE[r.name], r.name
        assert r.gradient == pytest.approx(EXACT, rel=max(TOLERANCE[r.name], 1e-14) * 3)
        # (No upper bound: a wall-clock cap would fail on a busy machine.)
        assert r.seconds > 0


def test_exact_methods_are_exact_to_rounding(lecture_rows):
    by_name = {r.name: r for r in lecture_rows}
    for name in EXACT_METHODS:
        # A few ulps of the largest component (1208.38...), no more.
        assert by_name[name].max_rel_error < 1e-15
    # Finite differences are visibly worse, in the documented order.
    assert by_name["forward_difference"].max_rel_error > 1e-9
    assert by_name["central_difference"].max_rel_error > 1e-12
    assert (by_name["forward_difference"].max_rel_error
            > by_name["central_difference"].max_rel_error
            > by_name["richardson"].max_rel_error)


def test_ops_and_evaluations(lecture_rows):
    by_name = {r.name: r for r in lecture_rows}
    # CSE'd program of (f, df/dx, df/dz): 8 operations of f + 13 more.
    assert by_name["symbolic"].ops == 21 == sd.count_ops([LECTURE, *sd.grad(LECTURE)])
    assert by_name["compiled"].ops == 21
    assert by_name["forward"].ops == forward_op_count(LECTURE, point=[2.0, 3.0])
    assert by_name["reverse"].ops == reverse_op_count(LECTURE, point=[2.0, 3.0])
    # Two forward passes re-evaluate f twice: more work than one reverse sweep.
    assert by_name["forward"].ops > by_name["reverse"].ops > sd.count_ops(LECTURE)
    evals = {r.name: r.evaluations for r in lecture_rows}
    assert evals == {"symbolic": None, "compiled": None, "forward": None, "reverse": None,
                     "forward_difference": 3, "central_difference": 4, "complex_step": 2,
                     "richardson": 16}
    for name in ("forward_difference", "central_difference", "complex_step", "richardson"):
        assert by_name[name].ops is None


def test_compiled_row_uses_the_llvm_compiler(monkeypatch):
    import compiler

    built = []
    real_compile = compiler.compile

    def spy(*args, **kwargs):
        fn = real_compile(*args, **kwargs)
        built.append(fn)
        return fn

    monkeypatch.setattr(compiler, "compile", spy)
    (row,) = compare_methods(LECTURE, POINT, methods=["compiled"], repeat=1)
    assert row.error is None and row.seconds > 0
    # One native function of (f, df/dx, df/dz), and the row is its result.
    (fn,) = built
    assert list(fn(list(POINT.values()))[1:]) == list(row.gradient)
    assert row.max_rel_error < 1e-15


def test_compiled_unavailable_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "compiler", None)   # import compiler -> ImportError
    (row,) = compare_methods(LECTURE, POINT, methods=["compiled"], repeat=1)
    assert row.gradient is None and row.seconds is None and row.max_rel_error is None
    assert row.error.startswith("unavailable: ModuleNotFoundError")
    assert "compiler" in row.error


def test_complex_step_not_applicable_through_relu():
    rows = compare_methods(sd.relu(x) * y, {"x": 1.5, "y": 2.0}, repeat=1)
    by_name = {r.name: r for r in rows}
    cs = by_name["complex_step"]
    assert cs.gradient is None and cs.max_rel_error is None and cs.ops is None
    assert cs.error.startswith("not applicable: ")
    assert "relu" in cs.error and "complex-step safe" in cs.error
    for name in METHODS:
        if name != "complex_step":
            assert by_name[name].gradient == pytest.approx([2.0, 1.5], rel=1e-6)


def test_subset_of_variables():
    rows = compare_methods(LECTURE, POINT, wrt=["z"],
                           methods=["forward", "reverse", "central_difference", "symbolic"],
                           repeat=1)
    assert [r.name for r in rows] == ["forward", "reverse", "central_difference", "symbolic"]
    for r in rows:
        assert r.gradient.shape == (1,)
        assert r.gradient[0] == pytest.approx(EXACT[1], rel=1e-9)
    fwd = rows[0]
    # One forward pass (for z), not two.
    assert fwd.ops == forward_op_count(LECTURE, n_inputs=1, point=[3.0, 2.0], inputs=[z, x])
    assert rows[2].evaluations == 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown method"):
        compare_methods(LECTURE, POINT, methods=["symbolic", "newton"])
    with pytest.raises(ValueError, match="no value given for z"):
        compare_methods(LECTURE, {"x": 2.0})
    with pytest.raises(ValueError, match="repeat"):
        compare_methods(LECTURE, POINT, repeat=0)


def test_time_call_loops_fast_calls_and_respects_budget():
    calls = []
    t = time_call(lambda: calls.append(1), repeat=3, min_run=1e-3)
    # A call of well under a microsecond is timed in loops of many calls.
    # (No upper bound on t: a wall-clock cap would fail on a busy machine.)
    assert t > 0
    assert len(calls) > 100
    slow = []

    def sleepy():
        slow.append(1)
        time.sleep(0.02)

    t = time_call(sleepy, repeat=50, budget=0.01)
    assert len(slow) == 1             # over budget after the first call
    assert t >= 0.02                  # the sleep is a lower bound


# ---------------------------------------------------------------------------
# scaling


@pytest.fixture(scope="module")
def prod_scaling():
    # Two runs with their own caps.  The exact approaches take well under a
    # second each here; their 60 s cap only catches a hang, so a slow
    # machine cannot turn them into timeouts.  Naive symbolic at n = 100
    # (8-16 s here) may or may not finish within its 5 s.
    exact = [a for a in SCALING_APPROACHES if a != "naive_symbolic"]
    return (scaling("prod", [10, 30, 100], approaches=exact, timeout=60.0, repeat=1)
            + scaling("prod", [10, 30, 100], approaches=["naive_symbolic"], timeout=5.0,
                      repeat=1))


def _rows(rows, approach):
    return {r.n: r for r in rows if r.approach == approach}


@pytest.mark.slow
def test_scaling_prod_operation_counts(prod_scaling):
    rows = prod_scaling
    assert [(r.approach, r.n) for r in rows] == [
        (a, n) for a in SCALING_APPROACHES for n in (10, 30, 100)]
    for n in (10, 30, 100):
        f_ops = n - 1                             # x1*x2*...*xn: n-1 multiplications
        fwd = _rows(rows, "forward")[n]
        rev = _rows(rows, "reverse")[n]
        sym = _rows(rows, "symbolic")[n]
        comp = _rows(rows, "compiled")[n]
        cd = _rows(rows, "central_difference")[n]
        for r in (fwd, rev, sym, comp, cd):
            assert r.status == "ok", (r.approach, r.note)
            assert r.f_ops == f_ops and r.n_inputs == n
            assert r.seconds > 0
        # Forward mode: n passes, each re-evaluating f: ops ~ n * |f|.
        assert 1.0 <= fwd.ops / (n * f_ops) <= 2.0
        # Reverse mode and the symbolic gradient: bounded by 3 |f|.
        assert 2.5 <= rev.ops_ratio <= 3.0
        assert 2.5 <= sym.ops_ratio <= 3.0
        assert comp.ops == sym.ops == 3 * n - 5   # f, the n-2 adjoints, n-1 partials
        assert comp.setup_seconds > 0             # a real compilation
        # Central differences: 2n evaluations of f.
        assert cd.evaluations == 2 * n and cd.ops == 2 * n * f_ops
    assert _rows(rows, "forward")[100].ops / _rows(rows, "reverse")[100].ops > 40


@pytest.mark.slow
def test_scaling_prod_naive_symbolic_blows_up(prod_scaling):
    naive = _rows(prod_scaling, "naive_symbolic")
    # SymPy's d/dxi of x1*...*xn is the product of the other n-1: n-2 ops each.
    assert naive[10].status == "ok" and naive[10].ops == 10 * 8
    assert naive[30].status == "ok" and naive[30].ops == 30 * 28
    assert naive[100].status in ("ok", "timeout")
    if naive[100].status == "ok":
        assert naive[100].ops == 100 * 98
    else:
        assert naive[100].ops is None and "5 s" in naive[100].note


def test_scaling_skips_larger_sizes_after_timeout(monkeypatch):
    from symdiff.lab import scaling as scaling_module

    if scaling_module._mp_context().get_start_method() != "fork":
        pytest.skip("the patched measurer reaches the child only through fork")

    def hang(f, params, repeat, budget):
        time.sleep(600)          # far past the cap: the parent kills the child

    # The forked measuring child inherits the patched table.
    monkeypatch.setitem(scaling_module._MEASURE, "naive_symbolic", hang)
    reports = []
    rows = scaling("prod", [10, 20, 40], approaches=["naive_symbolic"], timeout=0.2,
                   progress=lambda *report: reports.append(report))
    assert [r.status for r in rows] == ["timeout", "skipped", "skipped"]
    assert rows[0].note == "over the 0.2 s cap"
    assert rows[1].note == "timed out at n=10"
    assert all(r.seconds is None and r.ops is None for r in rows)
    # Progress is reported before each measurement that runs: not the skipped ones.
    assert reports == [(0, 3, "naive_symbolic n=10")]


@pytest.mark.slow
def test_scaling_reports_failures_without_raising():
    # SymPy's recursive diff cannot follow a 3000-deep tanh chain.
    reports = []
    rows = scaling("chain", [3000], approaches=["naive_symbolic", "reverse"], timeout=20,
                   repeat=1, progress=lambda *report: reports.append(report))
    assert reports == [(0, 2, "naive_symbolic n=3000"), (1, 2, "reverse n=3000")]
    naive, rev = rows
    assert naive.status in ("failed", "timeout")
    if naive.status == "failed":
        assert "Recursion" in naive.note
    assert rev.status == "ok" and rev.n_inputs == 1 and rev.f_ops == 3000


def test_scaling_bad_arguments():
    with pytest.raises(ValueError, match="unknown model"):
        scaling("nope", [10])
    with pytest.raises(ValueError, match="unknown approach"):
        scaling("prod", [10], approaches=["magic"])
    with pytest.raises(ValueError, match="at least 2"):
        scaling("prod", [1])


# ---------------------------------------------------------------------------
# finite-difference sweep


def test_fd_sweep_is_v_shaped():
    s = fd_sweep(LECTURE, POINT, "x")
    assert s.var == "x" and s.exact == pytest.approx(EXACT[0], rel=1e-15)
    assert len(s.steps) == 61 and s.steps[0] == pytest.approx(1e-16, rel=1e-12, abs=0)
    assert s.steps[-1] == pytest.approx(1e-1)
    # Below half an ulp of x = 2 (2.2e-16) no step is taken at all.
    assert math.isnan(s.forward[0]) and math.isnan(s.central[0])
    # Right arm: truncation error, O(h) forward, O(h^2) central.
    assert s.forward[-1] == pytest.approx(0.167, rel=0.02)
    assert s.central[-1] == pytest.approx(0.0151, rel=0.02)
    # The bottom of each V, and the left arm rising again (rounding).
    k_f = int(np.nanargmin(s.forward))
    k_c = int(np.nanargmin(s.central))
    assert 1e-10 <= s.steps[k_f] <= 1e-6 and s.forward[k_f] < 1e-8
    assert 1e-8 <= s.steps[k_c] <= 1e-4 and s.central[k_c] < 1e-11
    assert s.forward[2] > 1e-3 and s.central[2] > 1e-3
    # Defaults: sqrt(eps) * |x| and cbrt(eps) * |x| for x = 2.
    assert s.default_steps["forward"] == 2.0 ** -25
    assert s.default_steps["central"] == pytest.approx(2 * EPS ** (1 / 3), rel=1e-12)
    assert 1e-8 < s.default_errors["forward"] < 1e-7
    assert 1e-10 < s.default_errors["central"] < 1e-9


def test_fd_sweep_defaults_to_first_variable_and_checks_input():
    s = fd_sweep(x * y, {"x": 3.0, "y": 0.5}, steps=[1e-4, 1e-2])
    assert s.var == "x" and s.exact == 0.5
    assert list(s.steps) == [1e-4, 1e-2]
    with pytest.raises(ValueError, match="no value given for w"):
        fd_sweep(x * y, {"x": 3.0, "y": 0.5}, "w")
    with pytest.raises(ValueError, match="positive"):
        fd_sweep(x * y, {"x": 3.0, "y": 0.5}, steps=[0.0])


# ---------------------------------------------------------------------------
# plots


def _check_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000


@pytest.mark.slow
def test_plot_scaling(prod_scaling, tmp_path):
    pytest.importorskip("matplotlib")
    from symdiff.lab.plots import plot_scaling

    out = tmp_path / "scaling.png"
    plot_scaling(prod_scaling, out, model="prod", timeout=5.0)
    _check_png(out)


def test_plot_fd_sweep(tmp_path):
    pytest.importorskip("matplotlib")
    from symdiff.lab.plots import plot_fd_sweep

    out = tmp_path / "sweep.png"
    plot_fd_sweep(fd_sweep(LECTURE, POINT, "x"), out, expr_label="y")
    _check_png(out)


def test_plots_say_when_matplotlib_is_missing(monkeypatch, tmp_path):
    from symdiff.lab import plots

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(plots.MatplotlibMissing, match="pip install matplotlib"):
        plots.require_matplotlib()
    with pytest.raises(plots.MatplotlibMissing):
        plots.plot_fd_sweep(fd_sweep(x * y, {"x": 1.0, "y": 2.0}, steps=[1e-3]),
                            tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()


# ---------------------------------------------------------------------------
# accuracy across a domain (symdiff compare EXPR --accuracy)


# JAX is a peer from the [bench] extra, hidden from the test process
# (conftest.py): its column is checked in a subprocess where it is installed.
# (PathFinder looks on sys.path, past conftest's sys.modules["jax"] = None.)
JAX_INSTALLED = importlib.machinery.PathFinder.find_spec("jax") is not None


@pytest.fixture(scope="module")
def log1p_tiny():
    """log(1 + x) on tiny x: naive float64 gives log(1) = 0 at every point."""
    from symdiff.lab.bits import parse_domains
    from symdiff.lab.expr_accuracy import measure_expression

    return measure_expression(sd.parse("log(1 + x)"), parse_domains("x=1e-300:1e-200"), 16,
                              seed=1)


def test_accuracy_of_naive_log1p_on_tiny_inputs(log1p_tiny):
    from symdiff.lab.bits import ordered

    res = log1p_tiny
    assert res.names == ["x"] and res.outputs == ["f", "df/dx"]
    # The exact value is x to the last bit (log1p(x) = x - x^2/2 ...), the
    # naive result 0: ordered(x) doubles apart.
    assert res.reference.values[:, 0].tolist() == res.X[:, 0].tolist()
    assert (res.reference.values[:, 1] == 1.0).all()
    want = float(np.mean(np.log2(1.0 + ordered(res.X[:, 0]).astype(float))))
    for name in ("compiled", "interpreter", "sympy"):
        m = res.methods[name]
        assert m.unavailable is None, (name, m.unavailable)
        assert m.f.mean == pytest.approx(want, rel=1e-12), name
        assert m.f.mean > 56.0 and m.f.non_finite == 0   # 1e-300 is 2^56.7 doubles above 0
        assert m.grad.mean == 0.0, name          # 1/(1 + x) rounds to 1 exactly
    stable = res.methods["compiled_stable"]
    assert stable.unavailable is None
    assert stable.f.mean == 0.0 and stable.grad.mean == 0.0     # log1p(x): exact


def test_accuracy_compiled_and_interpreted_agree(log1p_tiny):
    from symdiff.lab.bits import parse_domains
    from symdiff.lab.expr_accuracy import agreement, measure_expression

    assert agreement(log1p_tiny.methods["compiled"], log1p_tiny.methods["interpreter"]) == 1.0
    res = measure_expression(sd.parse("log(exp(a) + exp(b))"),
                             parse_domains("a=+-1e-2:800,b=+-1e-2:800"), 32, seed=2,
                             methods=["compiled", "interpreter"])
    # Both overflow at the same points; elsewhere within 2 ulps.
    c, i = res.methods["compiled"], res.methods["interpreter"]
    assert c.f.non_finite == i.f.non_finite
    assert agreement(c, i) >= 0.95
    assert abs(c.f.mean - i.f.mean) < 0.5 and abs(c.grad.mean - i.grad.mean) < 0.5


@pytest.mark.skipif(not JAX_INSTALLED, reason="jax is not installed (the [bench] extra)")
def test_accuracy_jax_column_in_a_subprocess():
    # log(1 + x) on tiny x: JAX, like naive float64, gives log(1) = 0 (over
    # 56 bits of error); its gradient 1/(1 + x) is exactly 1.
    code = ("import sys\n"
            "from symdiff.cli.main import main\n"
            "sys.exit(main(['compare', 'log(1 + x)', '--accuracy', '--domain',"
            " 'x=1e-300:1e-200', '--points', '16', '--format', 'json']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    jax = json.loads(proc.stdout)["methods"]["jax"]
    assert jax["f"]["mean_bits"] > 56.0 and jax["f"]["non_finite"] == 0
    assert jax["df/dx"]["mean_bits"] == 0.0 and jax["df/dx"]["points"] == 16


def test_accuracy_bad_arguments_and_missing_jax(monkeypatch):
    from symdiff.lab.accuracy_methods import MethodUnavailable, evaluate_method
    from symdiff.lab.bits import parse_domains
    from symdiff.lab.expr_accuracy import measure_expression

    f = sd.parse("x*y")
    with pytest.raises(ValueError, match="no domain for variable 'y'"):
        measure_expression(f, parse_domains("x=0:1"), 4)
    with pytest.raises(ValueError, match="domain given for 'z'"):
        measure_expression(f, parse_domains("x=0:1,y=0:1,z=0:1"), 4)
    with pytest.raises(ValueError, match="unknown method 'fast'"):
        measure_expression(f, parse_domains("x=0:1,y=0:1"), 4, methods=["fast"])
    monkeypatch.setitem(sys.modules, "jax", None)
    with pytest.raises(MethodUnavailable, match="jax is not installed"):
        evaluate_method("jax", f, ["x", "y"], np.ones((2, 2)))


def _accuracy_args(argv):
    """The compare options --accuracy uses, parsed as compare parses them
    (add_accuracy_args is what compare registers)."""
    import argparse

    from symdiff.cli.common import add_expr_args
    from symdiff.cli.compare_accuracy import add_accuracy_args

    p = argparse.ArgumentParser()
    add_expr_args(p)
    for flag in ("--wrt", "--plot", "--at", "--methods", "--scaling", "--sizes"):
        p.add_argument(flag)
    p.add_argument("--repeat", type=int)
    p.add_argument("--timeout", type=float)
    p.add_argument("--fd-sweep", action="store_true")
    p.add_argument("--format", default="table")
    add_accuracy_args(p)
    return p.parse_args(argv)


def test_accuracy_view_table_json_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from symdiff.cli.compare_accuracy import cmd_accuracy

    out = tmp_path / "acc.png"
    args = _accuracy_args(["log(1 + exp(x))", "--accuracy", "--domain", "x=+-1e-2:800",
                           "--points", "24", "--plot", str(out)])
    assert cmd_accuracy(args) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "f = log(1 + exp(x))"
    assert "24 points uniform over the float64 bit patterns of x=+-0.01:800 (seed 0)" in text
    for label in ("symdiff ", "interp. ", "JAX ", "SymPy "):   # JAX: a row or "n/a: ..."
        assert any(line.startswith(label) for line in text.splitlines()), label
    _check_png(out)

    args = _accuracy_args(["x*y", "--accuracy", "--domain", "x=1:2,y=-1:1", "--points", "8",
                           "--wrt", "y", "--format", "json"])
    assert cmd_accuracy(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["points"] == 8 and doc["domain"] == "x=1:2,y=-1:1"
    assert set(doc["methods"]["compiled"]) == {"f", "df/dy"}
    # x*y and its partial y are exact in float64: 0 bits for every method.
    for m in ("compiled", "interpreter", "sympy"):
        assert doc["methods"][m]["f"]["mean_bits"] == 0.0
        assert doc["methods"][m]["df/dy"] == {"mean_bits": 0.0, "max_bits": 0.0,
                                              "non_finite": 0, "points": 8}


@pytest.mark.parametrize("argv, message", [
    (["x*y", "--accuracy"], "--accuracy needs the domain"),
    (["x*y", "--accuracy", "--domain", "x=0:1"], "--domain: no range for y"),
    (["x", "--accuracy", "--domain", "x=0:1,q=0:1"], "--domain: q does not occur"),
    (["x", "--accuracy", "--domain", "x=1:0"], "the lower bound must be below"),
    (["x", "--accuracy", "--domain", "x=0:1", "--points", "0"], "--points must be"),
    (["2", "--accuracy", "--domain", "x=0:1"], "no variables"),
])
def test_accuracy_view_errors(argv, message):
    from symdiff.cli.common import UsageError
    from symdiff.cli.compare_accuracy import cmd_accuracy

    with pytest.raises(UsageError, match=message):
        cmd_accuracy(_accuracy_args(argv))


def test_other_compare_options_are_refused_with_accuracy(capsys):
    from symdiff.cli.main import main

    assert main(["compare", "x", "--accuracy", "--domain", "x=0:1", "--at", "x=1"]) == 2
    assert capsys.readouterr().err.strip() == "error: --at does not apply to --accuracy"


def test_accuracy_plot_over_the_whole_float_range(tmp_path):
    """Regression: matplotlib's log/symlog scales overflowed (RuntimeWarning,
    broken ticks) for samples spanning 1e-300..1e300; the axis is now
    computed by hand."""
    pytest.importorskip("matplotlib")
    import warnings

    from symdiff.lab.bits import parse_domains
    from symdiff.lab.expr_accuracy import measure_expression
    from symdiff.lab.plots import plot_accuracy

    res = measure_expression(sd.parse("sqrt(x^2 + y^2)"),
                             parse_domains("x=-1e300:1e300,y=1e-300:1e300"), 16, seed=4,
                             methods=["compiled", "interpreter"])
    out = tmp_path / "wide.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        plot_accuracy(res, out, expr_label="sqrt(x^2 + y^2)")
    _check_png(out)


def test_accuracy_reference_differentiates_by_the_expressions_own_symbols():
    """Regression: the reference built Symbol(name, real=True) while
    to_sympy makes plain symbols, so every partial came out 0."""
    from symdiff.lab.precise import correctly_rounded

    ref = correctly_rounded(sd.parse("x*y + exp(x)"), ["x", "y"], np.array([[2.0, 3.0]]))
    assert ref.values[0].tolist() == [6.0 + math.exp(2.0), 3.0 + math.exp(2.0), 2.0]
