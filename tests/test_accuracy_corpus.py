"""The accuracy corpus and the pieces that measure it: the bits-of-error
metric on exact cases, the float64 bit-pattern sampler, the correctly
rounded reference (mpmath intervals at increasing precision) on cases with
known answers, and the never-worse property of the stabilizer on a sample
of the corpus."""

import math
import struct

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symdiff as sd
from symdiff.lab.accuracy_corpus import CATEGORIES, CORPUS, corpus_entry
from symdiff.lab.bits import (
    NON_FINITE_BITS,
    Interval,
    bits_of_error,
    format_domain,
    from_ordered,
    ordered,
    parse_domains,
    sample_domain,
    summarize_bits,
    ulp_distance,
)
from symdiff.lab.expr_accuracy import measure_expression
from symdiff.lab.precise import correctly_rounded, reference_functions, settle

TINY = 5e-324
DBL_MAX = 1.7976931348623157e308


def _next(x, k=1):
    for _ in range(k):
        x = math.nextafter(x, math.inf)
    return x


# --- the corpus ----------------------------------------------------------


def test_corpus_has_sixty_parsable_entries_with_domains_for_every_variable():
    assert len(CORPUS) >= 60
    assert len({e.name for e in CORPUS}) == len(CORPUS)
    two_var = 0
    for e in CORPUS:
        f = sd.parse(e.text)
        names = sorted(s.payload for s in sd.free_symbols(f))
        domains = parse_domains(e.domain)
        assert sorted(domains) == names, e.name
        assert e.category in CATEGORIES, e.name
        assert e.note.strip(), e.name
        two_var += len(names) == 2
    assert two_var >= 10
    assert {e.category for e in CORPUS} == set(CATEGORIES)


def test_corpus_entry_lookup():
    assert corpus_entry("log1p").text == "log(1 + x)"
    with pytest.raises(ValueError, match="no corpus entry 'nope'"):
        corpus_entry("nope")


# --- bits of error -------------------------------------------------------


@pytest.mark.parametrize("got, ref, bits", [
    (1.0, 1.0, 0.0),                            # same float: 0 bits
    (_next(1.0), 1.0, 1.0),                     # adjacent: log2(1 + 1)
    (_next(1.0, 3), 1.0, 2.0),                  # 3 apart: log2(4)
    (_next(1.0, 7), 1.0, 3.0),
    (0.0, -0.0, 0.0),                           # the two zeros are one point
    (TINY, -TINY, math.log2(3.0)),              # across zero: 2 doubles apart
    (math.inf, DBL_MAX, NON_FINITE_BITS),       # inf where the reference is finite
    (math.nan, 1.0, NON_FINITE_BITS),
    (2.0, 1.0, math.log2(1 + 2 ** 52)),         # one binade up: 2^52 doubles
])
def test_bits_of_error_exact_cases(got, ref, bits):
    assert bits_of_error(np.array([got]), np.array([ref]))[0] == pytest.approx(bits, abs=1e-12)


def test_ulp_distance_across_the_whole_range_does_not_overflow():
    # -DBL_MAX to DBL_MAX: 2 * 0x7FEFFFFFFFFFFFFF doubles, beyond int64.
    d = ulp_distance(np.array([-DBL_MAX]), np.array([DBL_MAX]))[0]
    assert d == float(2 * 0x7FEFFFFFFFFFFFFF)
    assert bits_of_error(np.array([-DBL_MAX]), np.array([DBL_MAX]))[0] == pytest.approx(
        math.log2(1 + 2 * 0x7FEFFFFFFFFFFFFF), abs=1e-12)   # 63.9993: below 64
    assert ulp_distance(np.array([math.nan]), np.array([math.nan]))[0] == 0.0
    assert ulp_distance(np.array([math.nan]), np.array([1.0]))[0] == math.inf


def test_summary_counts_non_finite_and_skips_missing_references():
    got = np.array([1.0, math.nan, math.inf, 5.0])
    ref = np.array([1.0, 2.0, 3.0, math.nan])
    s = summarize_bits(got, ref)
    assert (s.points, s.non_finite) == (3, 2)
    assert s.mean == pytest.approx(2 * NON_FINITE_BITS / 3)
    assert s.max == NON_FINITE_BITS


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_ordered_integers_follow_the_order_of_doubles(a, b):
    oa, ob = ordered(np.array([a, b]))
    assert (oa < ob) == (a < b) and (oa == ob) == (a == b)
    # The inverse (zeros come back as +0.0).
    assert from_ordered(np.array([oa]))[0] == a


