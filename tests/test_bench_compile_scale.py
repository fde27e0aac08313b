"""benchmarks/bench_compile_scale.py builds the programs it says it does and
reports every stage (a smoke test at tiny sizes; the timings are not
checked)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_compile_scale.py"


@pytest.fixture(scope="module")
def bench():
    import sys

    sys.path.insert(0, str(_PATH.parent))   # for its _tables import
    try:
        spec = importlib.util.spec_from_file_location("bench_compile_scale", _PATH)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(_PATH.parent))
    return mod


@pytest.mark.parametrize("kind, size, ops", [("arith", 40, 40), ("sin", 30, 30),
                                             ("rosenbrock", 48, 41), ("widesum", 30, 29)])
def test_programs_have_the_operations_asked_for(bench, cache_dir, kind, size, ops):
    row = bench.measure(kind, size, 2)
    assert row["ops"] == ops and row["kind"] == kind
    assert all(row[k] is not None and row[k] >= 0 for k in bench.STAGES)
    assert row["peak_rss_mb"] >= row["base_rss_mb"] > 0
    line = bench.table([row]).splitlines()[2]
    assert line.startswith(f"| {kind} | {ops} | 0 | ")


def test_unknown_kind_and_bad_sizes_are_usage_errors(bench, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--kinds", "cosh"])
    assert exc.value.code == 2
    assert "unknown kind(s): cosh (known: arith, sin, rosenbrock, widesum)" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "1e4"])
    assert "--sizes must be comma-separated integers, got '1e4'" in capsys.readouterr().err
