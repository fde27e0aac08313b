"""The ``symdiff compare`` and ``symdiff graph`` commands, through
``symdiff.cli.main``: table and JSON output, scaling and step sweeps,
plots, graph files, and one-screen errors for bad input; and the shared
rendering of :mod:`symdiff.cli.render` (formats, tables, progress bar)."""

import io
import json
import re
import shutil
import sys
import types

import pytest

from symdiff import parse, to_string
from symdiff.cli.main import main
from symdiff.cli.render import ProgressBar, format_error, format_seconds, format_table, json_number

LECTURE = "exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)"
METHOD_NAMES = ["symbolic", "compiled", "forward", "reverse", "forward_difference",
                "central_difference", "complex_step", "richardson"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(argv):
    """Exit status of ``symdiff argv`` (argparse errors raise SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_table_for_lecture_example(capsys):
    assert run(["compare", LECTURE, "--at", "x=2,z=3", "--repeat", "1"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"f = {to_string(parse(LECTURE))}"
    assert lines[1] == "at x=2, z=3"
    assert lines[2] == ("reference (mpmath, 40 digits): f = 412.19145728412116, "
                        "df/dx = 1208.3812151266097, df/dz = 809.7074792185641")
    header = next(line for line in lines if line.startswith("method"))
    assert header.split() == ["method", "df/dx", "df/dz", "rel.", "error", "time/grad",
                              "ops", "evals"]
    rows = {line.split()[0]: line for line in lines
            if line.split() and line.split()[0] in METHOD_NAMES}
    assert list(rows) == METHOD_NAMES
    # Exact methods: the same double to the last digit or two, error ~1e-16.
    for name in ("symbolic", "compiled", "forward", "reverse"):
        cells = rows[name].split()
        assert cells[1].startswith("1208.38121512660") and cells[2].startswith("809.70747921856")
        assert float(cells[3]) < 1e-15
    assert rows["symbolic"].split()[-2:] == ["21", "-"]
    assert rows["central_difference"].split()[-2:] == ["-", "4"]
    assert rows["richardson"].split()[-2:] == ["-", "16"]
    # Error column in %.1e, times in µs or ms.
    for line in rows.values():
        assert re.search(r"\s\d\.\de[+-]\d\d\s", line)
        assert re.search(r"\d (µs|ms)\s", line)


def test_json_contract(capsys):
    assert run(["compare", LECTURE, "--at", "x=2,z=3", "--repeat", "1",
                "--format", "json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert list(doc) == ["inputs", "reference", "methods"]
    assert doc["inputs"] == ["x", "z"]
    assert doc["reference"]["value"] == pytest.approx(412.19145728412116, rel=1e-15)
    assert isinstance(doc["reference"]["value"], float)
    assert doc["reference"]["gradient"] == pytest.approx(
        {"x": 1208.3812151266097, "z": 809.7074792185641}, rel=1e-15)
    assert [m["name"] for m in doc["methods"]] == METHOD_NAMES
    for m in doc["methods"]:
        assert list(m) == ["name", "gradient", "max_rel_error", "seconds", "ops",
                           "evaluations", "error"]
        assert m["error"] is None
        assert list(m["gradient"]) == ["x", "z"]
        assert all(isinstance(v, float) for v in m["gradient"].values())
        assert isinstance(m["max_rel_error"], float) and m["max_rel_error"] < 1e-5
        assert isinstance(m["seconds"], float) and m["seconds"] > 0
        exact = m["name"] in ("symbolic", "compiled", "forward", "reverse")
        assert isinstance(m["ops"], int) if exact else m["ops"] is None
        assert m["evaluations"] is None if exact else isinstance(m["evaluations"], int)
    by_name = {m["name"]: m for m in doc["methods"]}
    assert by_name["complex_step"]["max_rel_error"] <= 1e-13
    assert by_name["central_difference"]["evaluations"] == 4


def test_json_complex_step_not_applicable(capsys):
    assert run(["compare", "relu(x)", "--at", "x=1.5", "--format", "json",
                "--methods", "complex_step,central_difference", "--repeat", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    cs, cd = doc["methods"]
    assert cs["name"] == "complex_step"
    assert cs["gradient"] is None and cs["max_rel_error"] is None and cs["seconds"] is None
    assert cs["error"].startswith("not applicable: ") and "relu" in cs["error"]
    assert cd["gradient"] == {"x": 1.0} and cd["error"] is None


def test_table_complex_step_not_applicable(capsys):
    assert run(["compare", "relu(x)", "--at", "x=1.5", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("complex_step"))
    assert "not applicable: operation(s) relu" in line


def test_json_non_finite_numbers_are_null(capsys):
    # d sqrt(x)/dx = 0.5/sqrt(x) is infinite at 0.
    assert run(["compare", "sqrt(x)", "--at", "x=0", "--format", "json", "--repeat", "1",
                "--methods", "symbolic,forward_difference"]) == 0
    out = capsys.readouterr().out
    assert "Infinity" not in out and "NaN" not in out
    doc = json.loads(out)
    assert doc["reference"] == {"value": 0.0, "gradient": {"x": None}}
    sym, fd = doc["methods"]
    assert sym["gradient"] == {"x": None} and sym["max_rel_error"] == 0.0  # inf == inf
    # sqrt(h)/h with h = sqrt(eps) = 2^-26: finite, and infinitely wrong.
    assert fd["gradient"]["x"] == 2.0 ** 13 and fd["max_rel_error"] is None


def test_wrt_and_method_order(capsys):
    assert run(["compare", LECTURE, "--at", "x=2,z=3", "--wrt", "z", "--format", "json",
                "--methods", "reverse,symbolic", "--repeat", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in doc["methods"]] == ["reverse", "symbolic"]
    assert list(doc["reference"]["gradient"]) == ["z"]
    for m in doc["methods"]:
        assert m["gradient"]["z"] == pytest.approx(809.7074792185641, rel=1e-15)


def test_table_truncates_many_inputs(capsys):
    assert run(["compare", "a*b + c*d + g", "--at", "a=1,b=2,c=3,d=4,g=5",
                "--methods", "symbolic", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("method"))
    assert header.split()[:5] == ["method", "df/da", "df/db", "df/dc", "..."]
    row = next(line for line in out.splitlines() if line.startswith("symbolic"))
    assert row.split()[1:6] == ["2.0", "1.0", "4.0", "+2", "more"]
    assert "... (2 more)" in out


def test_program_file(tmp_path, capsys):
    src = tmp_path / "y.sd"
    src.write_text("u = x*z\ny = exp(u) + u/log(x) + sin(log(x))/u\n")
    assert run(["compare", "-f", str(src), "--at", "x=2,z=3", "--format", "json",
                "--methods", "reverse", "--repeat", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["methods"][0]["gradient"] == pytest.approx(
        {"x": 1208.3812151266097, "z": 809.7074792185641}, rel=1e-14)


# ---------------------------------------------------------------------------
# --fd-sweep


def test_fd_sweep_table(capsys):
    assert run(["compare", LECTURE, "--at", "x=2,z=3", "--fd-sweep", "--wrt", "x"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "finite-difference error of df/dx at x=2, z=3 (exact 1208.3812151266097)"
    rows = [line for line in lines if re.match(r"\d\.\d\de-\d\d ", line)]
    assert len(rows) == 61
    assert rows[0].split()[0] == "1.00e-16" and "x + h == x" in rows[0]
    assert rows[-1].split() == ["1.00e-01", "1.7e-01", "1.5e-02"]
    assert lines[-2] == "default forward step: h = 2.98e-08, relative error 4.5e-08"
    assert lines[-1] == "default central step: h = 1.21e-05, relative error 2.1e-10"


def test_fd_sweep_json(capsys):
    assert run(["compare", "x^3", "--at", "x=1", "--fd-sweep", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["variable"] == "x" and doc["exact"] == 3.0
    assert len(doc["steps"]) == 61 and len(doc["relative_errors"]["central"]) == 61
    assert doc["relative_errors"]["forward"][0] is None          # x + 1e-16 == x
    # Truncation error of central differences on x^3 is exactly h^2 (relative h^2/3).
    assert doc["relative_errors"]["central"][-1] == pytest.approx(0.01 / 3, rel=1e-6)
    assert doc["default_steps"]["forward"] == 2.0 ** -26


def test_fd_sweep_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_png = tmp_path / "sweep.png"
    assert run(["compare", LECTURE, "--at", "x=2,z=3", "--fd-sweep",
                "--plot", str(out_png)]) == 0
    out, err = capsys.readouterr()
    assert err == f"wrote {out_png}\n"           # what was written goes to stderr
    assert "default central step" in out
    data = out_png.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000


# ---------------------------------------------------------------------------
# --scaling


@pytest.mark.slow
def test_scaling_json_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_png = tmp_path / "scaling.png"
    assert run(["compare", "--scaling", "prod", "--sizes", "10,20", "--repeat", "1",
                "--timeout", "10", "--format", "json", "--plot", str(out_png)]) == 0
    out, err = capsys.readouterr()
    # No progress output when stderr is not a TTY; the file written is said there.
    assert err == f"wrote {out_png}\n"
    doc = json.loads(out)
    assert doc["model"] == "prod" and doc["sizes"] == [10, 20] and doc["timeout"] == 10.0
    results = doc["results"]
    assert [(r["approach"], r["n"]) for r in results] == [
        (a, n) for a in ("symbolic", "compiled", "forward", "reverse", "central_difference",
                         "naive_symbolic") for n in (10, 20)]
    by = {(r["approach"], r["n"]): r for r in results}
    for n in (10, 20):
        assert by["forward", n]["ops"] >= n * (n - 1)
        assert by["reverse", n]["ops_ratio"] <= 3.0
        assert by["symbolic", n]["ops"] == 3 * n - 5
        assert by["central_difference", n]["evaluations"] == 2 * n
        assert by["naive_symbolic", n]["ops"] == n * (n - 2)
        assert all(r["status"] == "ok" for r in results)
    data = out_png.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000


@pytest.mark.slow
def test_scaling_table(capsys):
    assert run(["compare", "--scaling", "rosenbrock", "--sizes", "4,8", "--repeat", "1",
                "--timeout", "10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gradient cost against n: rosenbrock")
    rows = [line for line in out.splitlines() if line.startswith("reverse mode")]
    assert len(rows) == 2
    assert rows[0].split()[3:6] == ["4", "4", "23"]    # n, inputs, |f| = 8n - 9


# ---------------------------------------------------------------------------
# symdiff graph


def _dot_nodes(text):
    return re.findall(r"^\s*n\d+ \[", text, flags=re.M)


def test_graph_dot(tmp_path, capsys):
    path = tmp_path / "y.dot"
    assert run(["graph", LECTURE, "-o", str(path)]) == 0
    assert capsys.readouterr().err == (f"wrote {path}: 10 nodes (2 inputs, 0 constants, "
                                       "8 operations)\n")
    text = path.read_text()
    assert text.startswith("digraph symdiff {")
    # x, z, x*z, exp, log, x*z/log(x), +, sin, sin(log x)/(x z), + = 10.
    assert len(_dot_nodes(text)) == 10
    assert '>f</FONT>' in text and "#c0392b" not in text


def test_graph_with_gradient(tmp_path, capsys):
    path = tmp_path / "grad.dot"
    assert run(["graph", LECTURE, "--grad", "-o", str(path)]) == 0
    assert "24 nodes (2 inputs, 1 constant, 21 operations)" in capsys.readouterr().err
    text = path.read_text()
    assert len(_dot_nodes(text)) == 24
    # The 14 nodes only the gradient needs are drawn in red.
    red = [line for line in text.splitlines() if re.match(r"\s*n\d+ \[", line)
           and ("#c0392b" in line or "#d98880" in line)]
    assert len(red) == 14
    assert '>df/dx</FONT>' in text and '>df/dz</FONT>' in text


def test_graph_to_stdout(capsys):
    assert run(["graph", "y = sin(t)*t"]) == 0
    out = capsys.readouterr().out
    assert len(_dot_nodes(out)) == 3 and '>y</FONT>' in out


@pytest.mark.parametrize("ext, magic", [(".svg", b"<svg"), (".png", PNG_SIGNATURE)])
def test_graph_through_graphviz(tmp_path, capsys, ext, magic):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    path = tmp_path / f"y{ext}"
    assert run(["graph", LECTURE, "--grad", "-o", str(path)]) == 0
    data = path.read_bytes()
    assert magic in data[:400]


@pytest.mark.parametrize("ext, magic", [(".svg", b"<svg"), (".png", PNG_SIGNATURE)])
def test_graph_runs_dot_on_path(tmp_path, capsys, fake_dot, ext, magic):
    # Graphviz is not installed in CI: a stand-in dot (tests/conftest.py)
    # checks how the command runs it: the format, the output file, and
    # the same DOT text that -o FILE.dot writes on its stdin.
    dot_path = tmp_path / "y.dot"
    assert run(["graph", LECTURE, "--grad", "-o", str(dot_path)]) == 0
    capsys.readouterr()
    path = tmp_path / f"y{ext}"
    assert run(["graph", LECTURE, "--grad", "-o", str(path)]) == 0
    assert capsys.readouterr().err == (f"wrote {path}: 24 nodes (2 inputs, 1 constant, "
                                       "21 operations)\n")
    (call,) = fake_dot.calls()
    assert call["argv"] == [f"-T{ext[1:]}", "-o", str(path)]
    assert call["stdin"] == dot_path.read_text()
    assert path.read_bytes().startswith(magic if ext == ".png" else b"<?xml")
    assert magic in path.read_bytes()


def test_graph_reports_a_failing_dot(tmp_path, capsys, fake_dot, monkeypatch):
    monkeypatch.setenv("FAKE_DOT_FAIL", "1")
    path = tmp_path / "y.png"
    assert run(["graph", LECTURE, "-o", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert f"Graphviz failed writing {path}: Error: <stdin>: syntax error in line 1" in err
    assert len(fake_dot.calls()) == 1


def test_graph_without_graphviz(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert run(["graph", LECTURE, "-o", str(tmp_path / "y.svg")]) == 2
    err = capsys.readouterr().err
    assert "Graphviz" in err and "-o FILE.dot works without it" in err
    assert not (tmp_path / "y.svg").exists()


# ---------------------------------------------------------------------------
# errors: exit status 2, a short message, no traceback


@pytest.mark.parametrize("argv, message", [
    (["compare", "x*y"], "give the point with --at"),
    (["compare", "x*y +", "--at", "x=1,y=2"], "expected an expression"),
    (["compare", "x*y", "--at", "x=1"], "no value given for y"),
    (["compare", "x*y", "--at", "x=1,y=2", "--methods", "newton"], "unknown method newton"),
    (["compare", "x*y", "--at", "x=1,y=2", "--repeat", "0"], "--repeat must be at least 1"),
    (["compare", "x*y", "--at", "x=1,y=2", "--plot", "a.png"], "--plot does not apply"),
    (["compare", "x*y", "--at", "x=1,y=2", "--sizes", "10"], "--sizes does not apply"),
    (["compare", "x*y", "--at", "x=1,y=2", "--fd-sweep", "--wrt", "x,y"], "one variable"),
    (["compare", "2 + 3", "--at", "x=1"], "no variables to differentiate by"),
    (["compare", "x", "--scaling", "prod"], "give no EXPR"),
    (["compare", "--scaling", "prod", "--sizes", "10,ten"], "not a whole number"),
    (["compare", "--scaling", "prod", "--sizes", "1"], "at least 2"),
    (["compare", "--scaling", "prod", "--timeout", "0"], "--timeout must be a positive"),
    (["compare", "--scaling", "prod", "--fd-sweep"],
     "give one of --scaling, --fd-sweep and --accuracy"),
    (["compare", "--scaling", "atom"], "invalid choice"),
    (["compare", "--scaling", "prod", "--plot", "/no/such/dir/a.png"], "does not exist"),
    (["graph", "x*y", "-o", "y.pdf"], "use FILE.dot, FILE.svg or FILE.png"),
    (["graph", "x*y", "--wrt", "x"], "--wrt needs --grad"),
    (["graph", "x, y", "--grad"], "one scalar output"),
    (["graph", "x*y", "-o", "/no/such/dir/y.dot"], "directory /no/such/dir does not exist"),
])
def test_bad_input_exit_2(argv, message, capsys):
    assert run(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert "Traceback" not in err
    assert 0 < len(err.splitlines()) <= 12


def test_plot_needs_matplotlib(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert run(["compare", "x^2", "--at", "x=1", "--fd-sweep",
                "--plot", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err
    assert "needs matplotlib" in err and "pip install matplotlib" in err
    assert "without --plot" in err or "leave out --plot" in err
    assert not (tmp_path / "a.png").exists()


def test_cli_help_lists_subcommands(capsys):
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert "compare" in out and "graph" in out


# ---------------------------------------------------------------------------
# shared rendering


def test_number_formats():
    assert [format_seconds(s) for s in (7.21e-5, 2.49e-3, 19.7, None)] == [
        "72.1 µs", "2.49 ms", "19.7 s", "-"]
    assert [format_error(e) for e in (4.5e-8, float("nan"), None)] == ["4.5e-08", "nan", "-"]
    assert [json_number(v) for v in (2, float("inf"), float("nan"), None)] == [
        2.0, None, None, None]


def test_table_aligns_columns_and_spans_messages():
    text = format_table(["method", "error", "ops"],
                        [["symbolic", "1.0e-16", "21"], ["compiled", "unavailable: no LLVM"]],
                        right={2})
    assert text.splitlines() == ["method    error    ops",
                                 "--------  -------  ---",
                                 "symbolic  1.0e-16   21",
                                 "compiled  unavailable: no LLVM"]


def test_progress_bar_silent_when_not_a_terminal():
    stream = io.StringIO()
    with ProgressBar("scaling", stream=stream) as bar:
        bar(0, 3, "forward n=10")
        bar(1, 3, "reverse n=10")
    assert stream.getvalue() == ""


def test_progress_bar_line_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)     # import tqdm -> ImportError
    stream = io.StringIO()
    with ProgressBar("scaling prod", enabled=True, stream=stream) as bar:
        bar(0, 2, "forward n=10")
        bar(1, 2, "reverse n=10")
    # Each report rewrites the line; closing blanks it out.
    assert stream.getvalue() == ("\rscaling prod [0/2] forward n=10"
                                 "\rscaling prod [1/2] reverse n=10"
                                 "\r" + " " * 31 + "\r")


class _FakeTqdm:
    """Records how ProgressBar drives a tqdm bar (tqdm is an optional extra)."""

    monitor_interval = 10
    made: list = []

    def __init__(self, total, desc, file, leave, unit):
        self.n = 0
        self.calls = [("new", total, desc, leave)]
        _FakeTqdm.made.append(self)

    def update(self, k):
        self.n += k
        self.calls.append(("update", k))

    def set_postfix_str(self, text, refresh):
        self.calls.append(("postfix", text))

    def close(self):
        self.calls.append(("close",))


def test_progress_bar_drives_tqdm(monkeypatch):
    _FakeTqdm.made = []
    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=_FakeTqdm))
    monkeypatch.setattr(_FakeTqdm, "monitor_interval", 10)   # restored after the test
    with ProgressBar("scaling prod", enabled=True, stream=io.StringIO()) as bar:
        bar(0, 3, "forward n=10")
        bar(2, 3, "reverse n=20")
    (made,) = _FakeTqdm.made
    assert made.calls == [("new", 3, "scaling prod", False), ("update", 0),
                          ("postfix", "forward n=10"), ("update", 2),
                          ("postfix", "reverse n=20"), ("close",)]
    # No monitor thread: the measurements fork child processes.
    assert _FakeTqdm.monitor_interval == 0


# ---------------------------------------------------------------------------
# --scaling sizes and the time cap (regression: --sizes 99999999999 built
# the model in the parent for 151 s and 5.8 GB, then died of MemoryError;
# the --timeout did not cover building the model)


@pytest.fixture
def _never_build(monkeypatch):
    """Builders of the scaling models that fail at once: a size that must be
    refused up front never reaches them (before the fix, the parent built
    prod(99999999999) until it ran out of memory)."""
    from symdiff.lab import models

    def refuse(n):
        raise AssertionError(f"the model was built at n={n}")

    for name in list(models.SCALING_MODELS):
        monkeypatch.setitem(models.SCALING_MODELS, name, refuse)


def test_scaling_refuses_sizes_that_cannot_fit(capsys, _never_build):
    from symdiff.lab.scaling import size_limit

    assert run(["compare", "--scaling", "prod", "--sizes", "10,99999999999"]) == 2
    out, err = capsys.readouterr()
    n_max, why = size_limit("prod", 20.0)
    assert out == ""
    assert err == (f"error: --sizes: n=99,999,999,999 is too large for the prod model: the "
                   f"largest n is {n_max:,} ({why})\n")


def test_size_limit_by_memory_and_by_time():
    from symdiff.lab.names import SCALING_MODEL_NAMES
    from symdiff.lab.scaling import MODEL_COSTS, check_sizes, size_limit

    assert set(MODEL_COSTS) == set(SCALING_MODEL_NAMES)
    # 12 MB available, a quarter usable, 3,000 bytes per n: n <= 1,000.
    n, why = size_limit("prod", 20.0, memory=12_000_000)
    assert n == 1000 and why.endswith("0.0 GiB of memory is available")
    # A 1 ms cap at no less than 2 us per n: n <= 500.
    n, why = size_limit("prod", 0.001, memory=10 ** 12)
    assert n == 500 and "cannot finish within the 0.001 s cap" in why
    check_sizes("prod", [10, 500], 0.001, memory=10 ** 12)
    with pytest.raises(ValueError, match="n=501 is too large for the prod model: the "
                                         "largest n is 500"):
        check_sizes("prod", [10, 501], 0.001, memory=10 ** 12)


def test_scaling_api_refuses_sizes_that_cannot_fit(_never_build):
    from symdiff.lab.scaling import scaling

    with pytest.raises(ValueError, match="is too large for the chain model"):
        scaling("chain", [10, 10 ** 12], timeout=1.0)


def test_scaling_time_cap_covers_building_the_model(monkeypatch):
    import time

    from symdiff.lab import models
    from symdiff.lab import scaling as scaling_module

    if scaling_module._mp_context().get_start_method() != "fork":
        pytest.skip("the patched builder reaches the child only through fork")
    real = models.SCALING_MODELS["prod"]

    def slow_prod(n):
        if n > 10:
            time.sleep(3)        # far past the cap: the child is killed while building
        return real(n)

    monkeypatch.setitem(models.SCALING_MODELS, "prod", slow_prod)
    rows = scaling_module.scaling("prod", [10, 20, 40], approaches=["reverse"], timeout=0.5,
                                  repeat=1)
    assert [r.status for r in rows] == ["ok", "timeout", "skipped"]
    assert rows[0].f_ops == 9 and rows[0].n_inputs == 10
    assert rows[1].note == "over the 0.5 s cap while building the model"
    assert rows[1].f_ops is None and rows[1].n_inputs is None


def test_scaling_table_without_model_sizes(monkeypatch, capsys):
    from symdiff.lab import scaling as scaling_module

    row = scaling_module.ScalingRow("reverse", 10, None, None, status="timeout",
                                    note="over the 1 s cap while building the model")
    monkeypatch.setattr(scaling_module, "scaling", lambda *a, **k: [row])
    assert run(["compare", "--scaling", "prod", "--sizes", "10", "--timeout", "1"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("reverse")][0]
    assert line.split()[3:9] == ["10", "-", "-", "-", "-", "-"]
    assert line.endswith("timeout: over the 1 s cap while building the model")