def test_ordered_integers_are_consecutive_for_neighbours():
    x = np.array([-1.5, -TINY, 0.0, TINY, 1.0, 1e300])
    nxt = np.nextafter(x, np.inf)
    assert (ordered(nxt) - ordered(x)).tolist() == [1] * 6
    assert ordered(np.array([math.inf]))[0] == ordered(np.array([DBL_MAX]))[0] + 1


# --- sampling ----------------------------------------------------------


def test_sample_is_uniform_over_bit_patterns_of_a_positive_domain():
    X = sample_domain({"x": Interval(1.0, 2.0 ** 10)}, ["x"], 4000, seed=3)[:, 0]
    assert X.min() >= 1.0 and X.max() <= 2.0 ** 10
    # Ten binades of equal size in bit patterns: about 400 points each.
    counts = np.bincount(np.floor(np.log2(X)).astype(int), minlength=10)[:10]
    assert counts.min() > 320 and counts.max() < 480


def test_sample_of_a_sign_crossing_domain_has_both_signs_and_tiny_values():
    X = sample_domain({"x": Interval(-800.0, 800.0)}, ["x"], 2000, seed=0)[:, 0]
    assert X.min() >= -800 and X.max() <= 800
    neg = (X < 0).mean()
    assert 0.45 < neg < 0.55
    # About 1080 binades below 1 against 10 above: almost all points are tiny.
    assert (np.abs(X) < 1e-10).mean() > 0.95


def test_sample_of_a_both_signs_domain_and_the_full_range():
    X = sample_domain({"x": Interval(1e-2, 800.0, both_signs=True)}, ["x"], 1000, seed=1)[:, 0]
    assert np.all((np.abs(X) >= 1e-2) & (np.abs(X) <= 800.0))
    assert 0.4 < (X < 0).mean() < 0.6
    Y = sample_domain({"y": Interval(-DBL_MAX, DBL_MAX)}, ["y"], 1000, seed=2)[:, 0]
    assert np.isfinite(Y).all() and (Y < 0).any() and (Y > 0).any()


def test_sample_is_reproducible_and_per_column():
    doms = parse_domains("x=-1:1,y=1e-300:1e300")
    a = sample_domain(doms, ["x", "y"], 50, seed=7)
    b = sample_domain(doms, ["x", "y"], 50, seed=7)
    assert a.shape == (50, 2) and np.array_equal(a, b)
    assert (a[:, 1] > 0).all()
    first = struct.pack("<d", a[0, 0])
    assert first == struct.pack("<d", sample_domain(doms, ["x", "y"], 50, seed=7)[0, 0])
    assert not np.array_equal(a, sample_domain(doms, ["x", "y"], 50, seed=8))


def test_parse_domains_and_errors():
    d = parse_domains("x=-800:800, y=+-1e-3:1e300")
    assert d == {"x": Interval(-800.0, 800.0), "y": Interval(1e-3, 1e300, True)}
    assert format_domain(d) == "x=-800:800,y=+-0.001:1e+300"
    for bad, msg in [("x", "expected NAME=LO:HI"), ("x=1", "expected LO:HI"),
                     ("x=a:b", "bounds must be numbers"), ("x=2:1", "lower bound"),
                     ("x=0:inf", "finite"), ("x=+--1:1", "magnitudes"),
                     ("x=0:1,x=1:2", "given twice"), ("", "no domain")]:
        with pytest.raises(ValueError, match=msg):
            parse_domains(bad)
    with pytest.raises(ValueError, match="no domain for variable 'z'"):
        sample_domain(d, ["y", "z"], 3)


# --- the reference -------------------------------------------------------


def _mp(expr, x, prec=6000):
    with mpmath.workprec(prec):
        return float(expr(mpmath.mpf(x)))


def test_reference_where_two_precisions_agree_on_a_wrong_value():
    # 1 - tanh(x)^2 at x = 300: plain mpmath at 128 and 256 bits both say 0
    # (tanh(300) rounds to 1), the interval ladder finds the true value.
    f = sd.parse("1 - tanh(x)^2")
    for prec in (128, 256):
        with mpmath.workprec(prec):
            assert 1 - mpmath.tanh(300) ** 2 == 0
    ref = correctly_rounded(f, ["x"], np.array([[300.0], [1.0]]))
    exact = [_mp(lambda t: 1 - mpmath.tanh(t) ** 2, v) for v in (300.0, 1.0)]
    dexact = [_mp(lambda t: -2 * mpmath.tanh(t) * (1 - mpmath.tanh(t) ** 2), v)
              for v in (300.0, 1.0)]
    assert ref.values[:, 0].tolist() == exact
    assert ref.values[:, 1].tolist() == dexact
    assert exact[0] == pytest.approx(4 * math.exp(-600), rel=1e-12, abs=0)
    assert ref.max_precision >= 1024


def test_reference_of_a_cancellation_and_of_undefined_points():
    f = sd.parse("sqrt(x + 1) - sqrt(x)")
    ref = correctly_rounded(f, ["x"], np.array([[1e300], [-4.0]]))
    # 1/(sqrt(x + 1) + sqrt(x)) at 1e300 (the float nearest 1e300).
    want = _mp(lambda t: 1 / (mpmath.sqrt(t + 1) + mpmath.sqrt(t)), 1e300)
    assert ref.values[0, 0] == want
    assert ref.values[0, 1] == _mp(lambda t: (1 / mpmath.sqrt(t + 1) - 1 / mpmath.sqrt(t)) / 2,
                                   1e300)
    # sqrt(-3) - sqrt(-4): no real value, dropped and counted.
    assert math.isnan(ref.values[1, 0]) and ref.non_finite == [1, 1]
    assert ref.unsettled == [0, 0]


def test_reference_beyond_dbl_max_is_dropped_and_settle_reports_its_precision():
    fns = reference_functions(sd.parse("exp(x)"), ["x"])
    value, bits = settle(fns[0], [800.0])
    assert value == math.inf and bits == 64
    value, bits = settle(fns[0], [1.0])
    assert value == math.e and bits == 64


# --- the stabilizer never makes things worse ----------------------------


# A fixed random sample of the corpus (the seed picks it), small enough to
# keep the mpmath references to a few seconds.
NEVER_WORSE_SAMPLE = [CORPUS[int(i)] for i in
                      sorted(np.random.default_rng(11).choice(len(CORPUS), 6, replace=False))]


@pytest.fixture(scope="module")
def never_worse_runs():
    runs = []
    for k, entry in enumerate(NEVER_WORSE_SAMPLE):
        res = measure_expression(sd.parse(entry.text), parse_domains(entry.domain), 16,
                                 seed=[5, k], methods=["compiled", "compiled_stable"])
        runs.append((entry, res))
    return runs


def test_stable_is_within_half_a_bit_of_the_original_on_average(never_worse_runs):
    """Compiled with stabilize, averaged over the sample: bits of error of
    f and of the gradient at most 0.5 above the original's (or below)."""
    for part in ("f", "grad"):
        plain = [getattr(r.methods["compiled"], part).mean for _, r in never_worse_runs]
        stable = [getattr(r.methods["compiled_stable"], part).mean for _, r in never_worse_runs]
        detail = {e.name: (round(a, 2), round(b, 2))
                  for (e, _), a, b in zip(never_worse_runs, plain, stable)}
        assert np.mean(stable) <= np.mean(plain) + 0.5, (part, detail)


def test_stable_is_never_non_finite_where_the_original_is_finite(never_worse_runs):
    offenders = {}
    for entry, res in never_worse_runs:
        plain = res.methods["compiled"].values
        stable = res.methods["compiled_stable"].values
        bad = np.isfinite(res.reference.values) & np.isfinite(plain) & ~np.isfinite(stable)
        if bad.any():
            offenders[entry.name] = res.X[bad.any(axis=1)].tolist()
    assert not offenders


# --- the benchmark script ------------------------------------------------


def test_bench_accuracy_json_is_deterministic(capsys, monkeypatch):
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_accuracy.py"
    monkeypatch.syspath_prepend(str(path.parent))      # its _tables helper
    spec = importlib.util.spec_from_file_location("bench_accuracy", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--only", "log1p", "--points", "8", "--json", "--no-progress"]
    assert bench.main(argv) == 0
    first = capsys.readouterr().out
    assert bench.main(argv) == 0
    assert capsys.readouterr().out == first
    doc = json.loads(first)
    assert [e["name"] for e in doc["expressions"]] == ["log1p"]
    naive = doc["expressions"][0]["methods"]["compiled"]["f"]
    assert naive["points"] == 8 and naive["mean_bits"] > 20     # log(1 + x), x tiny
    assert doc["summary"]["compiled"]["expressions"] == 1
    agree = doc["targets"]["compiled_agrees_with_interpreter"]["compiled~interpreter"]
    assert agree["met"] is True
